"""SLAs (Prefect Cloud only): one record per deployment holding all of its SLAs, keyed by the
deployment's key, because the API sets them per deployment and not one by one.

The only write Prefect documents is POST /slas/apply-resource-slas/prefect.deployment.<id>
(prefect/_experimental/sla/client.py, the Terraform provider's resource_sla): it takes the
deployment's complete list, matches by name, creates and updates, and DELETES every SLA of
the deployment that the list does not name. Creating SLAs one by one would delete their
siblings, so a record is the deployment's whole set. Listing is not documented: pfx reads
POST /slas/filter (an assumption, see README "Prefect Cloud"); an SLA item names its
deployment in `owner_resource` (`prefect.deployment.<id>`).
"""

from __future__ import annotations

from collections import defaultdict

from pfx.ids import Index
from pfx.jsontypes import JSON, JSONObject
from pfx.kinds.base import Call, Kind, Listing, Shape
from pfx.model import Record, Ref

OWNER = "prefect.deployment."
# What an SLA is configured with: the apply payload (SlaTypes of prefect's sla objects and the
# Terraform provider's SLAUpsert; `type` says which, Cloud reads it from the fields present).
SLA_FIELDS = (
    "name", "severity", "enabled", "type",
    "duration", "stale_after", "within", "expected_event", "resource_match",
)  # fmt: skip
# The server's own fields on an SLA item (an automation's, per the Terraform provider).
_SENT = tuple(f for f in SLA_FIELDS if f != "type")


def gather(items: list[JSONObject]) -> list[JSONObject]:
    """One item per owning resource from the listing's SLAs: `{deployment_id, slas}` with each
    SLA's configuration, sorted by name (the order the apply call does not care about)."""
    by_owner: dict[str, list[JSONObject]] = defaultdict(list)
    for item in items:
        owner = item.get("owner_resource")
        by_owner[owner if isinstance(owner, str) else ""].append(item)
    gathered: list[JSONObject] = []
    for owner, slas in sorted(by_owner.items()):
        kept: list[JSON] = [
            {k: sla[k] for k in SLA_FIELDS if sla.get(k) is not None}
            for sla in sorted(slas, key=lambda s: str(s.get("name")))
        ]
        group: JSONObject = {"owner_resource": owner, "slas": kept}
        if owner.startswith(OWNER):
            group["deployment_id"] = owner.removeprefix(OWNER)
        gathered.append(group)
    return gathered


def _deployment(data: JSONObject, index: Index) -> tuple[str, ...]:
    found = index.lookup(data.get("deployment_id"))
    if found is None or found[0] != "deployment":
        raise KeyError(f"SLAs of {data.get('owner_resource')!r}: not a deployment of the server")
    return found[1]


def _refs(data: JSONObject, index: Index) -> list[Ref]:
    return [
        Ref(
            kind="deployment",
            key=_deployment(data, index),
            id=str(data["deployment_id"]),
            path="deployment_id",
        )
    ]


def _apply(data: JSONObject) -> Call:
    owner = f"{OWNER}{data['deployment_id']}"
    slas = data.get("slas")
    body: list[JSON] = [
        {k: sla[k] for k in _SENT if k in sla} | {"owner_resource": owner}
        for sla in (slas if isinstance(slas, list) else [])
        if isinstance(sla, dict)
    ]
    return Call("POST", f"/slas/apply-resource-slas/{owner}", body)


def _delete(item: JSONObject) -> list[Call]:
    # An empty list: the apply deletes every SLA of the deployment it does not name.
    return [_apply({"deployment_id": item["deployment_id"], "slas": []})]


def _create(record: Record, data: JSONObject) -> Call:
    return _apply(data)


def _update(record: Record, data: JSONObject, dest: JSONObject) -> list[Call]:
    # The same call: it makes the deployment's SLAs the bundle's (and deletes the others).
    return [_apply(data)]


KIND = Kind(
    name="sla",
    listing=Listing("/slas/filter", paged=False),
    server_fields=frozenset({"owner_resource"}),
    key=_deployment,
    create=_create,
    update=_update,
    shape=Shape(key=2, fields={"deployment_id": "str", "slas": "array"}),
    refs=_refs,
    gather=gather,
    # The one documented SLA endpoint; self-hosted servers do not have it.
    endpoint="/slas/apply-resource-slas/{resource_id}",
    since="0.2",
    delete=_delete,
    had_by=lambda _release, cloud: cloud is True,
)
