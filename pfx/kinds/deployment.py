"""Deployments: keyed by (flow name, deployment name), with their schedules and own concurrency
limit. Create is one POST; what that POST cannot set is set by `late` once the id is known.
"""

from __future__ import annotations

import re

from pfx.ids import Index, find_ids
from pfx.jsontypes import JSON, JSONObject
from pfx.kinds.base import Call, Destination, Kind, Listing, Shape, field_losses
from pfx.kinds.concurrency_limit import DEPLOYMENT_PREFIX
from pfx.kinds.schedules import canonical_schedules, differing_schedules, same_schedules
from pfx.model import Record, Ref
from pfx.report import Loss
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
# What a deployment's own (server-made) limit is configured with.
OWN_LIMIT_FIELDS = ("name", "limit", "active", "slot_decay_per_second")

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
# How the create body sets the own or linked limit (the update sets them by _limit_calls).
_LIMIT_FIELDS = ("concurrency_limit", "global_concurrency_limit_id")
# Fields that DeploymentScheduleCreate accepts, and 2.x's (the destination's schema names them
# as losses when they hold a value: 3.x has no per-schedule catchup or max_active_runs).
_SCHEDULE_FIELDS = (
    "schedule", "active", "max_scheduled_runs", "parameters", "slug", "max_active_runs", "catchup"
)  # fmt: skip
# 2.x schedule settings that 3.x lacks, and their unset values (dropped from kept data when
# unset, so a 2.x record compares equal to its 3.x copy).
_V2_SCHEDULE_UNSET: JSONObject = {"max_active_runs": None, "catchup": False}

# Parameter schemas that say "no parameters": the server stores {} when none is sent, turns a
# sent {} into the object form, and a PATCH with null into null. All are kept as {}.
_EMPTY_SCHEMA: JSONObject = {"type": "object", "properties": {}}

# Prefect's own placeholder pattern (prefect.utilities.templating.PLACEHOLDER_CAPTURE_REGEX).
_PLACEHOLDER = re.compile(r"{{\s*([\w\.\-\[\]$]+)\s*}}")
# Where Prefect resolves `{{ prefect.blocks.* }}` and `{{ prefect.variables.* }}` templates.
_TEMPLATED = ("job_variables", "pull_steps", "parameters", "schedules")
# Where ids of other records may sit in infrastructure settings (e.g. block document ids).
_ID_BEARING = ("job_variables", "pull_steps")


def _key(data: JSONObject, index: Index) -> tuple[str, ...]:
    # The server's deployment JSON names its flow by id only; flows are keyed before.
    found = index.lookup(data.get("flow_id"))
    if found is None or found[0] != "flow":
        raise KeyError(f"flow {data.get('flow_id')} of deployment {data.get('name')!r}")
    return (found[1][0], str(data["name"]))


# --- kept data -----------------------------------------------------------------------------


def own_limit(data: JSONObject) -> JSONObject | None:
    """The deployment's own concurrency limit (`deployment:<id>`), or None."""
    gcl = data.get("global_concurrency_limit")
    if isinstance(gcl, dict) and str(gcl.get("name", "")).startswith(DEPLOYMENT_PREFIX):
        return gcl
    return None


def linked_limit(data: JSONObject) -> JSONObject | None:
    """The named global concurrency limit the deployment is linked to, or None."""
    gcl = data.get("global_concurrency_limit")
    if isinstance(gcl, dict) and own_limit(data) is None:
        return gcl
    return None


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


# --- refs ----------------------------------------------------------------------------------


def _refs(data: JSONObject, index: Index) -> list[Ref]:
    refs: list[Ref] = []
    refs.append(_id_ref(index, "flow", data.get("flow_id"), "flow_id"))
    pool = data.get("work_pool_name")
    if isinstance(pool, str):
        # Create answers 404 without the pool, so this ref is hard.
        refs.append(Ref(kind="work-pool", key=(pool,), path="work_pool_name"))
        queue = data.get("work_queue_name")
        if isinstance(queue, str):
            # Soft: the server creates a missing queue for the deployment; when the queue is in
            # the bundle it must come first so its settings are not the server's defaults.
            refs.append(
                Ref(kind="work-queue", key=(pool, queue), path="work_queue_name", soft=True)
            )
    for field in ("storage_document_id", "infrastructure_document_id"):
        if data.get(field) is not None:
            refs.append(_id_ref(index, "block-document", data.get(field), field))
    linked = linked_limit(data)
    if linked is not None:
        refs.append(
            _id_ref(index, "global-concurrency-limit", linked.get("id"), "global_concurrency_limit")
        )
    for field in _TEMPLATED:
        refs.extend(template_refs(data.get(field), index, field))
    for field in _ID_BEARING:
        for id_ in find_ids(data.get(field)):
            found = index.lookup(id_)
            if found is not None:
                refs.append(Ref(kind=found[0], key=found[1], id=id_, path=field))
    refs.extend(_self_refs(data, index))
    return _unique(refs)


