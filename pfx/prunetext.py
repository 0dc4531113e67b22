"""What the CLI prints about `--prune`, in output.py's line format: each deletion with what
stops with it, each record kept with what holds it, the deletions that wait for cutover."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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


def prune_plan_lines(report: Report, records: int, would: Callable[[str], str]) -> list[str]:
    """A dry run's deletions and kept records (the outcomes after the bundle's `records`),
    then the deletions that would wait for cutover."""
    lines: list[str] = []
    for o in report.outcomes[records:]:
        lines.append(f"  {would(o.status):<13} {o.label}: {o.reason}")
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
