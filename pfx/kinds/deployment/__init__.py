"""Deployments: keyed by (flow name, deployment name), with their schedules and own concurrency
limit. Create is one POST; what that POST cannot set is set by `late` once the id is known.
Its parts live beside it: refs.py (what it refers to), limit.py, schedules.py.
"""

from __future__ import annotations

from pfx.ids import Index
from pfx.jsontypes import JSON, JSONObject
from pfx.kinds.base import Call, Destination, Kind, Listing, Shape, delete_by_id, field_losses
from pfx.kinds.deployment.limit import (
    OWN_LIMIT_FIELDS,
    limit_calls,
    linked_limit,
    own_limit,
    own_limit_settings,
    own_limit_value,
    own_needs_patch,
)
from pfx.kinds.deployment.refs import refs_of
from pfx.kinds.deployment.schedules import (
    canonical_schedules,
    differing_schedules,
    needs_schedule_call,
    same_schedules,
    schedule_bodies,
)
from pfx.model import Loss, Record
from pfx.sameness import differing_fields

# Ids and timestamps; server state, not configuration (readiness, worker polling, who wrote
# it last); and work_queue_id, derived from work_pool_name + work_queue_name (kept).
SERVER_FIELDS = frozenset(
    {
        "id",
        "created",
        "updated",
        "status",
        "last_polled",
        "created_by",
        "updated_by",
        "work_queue_id",
        # Prefect Cloud: the id of the live version, server-made (its history is named in
        # the manifest's skipped list, pfx.cloud), and a branch's base and root deployments.
        "version_id",
        "base",
        "root",
    }
)
# A schedule's identity and bookkeeping on one server; everything else is kept.

# Fields DeploymentCreate and DeploymentUpdate accept as they are (both forbid extra fields).
_CREATE_FIELDS = (
    "name", "flow_id", "paused", "description", "version", "path", "entrypoint", "tags",
    "labels", "parameters", "parameter_openapi_schema", "enforce_parameter_schema",
    "job_variables", "pull_steps", "work_pool_name", "work_queue_name", "storage_document_id",
    "infrastructure_document_id", "concurrency_options",
    # 2.x only: sent so that the destination's schema names it when it holds a value.
    "manifest_path",
    # Prefect Cloud's, sent when present (named losses elsewhere, see _losses).
    "version_info", "branch",
)  # fmt: skip
_CLOUD_FIELDS = ("version_info", "branch")
# DeploymentUpdate has no name, flow_id or labels (labels change only through the upsert).
_UPDATE_FIELDS = tuple(
    f
    for f in _CREATE_FIELDS
    if f not in ("name", "flow_id", "labels", "manifest_path", *_CLOUD_FIELDS)
)
# How the create body sets the own or linked limit (the update sets them by limit_calls).
_LIMIT_FIELDS = ("concurrency_limit", "global_concurrency_limit_id")
# 2.x schedule settings that 3.x lacks, and their unset values (dropped from kept data when
# unset, so a 2.x record compares equal to its 3.x copy).
_V2_SCHEDULE_UNSET: JSONObject = {"max_active_runs": None, "catchup": False}

# Parameter schemas that say "no parameters": the server stores {} when none is sent, turns a
# sent {} into the object form, and a PATCH with null into null. All are kept as {}.
_EMPTY_SCHEMA: JSONObject = {"type": "object", "properties": {}}


def _key(data: JSONObject, index: Index) -> tuple[str, ...]:
    # The server's deployment JSON names its flow by id only; flows are keyed before.
    found = index.lookup(data.get("flow_id"))
    if found is None or found[0] != "flow":
        raise KeyError(f"flow {data.get('flow_id')} of deployment {data.get('name')!r}")
    return (found[1][0], str(data["name"]))


# --- kept data -----------------------------------------------------------------------------


