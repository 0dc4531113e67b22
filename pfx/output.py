"""What the CLI prints: progress lines, tables and JSON summaries (no secret ever passes here)."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import click
import orjson

from pfx import prunetext
from pfx.changetext import Lines, Style, add_changes, change_lines, cut_note, mark, table_lines
from pfx.escaping import safe_text
from pfx.jsontypes import JSON
from pfx.tested import untested

if TYPE_CHECKING:
    from pfx.cutover import CutoverResult
    from pfx.exporting import ExportResult
    from pfx.model import Manifest
    from pfx.plan import Plan
    from pfx.promotion import Prepared
    from pfx.report import Report


def shown(lines: Iterable[str]) -> str:
    """Lines for a terminal: names from bundles and servers with their control characters
    escaped (escaping.safe_text), so none can start a line or repaint one."""
    return "\n".join(safe_text(line) for line in lines)


def _counts_table(counts: dict[str, int]) -> list[str]:
    return _table({kind: {"records": n} for kind, n in counts.items()}, ["records"])[1:]


def export_text(result: ExportResult) -> str:
    m = result.manifest
    total = sum(m.counts.values())
    lines = [
        f"exported {total} records from {m.source.url} to {_where_to(result.path)} "
        f"({result.size / 1024:.1f} KiB, {result.seconds:.1f} s, {result.stats.requests} requests)",
        *_counts_table(m.counts),
        f"  secrets: {_secrets_line(m)}",
    ]
    lines += _untested_lines(m.source.server_version, "its records are kept as it answers them")
    lines += [f"  not exported: {s.kind} {'/'.join(s.key)}: {s.reason}" for s in m.skipped]
    if m.selection is not None:
        lines += _partial_lines(m)
        lines += [f"  {note}" for note in result.dependencies]
    return shown(lines)


def _where_to(path: Path) -> str:
    return "stdout" if str(path) == "-" else str(path)


def _partial_lines(m: Manifest) -> list[str]:
    """What a partial bundle was selected with, and what it needs from a destination."""
    sel = m.selection
    if sel is None:
        return []
    picks = [f"--include {s}" for s in sel.include] + [f"--exclude {s}" for s in sel.exclude]
    lines = [
        f"partial:  {' '.join(picks)} ({sel.dependencies} included as dependencies)",
    ]
    if sel.external:
        lines.append(f"  needs on the destination: {len(sel.external)}")
        lines += [f"    {e.kind} {'/'.join(e.key)}" for e in sel.external]
    return lines


def export_json(result: ExportResult) -> str:
    m = result.manifest
    return orjson.dumps(
        {
            "path": str(result.path),
            "size": result.size,
            "seconds": round(result.seconds, 3),
            "requests": result.stats.requests,
            "counts": m.counts,
            "records": sum(m.counts.values()),
            "secrets": m.secrets.model_dump(include={"mode", "withheld", "encrypted", "plaintext"}),
            "skipped": [s.model_dump(mode="json") for s in m.skipped],
            "digest": m.digest,
            "selection": m.selection.model_dump(mode="json") if m.selection else None,
            "dependencies": result.dependencies,
            "untested": _untested_json(m.source.server_version),
        }
    ).decode()


def _untested_lines(server_version: str | None, going_on: str) -> list[str]:
    """One line when the server's release is newer than the newest pfx is tested with."""
    found = untested(server_version)
    return [f"note: {found.line}; {going_on}"] if found else []


def _untested_json(server_version: str | None) -> JSON:
    found = untested(server_version)
    return found.model_dump(mode="json") if found else None


def _secrets_line(m: Manifest) -> str:
    s = m.secrets
    return f"{s.mode} ({s.withheld} withheld, {s.encrypted} encrypted, {s.plaintext} in clear)"


def _where(cloud: bool | None) -> str:
    if cloud is None:
        return " (Cloud or self-hosted: not recorded)"
    return ", Prefect Cloud" if cloud else ", self-hosted"


