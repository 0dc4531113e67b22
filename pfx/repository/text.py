"""What the backup commands print: backup and retention lines, the snapshot table, a record's
history and check results, as text or JSON (no secret value ever passes here)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from pfx.jsontypes import JSON, JSONObject
from pfx.repository.model import SnapshotEntry

if TYPE_CHECKING:  # `pfx snapshots` needs none of these modules (a quick start)
    from pfx.repository.backing import BackupResult, Retention
    from pfx.repository.checking import CheckResult
    from pfx.repository.logbook import History
    from pfx.repository.repo import Listing


def size_text(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / 1024 / 1024:.1f} MiB"


def changes_text(entry: SnapshotEntry) -> str:
    if entry.parent is None or entry.changes is None:
        return "first"
    c = entry.changes
    return f"+{c.added} ~{c.changed} -{c.removed}"


def backup_text(result: BackupResult) -> str:
    entry, exported = result.entry, result.export
    cost = f"{exported.seconds:.1f} s, {exported.stats.requests} requests"
    would = "would be " if result.dry_run else ""
    if result.unchanged:
        lines = [
            f"unchanged since {entry.short} ({entry.time}): no bundle {would}written, "
            f"{'a check would be' if result.dry_run else 'check'} recorded in {result.repository} "
            f"({entry.records} records, {cost})"
        ]
    else:
        since = (
            f"{changes_text(entry)} since {entry.parent[:8]}" if entry.parent else "first snapshot"
        )
        made = "would create" if result.dry_run else "created"
        repo = f" ({made} the repository)" if result.created_repository else ""
        lines = [
            f"snapshot {entry.short} {would}saved to {result.repository}{repo}: "
            f"{entry.records} records, {size_text(entry.size)}, {since} "
            f"(server {entry.source.url}, {cost})"
        ]
    if entry.secrets.mode != "withheld" or entry.secrets.withheld:
        lines.append(f"  secrets: {_secrets(entry)}")
    return "\n".join([*lines, *retention_lines(result.retention)])


def _secrets(entry: SnapshotEntry) -> str:
    s = entry.secrets
    parts = [
        f"{n} {mode}"
        for mode, n in (
            ("encrypted", s.encrypted),
            ("withheld", s.withheld),
            ("in clear", s.plaintext),
        )
        if n
    ]
    return ", ".join(parts) or "none"


def retention_lines(retention: Retention) -> list[str]:
    if retention.policy.empty:
        return []
    kept = sum(1 for d in retention.decisions if d.keep)
    verb = "would forget" if retention.dry_run else "forgot"
    lines = [
        f"retention ({retention.policy.describe()}): kept {kept}, {verb} {len(retention.forgotten)}"
    ]
    for d in retention.decisions:
        stamp = d.time.strftime("%Y-%m-%dT%H:%M:%SZ")
        if d.keep:
            lines.append(f"  keep    {d.id[:8]}  {stamp}  {', '.join(d.reasons)}")
        else:
            lines.append(f"  forget  {d.id[:8]}  {stamp}")
    return lines


def retention_json(retention: Retention) -> JSONObject:
    return {
        "policy": retention.policy.describe(),
        "dry_run": retention.dry_run,
        "forgotten": list(retention.forgotten),
        "kept": [{"id": d.id, "reasons": list(d.reasons)} for d in retention.decisions if d.keep],
    }


def backup_json(result: BackupResult) -> str:
    out: JSONObject = {
        "repository": result.repository,
        "snapshot": entry_json(result.entry),
        "unchanged": result.unchanged,
        "dry_run": result.dry_run,
        "created_repository": result.created_repository,
        "requests": result.export.stats.requests,
        "seconds": round(result.export.seconds, 3),
        "retention": retention_json(result.retention),
        "notes": list(result.notes),
    }
    return orjson.dumps(out, option=orjson.OPT_INDENT_2).decode()


def entry_json(entry: SnapshotEntry, checked: str | None = None) -> JSONObject:
    out: JSONObject = {
        "id": entry.id,
        "short_id": entry.short,
        "time": entry.time,
        "source": entry.source.url,
        "profile": entry.source.profile,
        "release": entry.source.server_version,
        "records": entry.records,
        "counts": {k: n for k, n in entry.counts.items() if n},
        "changed": entry.changes.model_dump() if entry.changes else None,
        "parent": entry.parent,
        "size": entry.size,
        "digest": entry.digest,
        "secrets": entry.secrets.mode,
    }
    if entry.include or entry.exclude:
        out["include"] = list(entry.include or [])
        out["exclude"] = list(entry.exclude or [])
    if checked is not None:
        out["checked"] = checked
    return out


def snapshots_json(listing: Listing) -> str:
    rows: list[JSON] = [entry_json(e, _checked(listing, e)) for e in listing.entries]
    return orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode()


def _checked(listing: Listing, entry: SnapshotEntry) -> str | None:
    stamp = listing.checked.get(entry.id)
    if not stamp or len(stamp) < 15:
        return None
    # Check names hold the time without separators (20261201T100000Z).
    return f"{stamp[0:4]}-{stamp[4:6]}-{stamp[6:8]}T{stamp[9:11]}:{stamp[11:13]}:{stamp[13:15]}Z"


def snapshots_text(url: str, listing: Listing) -> str:
    from pfx.kinds import ORDER

    entries = listing.entries
    if not entries:
        return f"{url}: no snapshots"
    sources = sorted({e.source.url for e in entries})
    lines = [f"{url}: {len(entries)} snapshots of {', '.join(sources)}"]
    lines.append(f"{'ID':<8}  {'TIME':<20}  {'RELEASE':<8}  {'RECORDS':>7}  {'CHANGED':<14}  SIZE")
    previous: str | None = None
    starred = False
    for e in entries:
        changed = changes_text(e)
        if e.parent is not None and e.parent != previous:
            changed += "*"
            starred = True
        lines.append(
            f"{e.short:<8}  {e.time:<20}  {e.source.server_version or '-':<8}  {e.records:>7}  "
            f"{changed:<14}  {size_text(e.size)}"
        )
        kinds = sorted((k for k, n in e.counts.items() if n), key=lambda k: ORDER.get(k, 99))
        lines.append(" " * 10 + ", ".join(f"{k} {e.counts[k]}" for k in kinds))
        checked = _checked(listing, e)
        if checked:
            lines.append(" " * 10 + f"checked unchanged at {checked}")
        previous = e.id
    if any(e.parent is not None and e.changes is not None for e in entries):
        star = " (*: that one was forgotten since)" if starred else ""
        lines.append(
            "CHANGED: records +added ~changed -removed since the newest snapshot when it was "
            f"taken{star}"
        )
    return "\n".join(lines)


def history_text(history: History) -> str:
    from pfx.changetext import change_lines

    records = history.by_record()
    if not records:
        return f"{history.repository}: no records in {history.snapshots} snapshots"
    lines = [f"{history.repository}: {history.snapshots} snapshots"]
    for events in records.values():
        lines.append(events[0].label)
        for event in events:
            lines.append(f"  {event.time}  {event.snapshot[:8]}  {event.status}")
            lines += change_lines(event.changes, " " * 6)
            if event.note:
                lines.append(f"      ({event.note})")
    return "\n".join(lines)


def history_json(history: History) -> str:
    out: JSONObject = {
        "repository": history.repository,
        "selector": history.selector,
        "snapshots": history.snapshots,
        "records": [
            {
                "kind": events[0].kind,
                "key": list(events[0].key),
                "events": [e.as_json() for e in events],
            }
            for events in history.by_record().values()
        ],
    }
    return orjson.dumps(out, option=orjson.OPT_INDENT_2).decode()


def check_text(result: CheckResult) -> str:
    lines = [f"  problem: {p}" for p in result.problems]
    lines += [f"  note: {n}" for n in result.notes]
    lines += [f"  repaired: {r}" for r in result.repaired]
    verdict = f"{len(result.problems)} problems" if result.problems else "every snapshot intact"
    lines.append(f"check {result.repository}: {result.snapshots} snapshots, {verdict}")
    return "\n".join(lines)
