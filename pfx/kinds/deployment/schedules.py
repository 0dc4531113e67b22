"""A deployment's schedules as pfx keeps and compares them (pure).

Schedules have no natural key of their own: a deployment's set is kept in a server-free
order and compared as a set. Prefect 3.8 anchors every rrule it stores without a `DTSTART`
(prefect._internal.schemas.validators.normalize_rrule_string: the implicit 2020-01-01 anchor,
or a phase-equivalent recent one for minutely rules), so an rrule written by an older
release comes back with a `DTSTART` line the bundle never had: the same schedule.
"""

from __future__ import annotations

import json

from pfx.jsontypes import JSON, JSONObject
from pfx.sameness import same

# Fields each server sets on its own schedule rows.
SCHEDULE_SERVER_FIELDS = frozenset({"id", "created", "updated", "deployment_id"})

# Fields that DeploymentScheduleCreate accepts, and 2.x's (the destination's schema names them
# as losses when they hold a value: 3.x has no per-schedule catchup or max_active_runs).
SCHEDULE_FIELDS = (
    "schedule", "active", "max_scheduled_runs", "parameters", "slug", "max_active_runs", "catchup"
)  # fmt: skip


def canonical_schedules(schedules: list[JSON]) -> list[JSON]:
    """Schedules without per-server fields, in an order that does not depend on the server."""
    trimmed: list[JSON] = [
        {k: v for k, v in s.items() if k not in SCHEDULE_SERVER_FIELDS}
        for s in schedules
        if isinstance(s, dict)
    ]
    return sorted(trimmed, key=lambda s: json.dumps(s, sort_keys=True))


def same_schedules(ours: JSON, theirs: JSON) -> bool:
    """Whether the destination holds the bundle's schedules, in any order (see module doc)."""
    if not isinstance(ours, list) or not isinstance(theirs, list):
        return same(ours, theirs)
    if len(ours) != len(theirs):
        return False
    left = list(theirs)
    for schedule in ours:
        found = next((t for t in left if same(schedule, _as_anchored_by(t, schedule))), None)
        if found is None:
            return False
        left.remove(found)
    return True


def _as_anchored_by(theirs: JSON, ours: JSON) -> JSON:
    """`theirs` with the `DTSTART` line its server added taken out, when `ours` has none and
    the rest of the rule is ours."""
    mine, its = _rrule(ours), _rrule(theirs)
    if mine is None or its is None or "DTSTART" in mine.upper():
        return theirs
    first, _, rest = its.partition("\n")
    if not first.upper().startswith("DTSTART") or rest != mine:
        return theirs
    assert isinstance(theirs, dict)
    schedule = theirs["schedule"]
    assert isinstance(schedule, dict)
    return theirs | {"schedule": schedule | {"rrule": mine}}


def _rrule(schedule: JSON) -> str | None:
    inner = schedule.get("schedule") if isinstance(schedule, dict) else None
    rule = inner.get("rrule") if isinstance(inner, dict) else None
    return rule if isinstance(rule, str) else None


def differing_schedules(ours: JSONObject, theirs: JSONObject) -> bool:
    """Whether a deployment's schedules differ (absent from the bundle: not compared)."""
    return "schedules" in ours and not same_schedules(ours["schedules"], theirs.get("schedules"))


def schedule_bodies(data: JSONObject) -> list[JSON]:
    """The schedules as a schedule create takes them."""
    raw = data.get("schedules")
    if not isinstance(raw, list):
        return []
    return [{k: s[k] for k in SCHEDULE_FIELDS if k in s} for s in raw if isinstance(s, dict)]


def needs_schedule_call(data: JSONObject) -> bool:
    # POST /deployments/ and PATCH /deployments/{id} rebuild schedules without
    # max_scheduled_runs; only POST /deployments/{id}/schedules keeps it.
    return any(isinstance(s, dict) and s.get("max_scheduled_runs") for s in schedule_bodies(data))