def inspect_text(path: Path, m: Manifest) -> str:
    from pfx.authenticity import authenticity

    lines = [
        f"bundle:   {path}",
        f"format:   {m.format} {m.version[0]}.{m.version[1]} (written by pfx {m.pfx_version})",
        f"created:  {m.created}",
        f"source:   {m.source.url}"
        + (f" (profile {m.source.profile})" if m.source.profile else ""),
        f"server:   Prefect {m.source.server_version or '?'}, API {m.source.api_version or '?'}"
        + _where(m.source.cloud),
        *_untested_lines(m.source.server_version, "import fits them to the destination's API"),
        f"secrets:  {_secrets_line(m)}",
        f"sealed:   {authenticity(m, checked=False)}",
        f"records:  {sum(m.counts.values())}",
        *_counts_table(m.counts),
    ]
    lines += _partial_lines(m)
    if m.skipped:
        lines.append(f"not exported: {len(m.skipped)}")
        lines += [f"  {s.kind} {'/'.join(s.key)}: {s.reason}" for s in m.skipped]
    return shown(lines)


def verify_text(path: Path, m: Manifest, *, checked: bool) -> str:
    """`verify`'s line: what is intact, and what is known of the bundle's authenticity."""
    from pfx.authenticity import authenticity

    n = m.secrets.encrypted
    # Said only when a passphrase was given: verify opened every encrypted value with it.
    opened = (
        f"; the passphrase opens all {n} encrypted value{'s' if n != 1 else ''}" if checked else ""
    )
    return shown(
        [
            f"ok: {path}: {len(m.hashes)} records intact (format {m.version[0]}.{m.version[1]}, "
            f"digest {m.digest[:16]}){opened}; {authenticity(m, checked=checked)}"
        ]
    )


def warn_reading(path: Path, m: Manifest, passphrase: str | None = None) -> None:
    """Lines on stderr when the bundle at `path` holds secret values in clear, or is not
    sealed although a passphrase was given."""
    from pfx.authenticity import reading_warnings

    for warning in reading_warnings(str(path), m, passphrase):
        click.echo(shown([f"pfx: {warning}"]), err=True)


def inspect_json(m: Manifest) -> str:
    return orjson.dumps(
        m.model_dump(mode="json", exclude={"hashes", "edges"})
        | {
            "records": sum(m.counts.values()),
            "edges": len(m.edges),
            "untested": _untested_json(m.source.server_version),
        }
    ).decode()


def _table(rows: dict[str, dict[str, int]], columns: list[str]) -> list[str]:
    """Counts per kind (rows) and column, aligned (pfx.changetext's table)."""
    return table_lines(rows, columns)


# What a dry run says each status would be; any other status reads as itself.
PLAN_WORDS = {"created": "create", "updated": "update", "deleted": "delete", "failed": "fail"}
# The plan lists writes first, in this order, then every other outcome in bundle order.
PLAN_ORDER = ("created", "updated", "deleted")