def _self_refs(data: JSONObject, index: Index) -> list[Ref]:
    """Late refs to the deployment itself, for what only exists once it has an id.

    Schedules with max_scheduled_runs are posted to /deployments/<id>/schedules, and the own
    limit is named `deployment:<id>`; the ref makes import call `late` after the create.
    """
    found = index.lookup(data.get("id"))
    if found is None:
        return []
    ident = str(data["id"])
    refs: list[Ref] = []
    if _needs_schedule_call(data):
        refs.append(Ref(kind=found[0], key=found[1], id=ident, path="schedules", late=True))
    if _own_needs_patch(data):
        path = "global_concurrency_limit"
        refs.append(Ref(kind=found[0], key=found[1], id=ident, path=path, late=True))
    return refs


def _id_ref(index: Index, kind: str, id_: JSON, path: str) -> Ref:
    """A ref to the record with this id; an id the source does not know stays a (blocking) ref."""
    text = str(id_)
    found = index.lookup(text)
    if found is None:
        return Ref(kind=kind, key=("<missing>", text), id=text, path=path)
    return Ref(kind=found[0], key=found[1], id=text, path=path)


def template_refs(value: JSON, index: Index, path: str) -> list[Ref]:
    """Ordering refs for `{{ prefect.blocks.<slug>.<name> }}` and `{{ prefect.variables.<name> }}`.

    Templates name their target, so the refs carry no id; a target that is not in the index is
    a soft ref (Prefect resolves templates at run time; the deployment itself can be created).
    """
    refs: list[Ref] = []
    for name in _placeholders(value):
        target: tuple[str, tuple[str, ...]] | None = None
        if name.startswith("prefect.blocks."):
            parts = name.removeprefix("prefect.blocks.").split(".", 2)
            if len(parts) >= 2:
                target = ("block-document", (parts[0], parts[1]))
        elif name.startswith("prefect.variables."):
            target = ("variable", (name.removeprefix("prefect.variables."),))
        if target is not None:
            kind, key = target
            refs.append(Ref(kind=kind, key=key, path=path, soft=not index.has(kind, key)))
    return refs


def _placeholders(value: JSON) -> list[str]:
    if isinstance(value, str):
        return _PLACEHOLDER.findall(value)
    if isinstance(value, list):
        return [p for item in value for p in _placeholders(item)]
    if isinstance(value, dict):
        return [p for item in value.values() for p in _placeholders(item)]
    return []


def _unique(refs: list[Ref]) -> list[Ref]:
    seen: set[tuple[str, tuple[str, ...], str | None, str]] = set()
    out: list[Ref] = []
    for ref in refs:
        mark = (ref.kind, ref.key, ref.id, ref.path)
        if mark not in seen:
            seen.add(mark)
            out.append(ref)
    return out


# --- writes --------------------------------------------------------------------------------


def _schedules(data: JSONObject) -> list[JSON]:
    raw = data.get("schedules")
    if not isinstance(raw, list):
        return []
    return [{k: s[k] for k in _SCHEDULE_FIELDS if k in s} for s in raw if isinstance(s, dict)]


def _needs_schedule_call(data: JSONObject) -> bool:
    # POST /deployments/ and PATCH /deployments/{id} rebuild schedules without
    # max_scheduled_runs; only POST /deployments/{id}/schedules keeps it.
    return any(isinstance(s, dict) and s.get("max_scheduled_runs") for s in _schedules(data))


def _own_limit_value(data: JSONObject) -> int | None:
    own = own_limit(data)
    if own is not None:
        value = own.get("limit")
    else:
        value = data.get("concurrency_limit") if linked_limit(data) is None else None
    return value if isinstance(value, int) else None


def _own_needs_patch(data: JSONObject) -> bool:
    """Whether the own limit differs from what `concurrency_limit: n` creates (active, no decay)."""
    own = own_limit(data)
    if own is None:
        return False
    return (
        own.get("limit") == 0
        or own.get("active") is False
        or bool(own.get("slot_decay_per_second"))
    )


