"""A deployment's references: ids it holds (flow, pool, queue, blocks, limit) and the
`{{ prefect.blocks.* }}` / `{{ prefect.variables.* }}` templates it names (pure)."""

from __future__ import annotations

import re

from pfx.ids import Index, find_ids
from pfx.jsontypes import JSON, JSONObject
from pfx.kinds.deployment.limit import linked_limit, own_needs_patch
from pfx.kinds.deployment.schedules import needs_schedule_call
from pfx.model import Ref

# Prefect's own placeholder pattern (prefect.utilities.templating.PLACEHOLDER_CAPTURE_REGEX).
_PLACEHOLDER = re.compile(r"{{\s*([\w\.\-\[\]$]+)\s*}}")
# Where Prefect resolves `{{ prefect.blocks.* }}` and `{{ prefect.variables.* }}` templates.
_TEMPLATED = ("job_variables", "pull_steps", "parameters", "schedules")
# Where ids of other records may sit in infrastructure settings (e.g. block document ids).
_ID_BEARING = ("job_variables", "pull_steps")


def refs_of(data: JSONObject, index: Index) -> list[Ref]:
    """Every record a deployment refers to, and its late refs to itself."""
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
    if needs_schedule_call(data):
        refs.append(Ref(kind=found[0], key=found[1], id=ident, path="schedules", late=True))
    if own_needs_patch(data):
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