def plan_text(plan: Plan, report: Report, style: Style | None = None) -> str:
    """A dry run, as `terraform plan` reads: the predicted outcome table (as the run would
    report it), then every record the run would write or not settle, by name under its
    marker (pfx.changetext): each create, each update with its values (destination ->
    bundle), each deletion, and every other outcome with why. A status the report holds is
    listed this way whatever it is; only unchanged records are left to the table."""
    style = style or Style()
    out = Lines(style)
    counts = report.counts()
    columns = [s for s, n in counts.items() if n] or ["unchanged"]
    out.add(f"plan ({plan.policy} on conflict), nothing written:", "head")
    for line in [*_report_untested(report), *_table(report.totals(), columns)]:
        out.add(line)
    actions = {(r.kind, r.key): a for r, a in zip(plan.records, plan.actions, strict=True)}
    rank = {status: n for n, status in enumerate(PLAN_ORDER)}
    listed = [o for o in report.outcomes if o.status != "unchanged"]
    for o in sorted(listed, key=lambda o: rank.get(o.status, len(rank))):
        action = actions.get((o.kind, o.key))
        marker = mark(o.status)
        if o.status == "updated" and action is not None:
            detail = ", ".join(action.fields) or action.reason
        else:
            # The marker and word say "would be created"; a caveat after it stays.
            detail = re.sub(r"^dry run: would be \w+(; )?", "", o.reason)
        word = PLAN_WORDS.get(o.status, o.status)
        out.add(f"  {marker} {word:<10} {o.label}" + (f": {detail}" if detail else ""), marker)
        if action is not None and o.status not in ("deleted", "kept"):
            # The same field-level rendering as `pfx diff`: destination -> bundle.
            add_changes(out, action.changes, " " * 6)
        for line in prunetext.stops_lines(o, " " * 6):
            out.add(line)
    for line in prunetext.deferred_lines(report, "would delete at cutover"):
        out.add(line)
    for line in [
        *_loss_lines(report),
        *_watching_lines(report),
        *cut_note(style),
        _summary(report, "dry run"),
    ]:
        out.add(line)
    return out.text()


def _report_untested(report: Report) -> list[str]:
    found = report.untested
    return [f"note: {found.line}; payloads follow its OpenAPI document"] if found else []


def _loss_lines(report: Report) -> list[str]:
    """Every named loss: record, field, value type, why (values are never shown)."""
    lines: list[str] = []
    for o in report.outcomes:
        for loss in o.losses:
            what = "not kept" if loss.server_set else "lost"
            lines.append(f"  {what:<9} {o.label}: {loss.field} ({loss.value_kind}): {loss.why}")
    if report.counts()["with-losses"] and not report.accept_losses:
        lines.append("  (--accept-losses counts these records as complete: exit 0 instead of 5)")
    return lines


def _watching_lines(report: Report) -> list[str]:
    """The destination's automations that may act on the events of this import's writes."""
    from pfx.watched import shown as watched

    found = report.watched_by
    if not found:
        return []
    lines = [
        f"note: {len(found)} enabled automation{'s' if len(found) != 1 else ''} on the "
        "destination watch what this import writes and may act on its events (README: "
        "automations that watch an import); disable them for the import, or import with "
        "--standby and turn on with `pfx cutover`"
    ]
    lines += [f"  automation {w.name} ({w.id[:8]}) watches {watched(w)}" for w in found]
    return lines


def _summary(report: Report, what: str) -> str:
    counts = report.counts()
    return (
        f"{what}: "
        + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        + f" ({len(report.outcomes)} records, {report.seconds:.1f} s, "
        f"{report.requests} requests) into {report.destination}; exit {report.exit_code}"
    )


def report_text(report: Report, *, quiet: bool = False) -> str:
    """The table of outcomes per kind, then every record that did not go well."""
    what = "imported" if report.ok else "import incomplete"
    if report.ok and report.counts()["with-losses"]:
        what = "imported with named losses" + (" (accepted)" if report.accept_losses else "")
    if report.stopped:
        what = f"import stopped ({report.stopped})"
    summary = _summary(report, what)
    if quiet:
        return shown([summary])
    counts = report.counts()
    lines = _report_untested(report)
    lines += _table(report.totals(), [s for s, n in counts.items() if n] or ["created"])
    not_attempted = 0
    for o in report.outcomes:
        if o.status == "not-attempted":
            not_attempted += 1
        elif o.status != "unchanged" and (o.status not in ("created", "updated") or o.reason):
            lines.append(f"  {o.status:<9} {o.label}: {o.reason}")
            lines += prunetext.stops_lines(o, " " * 12)
    if not_attempted:
        lines.append(f"  {not_attempted} records not attempted: run the same import again")
    lines += prunetext.prune_report_lines(report)
    lines += _loss_lines(report)
    lines += _watching_lines(report)
    needing = report.needing_secrets()
    if needing:
        lines.append(f"{len(needing)} block documents need secret values. Supply them with:")
        lines.append(f"  pfx secrets template {report.bundle} > secrets.json   # fill in the nulls")
        lines.append(f"  pfx import {report.bundle} --secrets-file secrets.json ...")
    lines.append(summary)
    return shown(lines)


