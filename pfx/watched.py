"""The destination's enabled automations that watch what an import writes, pure.

Every write of a pool, queue, deployment, flow, variable, block or limit makes the server emit
an event (`prefect.work-pool.updated`, `prefect.work-pool.not-ready`, ...), and an automation
already on the destination may act on it while the import runs: an update of a pool's
concurrency emits `not-ready`, and "when this pool is not ready, pause it" pauses it, after the
read-back or before. The plan names each enabled automation one of whose triggers (compound
and sequence triggers: any of theirs) could fire on such an event:

- its event names (`expect`, `after`), when it has any, match an event of the written kind
  (`prefect.<kind>.<anything>`), and
- its resources (`match`, `match_related`: `prefect.resource.id`, shell-style globs), when it
  restricts them, match the written resource: by id for a record the destination holds (an
  update), by a pattern that also matches a new id (`prefect.work-pool.*`) for a create.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from fnmatch import fnmatchcase

from pydantic import BaseModel, ConfigDict

from pfx.jsontypes import JSON, JSONObject

__all__ = ["WatchingAutomation", "Written", "watching_automations"]

# Resource id prefixes of the kinds an import writes (prefect/server/models/events.py and
# events/schemas/lifecycle.py); kinds not named here emit no event of their own.
PREFIXES = {
    "flow": "prefect.flow",
    "deployment": "prefect.deployment",
    "work-pool": "prefect.work-pool",
    "work-queue": "prefect.work-queue",
    "block-type": "prefect.block-type",
    "block-schema": "prefect.block-schema",
    "block-document": "prefect.block-document",
    "variable": "prefect.variable",
    "global-concurrency-limit": "prefect.concurrency-limit",
    "tag-concurrency-limit": "prefect.concurrency-limit",
    "automation": "prefect.automation",
}
# Stands in for the id a create will get: only a pattern that takes any id matches it.
NEW_ID = "ffffffff-ffff-4fff-bfff-ffffffffffff"
# Records named per automation; more are counted.
SHOWN = 3


class WatchingAutomation(BaseModel):
    """An enabled automation on the destination that may act on the events this import's
    writes emit (module doc): its name, id, and the records it watches (labels)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    id: str
    watches: list[str]


Written = tuple[str, str, str | None]
"""A record the import writes: (kind, label, its destination id; None for a create)."""


def watching_automations(
    automations: Sequence[JSONObject], written: Sequence[Written]
) -> list[WatchingAutomation]:
    """The enabled ones among the destination's `automations` that watch any of `written`
    (module doc), in name order."""
    found: list[WatchingAutomation] = []
    for item in automations:
        if item.get("enabled") is False:
            continue
        triggers = list(_triggers(item.get("trigger")))
        watches = [
            label
            for kind, label, ident in written
            if kind in PREFIXES and any(_fires(t, PREFIXES[kind], ident) for t in triggers)
        ]
        if watches:
            found.append(
                WatchingAutomation(
                    name=str(item.get("name", "")), id=str(item.get("id", "")), watches=watches
                )
            )
    return sorted(found, key=lambda w: (w.name, w.id))


def shown(watch: WatchingAutomation) -> str:
    """What an automation watches, in a few names."""
    names = ", ".join(watch.watches[:SHOWN])
    more = len(watch.watches) - SHOWN
    return names + (f" and {more} more" if more > 0 else "")


def _triggers(trigger: JSON) -> Iterator[JSONObject]:
    """The trigger and every trigger nested in it (compound, sequence)."""
    if not isinstance(trigger, dict):
        return
    yield trigger
    nested = trigger.get("triggers")
    for inner in nested if isinstance(nested, list) else []:
        yield from _triggers(inner)


def _fires(trigger: JSONObject, prefix: str, ident: str | None) -> bool:
    """Whether `trigger` could fire on an event of a write of the resource (module doc)."""
    if trigger.get("type") == "metric":
        return False  # metrics of runs, which no configuration write changes
    events = [e for name in ("expect", "after") for e in _strings(trigger.get(name))]
    if events and not any(_event_of(e, prefix) for e in events):
        return False
    resource = f"{prefix}.{ident or NEW_ID}"
    restricted = False
    for field in ("match", "match_related"):
        for patterns in _resource_patterns(trigger.get(field)):
            restricted = True
            if any(fnmatchcase(resource, p) for p in patterns):
                return True
    return not restricted and (bool(events) or trigger.get("type") == "event")


def _event_of(pattern: str, prefix: str) -> bool:
    """Whether an event name pattern can match an event of `prefix`'s resources."""
    return pattern.startswith(prefix + ".") or fnmatchcase(f"{prefix}.updated", pattern)


def _resource_patterns(match: JSON) -> Iterator[list[str]]:
    """The `prefect.resource.id` patterns of a match (or of each of a list of them)."""
    for one in match if isinstance(match, list) else [match]:
        if isinstance(one, dict) and "prefect.resource.id" in one:
            yield _strings(one["prefect.resource.id"])


def _strings(value: JSON) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []
