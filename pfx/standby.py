"""Standby and cutover, pure: which states keep a destination from starting work, and the
calls that turn them on (cutover) or hold them back again (rollback).

Standby pauses deployments (a paused deployment's schedules make no runs) and disables
automations. Each change is recorded as a Held entry with the bundle's value, so cutover sets
exactly those records back to what the bundle had, and nothing else. With `--prune`, the
deletions wait too (Deferred entries): cutover deletes them, rollback restores them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict

from pfx.jsontypes import JSON, JSONObject
from pfx.kinds.base import Call
from pfx.model import Record


class Held(BaseModel):
    """One state standby changed: the record, the field, the bundle's value and standby's."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    key: tuple[str, ...]
    field: str
    bundle: JSON
    standby: JSON
    # The destination's id once the import has one: automations' keys carry an ordinal by
    # content, which the held state itself changes, so cutover finds them by id first.
    id: str | None = None

    @property
    def label(self) -> str:
        return f"{self.kind} {'/'.join(self.key)}"


class Deferred(BaseModel):
    """A destination record `import --standby --prune` deletes only at cutover: found there
    by its id, else by its natural key (after a rollback restored it under a new id)."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    key: tuple[str, ...]
    id: str | None = None

    @property
    def label(self) -> str:
        return f"{self.kind} {'/'.join(self.key)}"


@dataclass(frozen=True)
class Switch:
    """How one kind is held back: the field, its standby value, and the call that sets it."""

    field: str
    standby: JSON
    call: Callable[[str, JSON], Call]


SWITCHES: dict[str, Switch] = {
    # DeploymentUpdate takes `paused`; the scheduler makes no runs for a paused deployment.
    "deployment": Switch(
        "paused", True, lambda id_, v: Call("PATCH", f"/deployments/{id_}", {"paused": v})
    ),
    # AutomationPartialUpdate: PATCH with `enabled` alone.
    "automation": Switch(
        "enabled", False, lambda id_, v: Call("PATCH", f"/automations/{id_}", {"enabled": v})
    ),
}


def hold(records: list[Record]) -> tuple[list[Record], list[Held]]:
    """The records as standby imports them, and every state it changed (see module doc)."""
    out: list[Record] = []
    held: list[Held] = []
    for record in records:
        switch = SWITCHES.get(record.kind)
        value = record.data.get(switch.field) if switch else None
        if switch is None or value == switch.standby:
            out.append(record)
            continue
        data = record.data | {switch.field: switch.standby}
        out.append(record.model_copy(update={"data": data}))
        held.append(
            Held(
                kind=record.kind,
                key=record.key,
                field=switch.field,
                bundle=value,
                standby=switch.standby,
            )
        )
    return out, held


Verdict = Literal["set", "unchanged", "missing"]


@dataclass(frozen=True)
class Step:
    """What cutover (or rollback) does with one held record on the destination."""

    held: Held
    verdict: Verdict
    current: JSON = None
    target: JSON = None
    call: Call | None = None


def plan_cutover(
    held: list[Held],
    found: dict[tuple[str, tuple[str, ...]], JSONObject],
    *,
    rollback: bool = False,
) -> list[Step]:
    """One step per held record: set it to the bundle's value (standby's when rolling back),
    unless the destination already holds that value or no longer has the record.

    `found` holds the destination's items by (kind, key); held entries with an id are found
    by id among them.
    """
    by_id = {str(item.get("id")): item for item in found.values()}
    steps: list[Step] = []
    for entry in held:
        item = by_id.get(entry.id) if entry.id else found.get((entry.kind, entry.key))
        target = entry.standby if rollback else entry.bundle
        if item is None:
            steps.append(Step(entry, "missing", target=target))
            continue
        current = item.get(entry.field)
        if current == target:
            steps.append(Step(entry, "unchanged", current, target))
            continue
        call = SWITCHES[entry.kind].call(str(item["id"]), target)
        steps.append(Step(entry, "set", current, target, call))
    return steps