def write_report(path: Path, report: Report) -> None:
    """The report as JSON (outcomes, totals), written atomically (pfx.files)."""
    from pfx.files import write_file

    payload = report.model_dump(mode="json") | {
        "totals": report.totals(),
        "counts": report.counts(),
        "exit_code": report.exit_code,
    }
    write_file(path, orjson.dumps(payload, option=orjson.OPT_INDENT_2))


def _short(value: object, width: int = 60) -> str:
    text = orjson.dumps(value).decode()
    return text if len(text) <= width else text[: width - 3] + "..."


def diff_style(*, full: bool = False) -> Style:
    """How `pfx diff` and a dry run show values on stdout: coloured on a terminal unless
    NO_COLOR is set (no-color.org: any non-empty value), cut unless `full`."""
    colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    return Style(colour=colour, full=full)


def cutover_text(result: CutoverResult) -> str:
    """One line per held record: what cutover (or rollback) did, or would do."""
    what = "rollback" if result.rollback else "cutover"
    lines = [
        f"{what} of {result.destination}"
        + (" (dry run, nothing written):" if result.dry_run else ":")
    ]
    verbs = {
        "set": "would set" if result.dry_run else "set",
        "unchanged": "unchanged",
        "missing": "missing",
    }
    for n, step in enumerate(result.steps):
        h = step.held
        verb = "failed" if n in result.failed else verbs[step.verdict]
        if step.verdict == "set":
            detail = f"{h.field}: {_short(step.current)} -> {_short(step.target)}"
        elif step.verdict == "unchanged":
            detail = f"{h.field} already {_short(step.target)}"
        else:
            detail = "not on the destination"
        if n in result.failed:
            detail += f" ({result.failed[n]})"
        lines.append(f"  {verb:<10} {h.label}: {detail}")
    counts = {v: sum(1 for s in result.steps if s.verdict == v) for v in verbs}
    lines.append(
        f"{what}: {counts['set']} {'to set' if result.dry_run else 'set'}, "
        f"{counts['unchanged']} unchanged, {counts['missing']} missing, {len(result.failed)} failed"
    )
    return shown(lines + prunetext.cutover_lines(result))


def promotion_text(prepared: Prepared) -> str:
    """What selection, map and standby did to the bundle's records (empty when nothing)."""
    lines: list[str] = []
    picked = prepared.picked
    if picked is not None:
        lines.append(
            f"selected {len(picked.records)} records ({len(picked.chosen)} chosen, "
            f"{len(picked.dependencies)} included as dependencies, {picked.left_out} left out)"
        )
        lines += [f"  {r.label}: {why}" for r in picked.records if (why := picked.because(r))]
        for (kind, key), needer in picked.on_destination.items():
            name = f"{kind} {'/'.join(key)}"
            lines.append(f"  {name}: excluded; {needer.label} uses the destination's")
    mapped = prepared.mapped
    if mapped is not None:
        lines.append(f"map changed {len(mapped.changed)} records")
        for (kind, key), (old, changes) in mapped.changed.items():
            renamed = f" (renamed from {'/'.join(old)})" if old else ""
            lines.append(f"  {kind} {'/'.join(key)}{renamed}")
            lines += change_lines(changes, "      ")
        lines += [f"  {note}" for note in mapped.notes]
    if prepared.held:
        lines.append(
            f"standby: {len(prepared.held)} records held back "
            "(deployments paused, automations disabled; `pfx cutover REPORT` turns them on)"
        )
    return shown(lines)
