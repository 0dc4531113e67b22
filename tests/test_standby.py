"""Standby and cutover, pure: what standby holds back, and the steps cutover and rollback take."""

from __future__ import annotations

from pfx.model import Record
from pfx.standby import hold, plan_cutover


def records() -> list[Record]:
    return [
        Record(kind="deployment", key=("etl", "daily"), data={"name": "daily", "paused": False}),
        Record(kind="deployment", key=("etl", "old"), data={"name": "old", "paused": True}),
        Record(kind="automation", key=("alert", "1"), data={"name": "alert", "enabled": True}),
        Record(kind="variable", key=("x",), data={"name": "x", "value": 1}),
    ]


def test_standby_pauses_and_disables_and_records_what_it_changed() -> None:
    """Active deployments are paused, enabled automations disabled; already held ones untouched."""
    held_records, held = hold(records())
    assert [r.data.get("paused", r.data.get("enabled")) for r in held_records[:3]] == [
        True,
        True,
        False,
    ]
    assert held_records[3] == records()[3]
    assert [(h.label, h.field, h.bundle, h.standby) for h in held] == [
        ("deployment etl/daily", "paused", False, True),
        ("automation alert/1", "enabled", True, False),
    ]


def test_cutover_sets_bundle_states_idempotently_and_rollback_reverses() -> None:
    """Cutover sets held records to the bundle's values, skips what already holds them, and
    names records that are gone; rollback targets the standby values."""
    _, held = hold(records())
    found = {
        ("deployment", ("etl", "daily")): {"id": "d1", "paused": True},
        ("automation", ("alert", "1")): {"id": "a1", "enabled": True},
    }
    steps = plan_cutover(held, found)
    assert [(s.verdict, s.target) for s in steps] == [("set", False), ("unchanged", True)]
    assert steps[0].call is not None and steps[0].call.body == {"paused": False}
    assert steps[0].call.path == "/deployments/d1"
    back = plan_cutover(held, found, rollback=True)
    assert [(s.verdict, s.target) for s in back] == [("unchanged", True), ("set", False)]
    assert back[1].call is not None and back[1].call.path == "/automations/a1"
    assert [s.verdict for s in plan_cutover(held, {})] == ["missing", "missing"]


def test_held_automations_are_found_by_destination_id() -> None:
    """An automation's ordinal may differ on the destination; its id finds it."""
    _, held = hold(records())
    entry = held[1].model_copy(update={"id": "a2"})
    found = {
        ("automation", ("alert", "1")): {"id": "a1", "enabled": True},
        ("automation", ("alert", "2")): {"id": "a2", "enabled": False},
    }
    (step,) = plan_cutover([entry], found)
    assert step.verdict == "set" and step.call is not None and step.call.path == "/automations/a2"
