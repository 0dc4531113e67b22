"""Named losses through plan, outcomes and report: known before any write, counted apart,
exit 5 unless accepted; fields the destination cannot hold are not differences."""

from __future__ import annotations

from pfx.graph import build_graph
from pfx.jsontypes import JSONObject
from pfx.kinds.base import Destination
from pfx.kinds.deployment import KIND
from pfx.model import Loss, Record
from pfx.outcomes import predict
from pfx.plan import plan_import
from pfx.report import Outcome, Report
from tests.conftest import accepts
from tests.test_plan import inventory, on_server

FLOW_ID = "0b0c5e2a-6f4e-4b8e-9d7a-3c1f2e4d5a6b"
DEST_ID = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
OPTIONS = {"collision_strategy": "ENQUEUE", "grace_period_seconds": 120}


def deployment(options: JSONObject) -> Record:
    data: JSONObject = {"name": "d", "flow_id": FLOW_ID, "concurrency_options": options}
    return Record(kind="deployment", key=("f", "d"), data=KIND.kept(data))


def test_plan_names_losses_before_any_write_and_the_dry_run_shows_them() -> None:
    """A field 3.4 does not accept is a loss on the planned create and its predicted outcome."""
    record = deployment(OPTIONS)
    graph = build_graph([record])
    destination = Destination(accepts=accepts("3.4.25"))
    plan = plan_import([record], graph, inventory(), destination=destination)
    assert [(x.field, x.value_kind) for x in plan.actions[0].losses] == [
        ("concurrency_options.grace_period_seconds", "integer")
    ]
    [predicted] = predict(plan, graph)
    assert predicted.status == "created" and predicted.losses == plan.actions[0].losses
    report = Report(bundle="b", destination="d", outcomes=[predicted])
    assert report.counts()["with-losses"] == 1 and report.totals()["deployment"]["with-losses"] == 1


def test_a_lost_field_is_not_a_difference_but_stays_named() -> None:
    """A record whose only difference is a field the destination cannot hold is unchanged,
    with its loss still named (the destination still lacks it)."""
    ours = deployment(OPTIONS)
    theirs = on_server(deployment({"collision_strategy": "ENQUEUE"}), DEST_ID)
    graph = build_graph([ours])
    plan = plan_import(
        [ours], graph, inventory(theirs), destination=Destination(accepts=accepts("3.4.25"))
    )
    assert plan.actions[0].verb == "unchanged"
    assert [x.field for x in plan.actions[0].losses] == ["concurrency_options.grace_period_seconds"]
    without = plan_import([ours], graph, inventory(theirs))
    assert without.actions[0].verb == "skip"


def test_exit_5_for_losses_unless_accepted_and_4_wins() -> None:
    """Losses exit 5; --accept-losses makes them complete (0); failures still exit 4; a
    server-set flag (protection) is named but leaves the exit code alone."""
    lost = [Loss(field="x", value_kind="integer", why="w")]
    ok = Outcome(kind="flow", key=("a",), status="created", losses=lost)
    failed = Outcome(kind="flow", key=("b",), status="failed")
    kept = Outcome(kind="flow", key=("c",), status="skipped", code="differs")
    assert Report(bundle="b", destination="d", outcomes=[ok]).exit_code == 5
    assert Report(bundle="b", destination="d", outcomes=[ok], accept_losses=True).exit_code == 0
    assert Report(bundle="b", destination="d", outcomes=[ok, failed]).exit_code == 4
    assert Report(bundle="b", destination="d", outcomes=[ok, kept]).exit_code == 5
    accepted = Report(bundle="b", destination="d", outcomes=[ok, kept], accept_losses=True)
    assert accepted.exit_code == 3
    flag = [Loss(field="is_protected", value_kind="boolean", why="w", server_set=True)]
    named = Report(
        bundle="b",
        destination="d",
        outcomes=[Outcome(kind="block-type", key=("json",), status="created", losses=flag)],
    )
    assert named.exit_code == 0 and named.counts()["with-losses"] == 0


def test_the_destinations_own_system_type_is_unchanged_without_loss() -> None:
    """A protected type the destination has is unchanged (its own), whatever its metadata."""
    data: JSONObject = {"name": "Secret", "slug": "secret", "is_protected": True, "logo_url": "a"}
    ours = Record(kind="block-type", key=("secret",), data=data)
    theirs = on_server(ours, DEST_ID, logo_url="b")
    graph = build_graph([ours])
    plan = plan_import(
        [ours], graph, inventory(theirs), destination=Destination(accepts=accepts("3.8.8"))
    )
    [action] = plan.actions
    assert (action.verb, action.reason, action.losses) == (
        "unchanged",
        "destination's system type",
        [],
    )
