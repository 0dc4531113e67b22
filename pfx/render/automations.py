"""Automations as code, pure: those that only run one deployment become that deployment's
prefect.yaml `triggers`; the rest go to one file that `prefect automation create --from-file`
accepts, with a comment naming what each id is (Prefect resolves no names in automations).
"""

from __future__ import annotations

import copy

from pfx.ids import find_ids
from pfx.jsontypes import JSON, JSONObject
from pfx.kinds.automation import ACTION_LISTS
from pfx.model import Record
from pfx.render.model import Names, Omission, Rendering
from pfx.render.templates import templated
from pfx.render.yamltext import checked_yaml, comment_ids, dump, header, sorted_json

AUTOMATIONS_YAML = "automations.yaml"
# AutomationCore's fields, in the order the file shows them.
FIELDS = ("name", "description", "enabled", "tags", "trigger", *ACTION_LISTS, "owner_resource")
IDS = (
    "holds source-server ids: Prefect resolves no names in automations; right on the source "
    "server, elsewhere replace each id (a comment in the file names it)"
)

CHECKED = (
    "runs a deployment by id, which the server checks when the automation is created: "
    "`prefect automation create` refuses it where that id does not exist"
)


def split_automations(
    records: list[Record], deployable: set[str]
) -> tuple[dict[str, list[Record]], list[Record]]:
    """Automations that are a trigger of a deployment in `deployable` (by source id, lower
    case), by that id; and all the others, in input order."""
    triggers: dict[str, list[Record]] = {}
    rest: list[Record] = []
    for record in records:
        if record.kind != "automation":
            continue
        target = trigger_target(record.data)
        if target is not None and target in deployable:
            triggers.setdefault(target, []).append(record)
        else:
            rest.append(record)
    return triggers, rest


def trigger_target(data: JSONObject) -> str | None:
    """The deployment id an automation can be a prefect.yaml trigger of, or None.

    A deployment trigger makes an automation whose one action runs its deployment (with
    parameters, job variables, schedule_after) and which has no tags and no actions on
    trigger or resolve; anything else cannot be written as one. Nor can one holding a
    `{{ ... }}` template: `prefect deploy` would resolve it (automations.yaml keeps it as is).
    """
    if data.get("tags") or any(data.get(f) for f in ACTION_LISTS[1:]):
        return None
    if any(templated(data.get(f)) for f in ("name", "description", "trigger", "actions")):
        return None
    actions = data.get("actions")
    if not isinstance(actions, list) or len(actions) != 1 or not isinstance(actions[0], dict):
        return None
    action = actions[0]
    target = action.get("deployment_id")
    if (
        action.get("type") != "run-deployment"
        or action.get("source", "selected") != "selected"
        or not isinstance(target, str)
    ):
        return None
    owner = data.get("owner_resource")
    if owner is not None and owner != f"prefect.deployment.{target}":
        return None
    return target.lower()


def trigger_entries(
    triggers: dict[str, list[Record]], names: Names, omissions: list[Omission]
) -> dict[str, list[JSONObject]]:
    """prefect.yaml `triggers:` entries by deployment id."""
    out: dict[str, list[JSONObject]] = {}
    for dep_id, records in triggers.items():
        for record in records:
            out.setdefault(dep_id, []).append(_trigger(record, names, omissions))
    return out


def _trigger(record: Record, names: Names, omissions: list[Omission]) -> JSONObject:
    data = record.data
    trigger = data.get("trigger")
    entry: JSONObject = {
        "name": data.get("name"),
        "description": data.get("description") or "",
        "enabled": bool(data.get("enabled", True)),
    }
    if isinstance(trigger, dict):
        entry |= copy.deepcopy(_sorted(trigger))
    actions = data.get("actions")
    action = actions[0] if isinstance(actions, list) and isinstance(actions[0], dict) else {}
    for name in ("parameters", "job_variables"):
        if action.get(name) is not None:
            entry[name] = copy.deepcopy(sorted_json(action[name]))
    if action.get("schedule_after"):
        entry["schedule_after"] = action["schedule_after"]
    _omit_ids(record, trigger, omissions, "trigger")
    return entry


def render_automations(records: list[Record], names: Names, source: str) -> Rendering:
    """automations.yaml for automation records that are no deployment's trigger."""
    out = Rendering()
    entries: list[JSONObject] = []
    for record in records:
        data = record.data
        # Keys sorted at every depth: a server lists them in its own order.
        entry: JSONObject = {
            f: copy.deepcopy(sorted_json(data[f])) for f in FIELDS if data.get(f) is not None
        }
        entries.append(entry)
        for name in FIELDS[4:]:
            _omit_ids(record, data.get(name), out.omissions, name)
        if _runs_a_deployment(data):
            out.omissions.append(Omission(record.kind, record.key, "*", CHECKED))
    lines = [
        f"Automations rendered by pfx from {source}.",
        "Create them with `prefect automation create --from-file automations.yaml`.",
        "Ids are the source server's: a comment names what each one is.",
    ]
    document: JSONObject = {"automations": list[JSON](entries)}
    text = header(lines) + dump(document)
    out.files[AUTOMATIONS_YAML] = checked_yaml(comment_ids(text, names.labels), document)
    out.counts = {"automations": len(entries)}
    return out


def _sorted(value: JSONObject) -> JSONObject:
    out = sorted_json(value)
    return out if isinstance(out, dict) else {}


def _runs_a_deployment(data: JSONObject) -> bool:
    return any(
        isinstance(a, dict) and a.get("type") == "run-deployment" and a.get("deployment_id")
        for name in ACTION_LISTS
        for a in (data.get(name) if isinstance(data.get(name), list) else [])  # type: ignore[union-attr]
    )


def _omit_ids(record: Record, value: JSON, omissions: list[Omission], field: str) -> None:
    if find_ids(value):
        omissions.append(Omission(record.kind, record.key, field, IDS))
