"""Outcome rules shared by the run and the dry run: blocking, immutable fields, exit codes."""

from __future__ import annotations

from pfx.graph import build_graph
from pfx.model import Record, Ref
from pfx.outcomes import Ledger, predict
from pfx.plan import plan_import
from pfx.report import Outcome, Report
from tests.test_plan import flow, inventory, on_server, variable

POOL_ID = "11111111-2222-4333-8444-555555555555"


def pool(name: str, type_: str = "process", id_: str | None = None) -> Record:
    return Record(kind="work-pool", key=(name,), id=id_, data={"name": name, "type": type_})


def queue(pool_name: str, name: str, refs: list[Ref]) -> Record:
    return Record(
        kind="work-queue",
        key=(pool_name, name),
        data={"name": name, "work_pool_name": pool_name, "priority": 2},
        refs=refs,
    )


def test_dry_run_blocks_what_depends_on_an_unsupported_record() -> None:
    """A record that depends on a reserved-name pool is predicted blocked, not created."""
    reserved = pool("prefect-reserved")
    q = queue("prefect-reserved", "q", [Ref(kind="work-pool", key=("prefect-reserved",))])
    records = [reserved, q, variable("free", 1)]
    graph = build_graph(records)
    predicted = predict(plan_import(records, graph, inventory()), graph)
    status = {o.key: o.status for o in predicted}
    assert status == {
        ("prefect-reserved",): "skipped",
        ("prefect-reserved", "q"): "blocked",
        ("free",): "created",
    }
    assert predicted[1].blocked_by == "work-pool prefect-reserved (skipped)"


def test_ledger_blocks_on_a_failed_create_but_not_on_a_failed_update() -> None:
    """A failed create blocks dependents; a failed update leaves the old object usable."""
    a = flow("a")
    dep = variable("v", 1, refs=[Ref(kind="flow", key=("a",))])
    for verb, blocked in (("create", True), ("update", False)):
        existing = [] if verb == "create" else [on_server(a, POOL_ID, tags=["x"])]
        records = [flow("a", tags=["y"]) if verb == "update" else a, dep]
        graph = build_graph(records)
        plan = plan_import(records, graph, inventory(*existing), policy="update")
        ledger = Ledger(plan, graph)
        assert not ledger.settle_now(0)
        ledger.settle(0, Outcome(kind="flow", key=("a",), status="failed", reason="boom"))
        assert (ledger.blocker(1) is not None) is blocked


def test_update_never_claims_an_immutable_field() -> None:
    """A pool whose type differs is skipped as immutable under update, exit 4."""
    ours = pool("p", "process")
    theirs = on_server(ours, POOL_ID, type="kubernetes")
    records = [ours]
    graph = build_graph(records)
    plan = plan_import(records, graph, inventory(theirs), policy="update")
    assert plan.actions[0].verb == "immutable"
    [o] = predict(plan, graph)
    assert (o.status, o.code, o.fields) == ("skipped", "immutable", ["type"])
    report = Report(bundle="b", destination="d", outcomes=[o])
    assert report.exit_code == 4


def test_exit_codes_follow_the_documented_precedence() -> None:
    """0 complete, 3 kept by policy, 4 anything worse, 6 dry-run changes, 69 stopped."""

    def code(
        *statuses: tuple[str, str | None], dry: bool = False, stopped: str | None = None
    ) -> int:
        outcomes = [
            Outcome(kind="flow", key=(str(n),), status=s, code=c)  # type: ignore[arg-type]
            for n, (s, c) in enumerate(statuses)
        ]
        return Report(
            bundle="b", destination="d", outcomes=outcomes, dry_run=dry, stopped=stopped
        ).exit_code

    assert code(("created", None), ("unchanged", None)) == 0
    assert code(("unchanged", None), dry=True) == 0
    assert code(("created", None), dry=True) == 6
    assert code(("skipped", "differs"), ("created", None), dry=True) == 3
    assert code(("skipped", "differs"), ("created", None)) == 3
    assert code(("skipped", "differs"), ("blocked", None)) == 4
    assert code(("skipped", "unsupported")) == 4
    assert code(("not-attempted", None)) == 4
    assert code(("created", None), stopped="dead") == 69
