"""Deployments as a prefect.yaml that `prefect deploy` reads, pure: one entry per deployment,
shared work pools and pull steps written once with YAML anchors, and every field left out.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable

from pfx.jsontypes import JSON, JSONObject
from pfx.kinds.concurrency_limit import DEPLOYMENT_PREFIX
from pfx.model import Record
from pfx.render.model import Names, Omission, RenderCheckError, Rendering
from pfx.render.templates import templated, templated_paths, untemplated
from pfx.render.yamltext import anchor_name, checked_yaml, comment_ids, dump, header, sorted_json

PREFECT_YAML = "prefect.yaml"
# Fields of a deployment this render knows; anything else a server sends is listed as omitted.
KNOWN = frozenset(
    {
        "name", "flow_id", "description", "version", "tags", "entrypoint", "parameters",
        "work_pool_name", "work_queue_name", "job_variables", "schedules", "paused",
        "concurrency_options", "concurrency_limit", "global_concurrency_limit",
        "enforce_parameter_schema", "pull_steps", "labels", "path", "parameter_openapi_schema",
        "storage_document_id", "infrastructure_document_id",
    }
)  # fmt: skip
# Labels the server sets itself on every deployment.
SERVER_LABELS = frozenset({"prefect.flow.id"})
# Records one omission of the record being rendered: (field, reason).
Omit = Callable[[str, str], None]
RESOLVED = (
    "`prefect deploy` resolves {{ ... }} templates here when it deploys, so the server holds "
    "the values (a secret block's value in clear), not the template"
)
# Fields whose {{ ... }} templates `prefect deploy` would resolve when it deploys (see
# templates.py): a secret block's value or an environment variable would land in the
# deployment, in clear. prefect.yaml leaves the templated keys out; `prefect-setup.sh
# deployments` sets the fields whole, as the server holds them, after deploying.
LATE = ("job_variables", "parameters", "description", "version", "tags")
# Fields without which `prefect deploy` cannot make the deployment it should.
IDENTITY = ("name", "entrypoint", "work_pool_name", "work_queue_name")
TEMPLATED = (
    "holds {{ ... }}, which `prefect deploy` would resolve (Prefect has no escape): not rendered"
)


def render_deployments(
    records: list[Record], names: Names, triggers: dict[str, list[JSONObject]], source: str
) -> Rendering:
    """prefect.yaml for the deployment records (with their triggers, by deployment id)."""
    out = Rendering()
    entries: list[JSONObject] = []
    n_triggers = 0
    for record in records:
        if record.kind != "deployment":
            continue
        entry = deployment_entry(record, out.omissions)
        if entry is None:
            continue
        own = triggers.get((record.id or "").lower(), [])
        if own:
            entry["triggers"] = list[JSON](own)
            n_triggers += len(own)
        if templated_paths({k: v for k, v in entry.items() if k != "pull"}):
            raise RenderCheckError(f"{record.label}: a template reached prefect.yaml")
        entries.append(entry)
    anchors = share(entries)
    document: JSONObject = {}
    if anchors:
        document["definitions"] = _definitions(anchors)
    document["deployments"] = list[JSON](entries)
    lines = [
        f"prefect.yaml rendered by pfx from {source}.",
        "Deploy with `prefect deploy --all` from this directory, once the work pools exist",
        "(see prefect-setup.sh). Fields this file cannot hold are listed by `pfx render`.",
    ]
    text = header(lines) + dump(document, {name: value for name, value in anchors})
    out.files[PREFECT_YAML] = checked_yaml(comment_ids(text, names.labels), document)
    out.counts = {"deployments": len(entries), "triggers": n_triggers}
    return out


def deployment_entry(record: Record, omissions: list[Omission]) -> JSONObject | None:
    """One `deployments:` entry of prefect.yaml, or None (with the reason) when prefect deploy
    cannot create the deployment at all. Appends what the entry leaves out to `omissions`."""
    data = record.data

    def omit(name: str, reason: str) -> None:
        omissions.append(Omission(record.kind, record.key, name, reason))

    pool = data.get("work_pool_name")
    if not isinstance(pool, str):
        omit(
            "*",
            "no work pool: `prefect deploy` requires one (deployments served by "
            "`flow.serve()` are made by the process that serves them)",
        )
        return None
    held = [name for name in IDENTITY if templated(data.get(name))]
    if held:
        omit("*", f"{', '.join(held)} {TEMPLATED}")
        return None
    entry: JSONObject = {"name": data.get("name")}
    if data.get("description") is None:
        omit(
            "description",
            "null: `prefect deploy` fills in the flow's docstring ('None' when it has none)",
        )
    elif not templated(data["description"]):
        entry["description"] = data["description"]
    if data.get("version") is None:
        omit("version", "null: `prefect deploy` uses the flow's version (its source file hash)")
    elif not templated(data["version"]):
        entry["version"] = data["version"]
    entry["tags"] = untemplated(_copy(data.get("tags") or []))
    entry["entrypoint"] = data.get("entrypoint")
    # Run-time templates are left out here and set after deploying (see LATE).
    entry["parameters"] = untemplated(sorted_json(data.get("parameters") or {}))
    work_pool: JSONObject = {"name": pool}
    if data.get("work_queue_name") is not None:
        work_pool["work_queue_name"] = data["work_queue_name"]
    work_pool["job_variables"] = untemplated(sorted_json(data.get("job_variables") or {}))
    entry["work_pool"] = work_pool
    entry["schedules"] = [_schedule(s, omit) for s in _list(data.get("schedules"))]
    limit = _concurrency(data, omit)
    if limit is not None:
        entry["concurrency_limit"] = limit
    entry["enforce_parameter_schema"] = bool(data.get("enforce_parameter_schema"))
    entry["paused"] = bool(data.get("paused"))
    _omit_unrenderable(data, omit)
    # The last word: whatever a template reached (a schedule's cron, a limit's strategy) is
    # not rendered, rather than resolved by `prefect deploy`.
    left = templated_paths(entry)
    if left:
        omit("*", f"{', '.join(left)} {TEMPLATED}")
        return None
    # Pull steps run on the worker, which resolves their templates: `prefect deploy` reads
    # them before it resolves anything. An explicit `pull: []` means "no pull steps"; an
    # absent one makes prefect deploy add one.
    entry["pull"] = _copy(sorted_json(data.get("pull_steps") or []))
    return entry


def _omit_unrenderable(data: JSONObject, omit: Omit) -> None:
    labels = data.get("labels")
    extra = sorted(set(labels) - SERVER_LABELS) if isinstance(labels, dict) else []
    if extra:
        omit("labels", "prefect.yaml has no labels")
    if data.get("path") is not None:
        omit("path", "`prefect deploy` stores no path for deployments with pull steps")
    if "parameter_openapi_schema" in data:
        omit(
            "parameter_openapi_schema",
            "`prefect deploy` derives it from the flow function's signature",
        )
    for name in ("storage_document_id", "infrastructure_document_id"):
        if data.get(name) is not None:
            omit(name, "`prefect deploy` stores none (pull steps replace storage blocks)")
    for name in sorted(set(data) - KNOWN):
        if data[name] not in (None, {}, []):
            omit(name, "a field this render does not know (another Prefect release?)")


def _schedule(schedule: JSON, omit: Omit) -> JSONObject:
    s = schedule if isinstance(schedule, dict) else {}
    inner = s.get("schedule") if isinstance(s.get("schedule"), dict) else {}
    assert isinstance(inner, dict)
    out: JSONObject = {}
    for name in ("cron", "interval", "rrule", "anchor_date", "timezone", "day_or"):
        if inner.get(name) is not None:
            value = inner[name]
            if name == "interval" and isinstance(value, float) and value.is_integer():
                value = int(value)
            out[name] = value
    out["active"] = bool(s.get("active", True))
    out["parameters"] = untemplated(sorted_json(s.get("parameters") or {}))
    slug = s.get("slug")
    if slug is not None:
        out["slug"] = slug
    what = f"schedules[{slug}]" if slug else "schedules"
    if s.get("max_scheduled_runs") is not None:
        omit(f"{what}.max_scheduled_runs", "prefect.yaml schedules cannot hold it")
    if templated(s.get("parameters")):
        omit(f"{what}.parameters", RESOLVED)
    for name in sorted(
        set(inner) - {"cron", "interval", "rrule", "anchor_date", "timezone", "day_or"}
    ):
        omit(f"{what}.{name}", "a schedule field prefect.yaml cannot hold")
    return out


def _concurrency(data: JSONObject, omit: Omit) -> JSON:
    gcl = data.get("global_concurrency_limit")
    options = data.get("concurrency_options")
    limit: JSON = None
    if isinstance(gcl, dict) and str(gcl.get("name", "")).startswith(DEPLOYMENT_PREFIX):
        limit = gcl.get("limit")
        if gcl.get("active") is False:
            omit("concurrency_limit.active", "prefect.yaml makes an active limit only")
        if gcl.get("slot_decay_per_second"):
            omit("concurrency_limit.slot_decay_per_second", "prefect.yaml cannot hold it")
    elif isinstance(gcl, dict):
        omit(
            "global_concurrency_limit",
            "linked to a shared global limit: prefect.yaml's concurrency_limit makes a "
            "deployment's own limit and cannot link a shared one",
        )
    elif isinstance(data.get("concurrency_limit"), int):
        limit = data["concurrency_limit"]
    if not isinstance(limit, int):
        return None
    if limit < 1:
        omit("concurrency_limit", f"{limit}: `prefect deploy` accepts positive limits only")
        return None
    if not isinstance(options, dict) or not any(v is not None for v in options.values()):
        return limit
    spec: JSONObject = {"limit": limit}
    for name in ("collision_strategy", "grace_period_seconds"):
        if options.get(name) is not None:
            spec[name] = options[name]
    return spec


def share(entries: list[JSONObject]) -> list[tuple[str, JSON]]:
    """Replace work pools and pull steps that several entries hold by one shared object each
    (named, so YAML writes them once with an anchor); the (name, object) pairs in order."""
    anchors: list[tuple[str, JSON]] = []
    for path, prefix in (("work_pool", "pool"), ("pull", "pull")):
        counts = Counter(_fingerprint(e.get(path)) for e in entries)
        shared: dict[str, JSON] = {}
        taken: set[str] = set()
        for entry in entries:
            value = entry.get(path)
            mark = _fingerprint(value)
            if counts[mark] < 2 or not value:
                continue
            if mark not in shared:
                name = _unique(anchor_name(prefix, *_anchor_words(path, value)), taken)
                taken.add(name)
                shared[mark] = value
                anchors.append((name, value))
            entry[path] = shared[mark]
    return anchors


def _anchor_words(path: str, value: JSON) -> list[str]:
    if path == "work_pool" and isinstance(value, dict):
        return [str(value.get("name")), str(value.get("work_queue_name") or "")]
    steps = value if isinstance(value, list) else []
    return [str(next(iter(s))).rsplit(".", 1)[-1] for s in steps if isinstance(s, dict) and s]


def _unique(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    n = 2
    while f"{name}-{n}" in taken:
        n += 1
    return f"{name}-{n}"


def _definitions(anchors: list[tuple[str, JSON]]) -> JSONObject:
    groups: JSONObject = {}
    for name, value in anchors:
        group = "work_pools" if name.startswith("pool") else "pull_steps"
        target = groups.setdefault(group, {})
        assert isinstance(target, dict)
        target[name] = value
    return groups


def _fingerprint(value: JSON) -> str:
    return repr(sorted_json(value))


def late_fields(data: JSONObject) -> JSONObject:
    """The LATE fields of a deployment that hold templates, as the server holds them."""
    return {name: copy.deepcopy(data[name]) for name in LATE if templated(data.get(name))}


def _list(value: JSON) -> list[JSON]:
    return value if isinstance(value, list) else []


def _copy(value: JSON) -> JSON:
    # A fresh object per entry: PyYAML aliases any object it meets twice.
    return copy.deepcopy(value)