def _create(record: Record, data: JSONObject) -> Call:
    body: JSONObject = {k: data[k] for k in _CREATE_FIELDS if k in data}
    if _no_schema(body.get("parameter_openapi_schema")):
        body.pop("parameter_openapi_schema", None)
    body["schedules"] = [] if _needs_schedule_call(data) else _schedules(data)
    value = _own_limit_value(data)
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
    if _needs_schedule_call(data):
        early["schedules"] = []
    own = own_limit(data)
    if own is not None and _own_needs_patch(data):
        limit = own.get("limit")
        created = {"limit": max(limit, 1) if isinstance(limit, int) else limit, "active": True}
        early["global_concurrency_limit"] = own | created | {"slot_decay_per_second": 0.0}
    return early


def _late(record: Record, data: JSONObject, dest_id: str) -> list[Call]:
    calls: list[Call] = []
    if _needs_schedule_call(data):
        calls.append(Call("POST", f"/deployments/{dest_id}/schedules", _schedules(data)))
    calls.extend(_own_limit_settings(data, dest_id))
    return calls


def _own_limit_settings(data: JSONObject, dest_id: str) -> list[Call]:
    own = own_limit(data)
    if own is None or not _own_needs_patch(data):
        return []
    return [Call("PATCH", f"/v2/concurrency_limits/{DEPLOYMENT_PREFIX}{dest_id}", _settings(own))]


def _settings(own: JSONObject) -> JSONObject:
    return {k: own[k] for k in ("limit", "active", "slot_decay_per_second") if k in own}


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
        wiped = not _needs_schedule_call(data)
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
    calls.extend(_limit_calls(data, dest, dest_id))
    # When `late` writes the schedules (max_scheduled_runs), it adds them: clear them here.
    by_late = _needs_schedule_call(data)
    wanted = _schedules(data)
    if wiped:
        return calls
    if by_late or not same_schedules(wanted, _schedules(dest)):
        if data.get("labels") == dest.get("labels"):
            present = dest.get("schedules")
            for schedule in present if isinstance(present, list) else []:
                if isinstance(schedule, dict):
                    sid = schedule["id"]
                    calls.append(Call("DELETE", f"/deployments/{dest_id}/schedules/{sid}"))
        if wanted and not by_late:
            calls.append(Call("POST", f"/deployments/{dest_id}/schedules", _schedules(data)))
    return calls


def _limit_calls(data: JSONObject, dest: JSONObject, dest_id: str) -> list[Call]:
    """Calls that move the destination from its limit to the record's, one change per PATCH.

    `concurrency_limit: null` deletes whatever limit the deployment points at, a linked named
    limit included, so a linked limit is unlinked first and never sent a null.
    """
    path = f"/deployments/{dest_id}"
    calls: list[Call] = []
    value, linked = _own_limit_value(data), linked_limit(data)
    dest_own, dest_linked = own_limit(dest), linked_limit(dest)
    linked_id = linked.get("id") if linked is not None else None
    if dest_linked is not None and dest_linked.get("id") != linked_id:
        calls.append(Call("PATCH", path, {"global_concurrency_limit_id": None}))
    if dest_own is not None and value is None:
        calls.append(Call("PATCH", path, {"concurrency_limit": None}))
    if value is not None:
        if dest_own is None or dest_own.get("limit") != value:
            calls.append(Call("PATCH", path, {"concurrency_limit": max(value, 1)}))
        # The own limit as the PATCH above leaves it: a new one starts active without decay.
        after: JSONObject = {"active": True, "slot_decay_per_second": 0.0}
        after = (dest_own or after) | {"limit": max(value, 1)}
        body = _settings(own_limit(data) or {})
        if any(after.get(k) != v for k, v in body.items()):
            calls.append(
                Call("PATCH", f"/v2/concurrency_limits/{DEPLOYMENT_PREFIX}{dest_id}", body)
            )
    if linked_id is not None and (dest_linked is None or dest_linked.get("id") != linked_id):
        calls.append(Call("PATCH", path, {"global_concurrency_limit_id": linked_id}))
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
    shape=Shape(key=2, fields={"name": "str", "flow_id": "str"}),
    refs=_refs,
    keep=_keep,
    late=_late,
    early=_early,
    compare=_compare,
    losses=_losses,
)
