"""What the CLI prints about `--prune`, in output.py's line format: each deletion with what
stops with it, each record kept with what holds it, the deletions that wait for cutover."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pfx.cutover import CutoverResult
    from pfx.report import Outcome, Report


def stops_lines(o: Outcome, indent: str) -> list[str]:
    """What stops with a deleted record: a deployment's schedules and last run, a flow's runs."""
    if o.status not in ("deleted", "not-attempted"):
        return []
    lines = [f"{indent}schedule: {s}" for s in o.schedules]
    if o.last_run:
        lines.append(f"{indent}last run: {o.last_run}")
    if o.flow_runs:
        lines.append(f"{indent}its {o.flow_runs} flow runs are deleted with it")
    return lines


def prune_plan_lines(report: Report, records: int) -> list[str]:
    """A dry run's deletions and kept records (the outcomes after the bundle's `records`),
    then the deletions that would wait for cutover."""
    lines: list[str] = []
    for o in report.outcomes[records:]:
        verb = "would delete" if o.status == "deleted" else o.status
        lines.append(f"  {verb:<13} {o.label}: {o.reason}")
        lines += stops_lines(o, " " * 16)
    return lines + deferred_lines(report, "would delete at cutover")


def prune_report_lines(report: Report) -> list[str]:
    """The deletions that wait for cutover, and where the deleted records are kept."""
    lines = deferred_lines(report, "at cutover")
    if report.deleted_bundle:
        lines.append(f"  what --prune deletes is kept in {report.deleted_bundle} (pfx import it)")
    return lines


def deferred_lines(report: Report, verb: str) -> list[str]:
    """--standby --prune: the deletions that wait for `pfx cutover`."""
    return [f"  {verb:<13} {d.label}" for d in report.deferred]


def cutover_lines(result: CutoverResult) -> list[str]:
    """Cutover's deferred deletions (each with what stops), or rollback's restore of them."""
    lines: list[str] = []
    for o in result.deletions:
        verb: str = "would delete" if result.dry_run and o.status == "deleted" else o.status
        lines.append(f"  {verb:<10} {o.label}: {o.reason}")
        lines += stops_lines(o, " " * 13)
    if result.deletions:
        done = sum(1 for o in result.deletions if o.status == "deleted")
        kept = sum(1 for o in result.deletions if o.status == "kept")
        what = "to delete" if result.dry_run else "deleted"
        failed = len(result.deletions) - done - kept
        lines.append(f"deletions: {done} {what}, {kept} kept, {failed} failed")
    elif result.deferred and not result.rollback:
        # A re-run after cutover: say the deferred deletions are done, not nothing.
        lines.append(f"deletions: none left ({result.deferred} deferred, already gone)")
    restored = result.restored
    if restored is not None:
        for o in restored.outcomes:
            if o.status != "unchanged":
                verb = "would restore" if restored.dry_run else "restored"
                verb = verb if o.status == "created" else o.status
                lines.append(f"  {verb:<10} {o.label}: {o.reason}".rstrip(": "))
        counts = ", ".join(f"{n} {s}" for s, n in restored.counts().items() if n)
        lines.append(f"restore of what cutover deleted: {counts}")
    return lines