def _keep(data: JSONObject) -> JSONObject:
    kept = _from_v2(dict(data))
    # Always null since 3.1 (the own limit is reported in global_concurrency_limit instead);
    # older servers report the own limit here, and then it is kept.
    if kept.get("concurrency_limit") is None:
        kept.pop("concurrency_limit", None)
    if _no_schema(kept.get("parameter_openapi_schema")):
        kept["parameter_openapi_schema"] = {}
    own, linked = own_limit(data), linked_limit(data)
    if own is not None:
        # The own limit's id is per server; its name holds the deployment's id, which
        # portable() turns into the deployment's natural key.
        kept["global_concurrency_limit"] = {k: own[k] for k in OWN_LIMIT_FIELDS if k in own}
    elif linked is not None:
        # The linked limit's settings belong to its own record; only the reference is kept.
        kept["global_concurrency_limit"] = {"id": linked.get("id"), "name": linked.get("name")}
    schedules = kept.get("schedules")
    if isinstance(schedules, list):
        kept["schedules"] = canonical_schedules(schedules)
    return kept


def _from_v2(kept: JSONObject) -> JSONObject:
    """2.x names translated to 3.x's, same meaning; a 3.x deployment passes unchanged.

    2.x calls job variables `infra_overrides`; `is_schedule_active` is `not paused` (2.20
    derives it so) and the legacy `schedule` is the first of `schedules` (both read-only
    mirrors there); `manifest_path` has no 3.x equivalent and is kept only when set, so that
    the destination's schema names it.
    """
    overrides = kept.pop("infra_overrides", None)
    if overrides and not kept.get("job_variables"):
        kept["job_variables"] = overrides
    active = kept.pop("is_schedule_active", None)
    if active is False:
        kept["paused"] = True
    legacy = kept.pop("schedule", None)
    if isinstance(legacy, dict) and not kept.get("schedules"):
        kept["schedules"] = [{"schedule": legacy, "active": True}]
    if kept.get("manifest_path") is None:
        kept.pop("manifest_path", None)
    schedules = kept.get("schedules")
    if isinstance(schedules, list):
        kept["schedules"] = [
            {k: v for k, v in s.items() if _V2_SCHEDULE_UNSET.get(k, ...) != v}
            if isinstance(s, dict)
            else s
            for s in schedules
        ]
    return kept


def _no_schema(value: JSON) -> bool:
    return value is None or value == {} or value == _EMPTY_SCHEMA


# --- writes --------------------------------------------------------------------------------


def _create(record: Record, data: JSONObject) -> Call:
    body: JSONObject = {k: data[k] for k in _CREATE_FIELDS if k in data}
    if _no_schema(body.get("parameter_openapi_schema")):
        body.pop("parameter_openapi_schema", None)
    body["schedules"] = [] if needs_schedule_call(data) else schedule_bodies(data)
    value = own_limit_value(data)
    if value is not None:
        # DeploymentCreate wants a positive limit; `late` sets a limit of 0 afterwards.
        body["concurrency_limit"] = max(value, 1)
    linked = linked_limit(data)
    if linked is not None:
        body["global_concurrency_limit_id"] = linked.get("id")
    return Call("POST", "/deployments/", body)


def _early(data: JSONObject) -> JSONObject:
    """The data as `_create` leaves the deployment before `_late` runs."""
    early = dict(data)
    if needs_schedule_call(data):
        early["schedules"] = []
    own = own_limit(data)
    if own is not None and own_needs_patch(data):
        limit = own.get("limit")
        created = {"limit": max(limit, 1) if isinstance(limit, int) else limit, "active": True}
        early["global_concurrency_limit"] = own | created | {"slot_decay_per_second": 0.0}
    return early


def _late(record: Record, data: JSONObject, dest_id: str) -> list[Call]:
    calls: list[Call] = []
    if needs_schedule_call(data):
        calls.append(Call("POST", f"/deployments/{dest_id}/schedules", schedule_bodies(data)))
    calls.extend(own_limit_settings(data, dest_id))
    return calls


