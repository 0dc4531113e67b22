"""Automations: names are not unique (export adds an ordinal). Ids sit in actions and inside
trigger strings (`prefect.deployment.<id>`); ids of automations are set late, by a PUT.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from pfx.ids import UUID, Index
from pfx.jsontypes import JSON, JSONObject
from pfx.kinds.base import Call, Kind, Listing, Shape, delete_by_id
from pfx.model import Record, Ref

KIND_NAME = "automation"
ACTION_LISTS = ("actions", "actions_on_trigger", "actions_on_resolve")
# Fields of AutomationUpdate (the server forbids others); AutomationCreate adds owner_resource.
UPDATE_FIELDS = ("name", "description", "enabled", "tags", "trigger", *ACTION_LISTS)
CREATE_FIELDS = (*UPDATE_FIELDS, "owner_resource")

# Action fields that hold the id of a record pfx moves, by the kind they name.
ACTION_ID_FIELDS = {
    "deployment_id": "deployment",
    "work_pool_id": "work-pool",
    "work_queue_id": "work-queue",
    "automation_id": KIND_NAME,
    "block_document_id": "block-document",
}
# Event resource prefixes of records pfx moves. Others (prefect.flow-run.<id>,
# prefect.task-run.<id>, ...) name runtime objects that no bundle holds: left as they are.
RESOURCE_KINDS = {
    "prefect.flow": "flow",
    "prefect.deployment": "deployment",
    "prefect.work-pool": "work-pool",
    "prefect.work-queue": "work-queue",
    "prefect.automation": KIND_NAME,
    "prefect.block-document": "block-document",
    "prefect.concurrency-limit": "global-concurrency-limit",
    "prefect.variable": "variable",
}
_RESOURCE_ID = re.compile(r"(prefect\.[a-z-]+)\.(" + UUID.pattern + ")")
# Stands in for automation ids at create time: the target may not exist yet (or be the
# automation itself). The server does not check these ids; `late` PUTs the real ones.
PLACEHOLDER = "00000000-0000-0000-0000-000000000000"
_AUTOMATION_ID = re.compile(r"prefect\.automation\.(?:" + UUID.pattern + r"|<automation:[^>]*>)")


def _key(data: JSONObject, _index: Index) -> tuple[str, ...]:
    return (str(data["name"]),)


# --- kept data -----------------------------------------------------------------------------


SET_FIELDS = ("expect", "after", "for_each")


def _keep(data: JSONObject) -> JSONObject:
    kept = dict(data)
    trigger = kept.get("trigger")
    if isinstance(trigger, dict):
        kept["trigger"] = _without_trigger_ids(trigger)
    return kept


def _without_trigger_ids(trigger: JSONObject) -> JSONObject:
    """The trigger without its ids (and its nested triggers' ids): the server makes new ones
    on every create and update, so they differ per server and are never referenced."""
    out: JSONObject = {k: v for k, v in trigger.items() if k != "id"}
    # expect/after/for_each are sets on the server: it lists them in its process's hash
    # order, which differs between servers and restarts. Sorted, they compare and hash stably.
    for name in SET_FIELDS:
        value = out.get(name)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            out[name] = sorted(value)  # type: ignore[type-var]
    nested = out.get("triggers")
    if isinstance(nested, list):
        out["triggers"] = [_without_trigger_ids(t) if isinstance(t, dict) else t for t in nested]
    return out


# --- refs ----------------------------------------------------------------------------------


def _strings(value: JSON, path: str) -> Iterator[tuple[str, str, str]]:
    """(path, field name, string) for every string in `value`, at any depth."""
    if isinstance(value, str):
        yield path, path.rsplit(".", 1)[-1], value
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        for k, item in value.items():
            yield from _strings(item, f"{path}.{k}" if path else k)


def referenced(data: JSONObject) -> Iterator[tuple[str, str, str | None]]:
    """(path, id, kind expected there or None) for every id in the trigger, actions and owner."""
    for field in ("trigger", *ACTION_LISTS, "owner_resource"):
        for path, name, text in _strings(data.get(field), field):
            prefixed = {m.group(2).lower(): m.group(1) for m in _RESOURCE_ID.finditer(text)}
            for match in UUID.finditer(text):
                ident = match.group(0).lower()
                expected = RESOURCE_KINDS.get(prefixed.get(ident, ""))
                if expected is None and field != "trigger":
                    expected = ACTION_ID_FIELDS.get(name)
                yield path, ident, expected


def _refs(data: JSONObject, index: Index) -> list[Ref]:
    refs: list[Ref] = []
    for path, ident, expected in referenced(data):
        found = index.lookup(ident)
        if found is not None:
            kind, key = found
        elif expected is not None:
            # Dangling on the source (a deleted deployment, say): kept as a ref so import
            # reports the automation instead of writing a reference to nothing.
            kind, key = expected, ("<missing>", ident)
        else:
            continue  # a flow run, a task run: not a record of any bundle
        ref = Ref(kind=kind, key=key, id=ident, path=path, late=kind == KIND_NAME)
        if ref not in refs:
            refs.append(ref)
    return refs


# --- writes --------------------------------------------------------------------------------


def _body(data: JSONObject, fields: tuple[str, ...]) -> JSONObject:
    return {k: data[k] for k in fields if k in data and data[k] is not None}


def without_automation_ids(data: JSONObject) -> JSONObject:
    """`data` with every automation reference in actions and trigger set to PLACEHOLDER: ids,
    and the `<automation:...>` tokens that portable() puts in their place (see `_early`)."""
    out = dict(data)
    for field in ACTION_LISTS:
        actions = out.get(field)
        if isinstance(actions, list):
            out[field] = [_blank_action(a) for a in actions]
    trigger = out.get("trigger")
    if trigger is not None:
        out["trigger"] = _blank_strings(trigger)
    return out


def _blank_action(action: JSON) -> JSON:
    # `source: inferred` actions name no automation; `selected` ones hold an id (or token).
    if isinstance(action, dict) and action.get("automation_id") is not None:
        return action | {"automation_id": PLACEHOLDER}
    return action


def _blank_strings(value: JSON) -> JSON:
    if isinstance(value, str):
        return _AUTOMATION_ID.sub(f"prefect.automation.{PLACEHOLDER}", value)
    if isinstance(value, list):
        return [_blank_strings(v) for v in value]
    if isinstance(value, dict):
        return {k: _blank_strings(v) for k, v in value.items()}
    return value


def _create(record: Record, data: JSONObject) -> Call:
    return Call("POST", "/automations/", _body(_early_data(record, data), CREATE_FIELDS))


def _early_data(record: Record, data: JSONObject) -> JSONObject:
    # Only automations with automation refs are patched late; the others go in whole.
    if any(ref.late for ref in record.refs):
        return without_automation_ids(data)
    return data


def _early(data: JSONObject) -> JSONObject:
    """The portable data as `_create` wrote it: automation refs (tokens) as PLACEHOLDER."""
    return without_automation_ids(data)


def _late(record: Record, data: JSONObject, dest_id: str) -> list[Call]:
    return [Call("PUT", f"/automations/{dest_id}", _body(data, UPDATE_FIELDS))]


def _update(record: Record, data: JSONObject, dest: JSONObject) -> list[Call]:
    # A full PUT; ids of automations not yet on the destination are set by `late`.
    return [
        Call("PUT", f"/automations/{dest['id']}", _body(_early_data(record, data), UPDATE_FIELDS))
    ]


def infer_owner(data: JSONObject, deployment_id: str) -> str | None:
    """The owner_resource of an automation that GET /automations/related-to/prefect.deployment.<id>
    returned, or None.

    The server never returns owner_resource. It relates an automation to a deployment when the
    deployment owns it, or when a `run-deployment` action selects it; a relation not explained
    by such an action is ownership. (Owned *and* running its owner cannot be told apart: None.)
    """
    # The server relates only `actions` (not actions_on_trigger/resolve) to the deployments
    # they run (prefect.server.events.models.automations._sync_automation_related_resources).
    for field in ("actions",):
        actions = data.get(field)
        for action in actions if isinstance(actions, list) else []:
            if (
                isinstance(action, dict)
                and action.get("type") == "run-deployment"
                and action.get("source", "selected") == "selected"
                and str(action.get("deployment_id", "")).lower() == deployment_id.lower()
            ):
                return None
    return f"prefect.deployment.{deployment_id}"


KIND = Kind(
    name=KIND_NAME,
    # Names repeat, so name order does not page stably; creation time does.
    listing=Listing(
        "/automations/filter", {"sort": "CREATED_DESC"}, count_path="/automations/count"
    ),
    server_fields=frozenset({"id", "created", "updated"}),
    key=_key,
    create=_create,
    update=_update,
    # key: (name, ordinal); create sends name and trigger.
    shape=Shape(key=2, fields={"name": "str", "trigger": "object"}),
    refs=_refs,
    unique_key=False,
    keep=_keep,
    late=_late,
    early=_early,
    delete=delete_by_id("/automations/"),
)
