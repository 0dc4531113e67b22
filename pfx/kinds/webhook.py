"""Webhooks (Prefect Cloud only): keyed by name. A webhook turns HTTP requests to a URL Cloud
assigns into events; the template is the configuration, the URL (`slug`) is the server's.

Endpoints, from `prefect cloud webhook` (prefect/cli/cloud/webhook.py) and PrefectHQ's
Terraform provider: POST /webhooks/filter lists all (no paging), POST /webhooks/ creates
{name, description, enabled, template, service_account_id}, PUT /webhooks/{id} replaces them.
"""

from __future__ import annotations

from pfx.ids import Index
from pfx.jsontypes import JSONObject
from pfx.kinds.base import Call, Destination, Kind, Listing, Shape, delete_by_id, field_losses
from pfx.model import Loss, Record

# The fields create and update send (the Terraform provider's WebhookCore, less the account's).
_FIELDS = ("name", "description", "enabled", "template")
# Names an object of the source's Prefect Cloud account, not of its workspace: another account
# has no such service account, so it is never sent (a named loss).
ACCOUNT_BOUND = ("service_account_id",)


def _key(data: JSONObject, _index: Index) -> tuple[str, ...]:
    return (str(data["name"]),)


def _body(data: JSONObject) -> JSONObject:
    return {k: data[k] for k in _FIELDS if k in data}


def _create(record: Record, data: JSONObject) -> Call:
    return Call("POST", "/webhooks/", _body(data))


def _update(record: Record, data: JSONObject, dest: JSONObject) -> list[Call]:
    # PUT replaces every field (the CLI's `webhook update` sends them all).
    return [Call("PUT", f"/webhooks/{dest['id']}", _body(data))]


def _losses(record: Record, _dest: Destination) -> list[Loss]:
    return field_losses(
        record,
        ACCOUNT_BOUND,
        "names a service account of the source's Prefect Cloud account (users, teams and "
        "service accounts are the account's, not the workspace's); not sent: set it again on "
        "the destination",
    )


def _caveat(record: Record, _dest: Destination) -> str | None:
    return (
        "the destination gives this webhook a new URL: point the systems that call it at "
        "the new one (`prefect cloud webhook ls`)"
    )


KIND = Kind(
    name="webhook",
    # The CLI's `webhook ls` posts no body and gets every webhook: not paged.
    listing=Listing("/webhooks/filter", paged=False),
    # account/workspace: where it lives; slug: the URL Cloud assigned (cannot be set).
    server_fields=frozenset({"id", "created", "updated", "account", "workspace", "slug"}),
    key=_key,
    create=_create,
    update=_update,
    # create sends the name; the template is a string or an object (the CLI and Terraform differ).
    shape=Shape(key=1, fields={"name": "str"}),
    caveat=_caveat,
    # Prefect Cloud has it, self-hosted servers do not (plan: `unsupported` there).
    endpoint="/webhooks/",
    since="0.2",
    losses=_losses,
    # `prefect cloud webhook delete` (prefect/cli/cloud/webhook.py).
    delete=delete_by_id("/webhooks/"),
    had_by=lambda _release, cloud: cloud is True,
)