def _update(record: Record, data: JSONObject, dest: JSONObject) -> list[Call]:
    dest_id = str(dest["id"])
    calls: list[Call] = []
    wiped = False
    if data.get("labels") != dest.get("labels"):
        # Labels change only through the upsert, which replaces the schedules (and deletes
        # scheduled runs, as `prefect deploy` does). It carries the bundle's whole
        # configuration and schedules, so no later failure can leave the deployment without
        # them; the limit is set below, relative to what the destination had.
        upsert = _create(record, data).body
        assert isinstance(upsert, dict)
        upsert = {k: v for k, v in upsert.items() if k not in _LIMIT_FIELDS}
        calls.append(Call("POST", "/deployments/", upsert | {"flow_id": dest["flow_id"]}))
        wiped = not needs_schedule_call(data)
    fields: JSONObject = {k: data.get(k) for k in _UPDATE_FIELDS}
    # Never null: a source without them (self-hosted) says nothing about Cloud's.
    fields |= {k: data[k] for k in _CLOUD_FIELDS if data.get(k) is not None}
    if _no_schema(fields["parameter_openapi_schema"]):
        # No PATCH value gives back {}; leave an empty schema be, replace another by the
        # object form (kept as {} too). A null schema must go: with enforcement on, the
        # server refuses every PATCH (409) while the stored schema is null.
        present = dest.get("parameter_openapi_schema")
        if isinstance(present, dict) and _no_schema(present):
            del fields["parameter_openapi_schema"]
        else:
            fields["parameter_openapi_schema"] = _EMPTY_SCHEMA
    calls.append(Call("PATCH", f"/deployments/{dest_id}", fields))
    calls.extend(limit_calls(data, dest, dest_id))
    # When `late` writes the schedules (max_scheduled_runs), it adds them: clear them here.
    by_late = needs_schedule_call(data)
    wanted = schedule_bodies(data)
    if wiped:
        return calls
    if by_late or not same_schedules(wanted, schedule_bodies(dest)):
        if data.get("labels") == dest.get("labels"):
            present = dest.get("schedules")
            for schedule in present if isinstance(present, list) else []:
                if isinstance(schedule, dict):
                    sid = schedule["id"]
                    calls.append(Call("DELETE", f"/deployments/{dest_id}/schedules/{sid}"))
        if wanted and not by_late:
            calls.append(Call("POST", f"/deployments/{dest_id}/schedules", schedule_bodies(data)))
    return calls


def _compare(ours: JSONObject, theirs: JSONObject) -> list[str]:
    rest = differing_fields({k: v for k, v in ours.items() if k != "schedules"}, theirs)
    return sorted([*rest, "schedules"]) if differing_schedules(ours, theirs) else rest


def _losses(record: Record, dest: Destination) -> list[Loss]:
    # Self-hosted 3.x servers accept version_info and discard it (server/models/deployments.py
    # excludes it), and have no branches: only Prefect Cloud holds them.
    if dest.cloud:
        return []
    where = dest.accepts.server if dest.accepts else "the destination"
    why = (
        f"only Prefect Cloud keeps it; {where} is not Cloud (self-hosted releases refuse it "
        "or accept and discard it)"
    )
    return field_losses(record, _CLOUD_FIELDS, why)


KIND = Kind(
    name="deployment",
    # Names repeat across flows, so name order is not a stable paging order; creation time is.
    listing=Listing(
        "/deployments/filter", {"sort": "CREATED_DESC"}, count_path="/deployments/count"
    ),
    server_fields=SERVER_FIELDS,
    key=_key,
    create=_create,
    update=_update,
    # key: (flow name, name); create sends name and flow_id.
    shape=Shape(
        key=2,
        fields={
            "name": "str",
            "flow_id": "str",
            "concurrency_limit": "int?",
            "global_concurrency_limit": "object?",
            "global_concurrency_limit.limit": "int?",
        },
    ),
    refs=refs_of,
    keep=_keep,
    late=_late,
    early=_early,
    compare=_compare,
    losses=_losses,
    # The server deletes its scheduled runs and its own concurrency limit with it.
    delete=delete_by_id("/deployments/"),
)
