"""The log pipeline: the history of selected records across a repository's snapshots.

Reads each snapshot's record hashes in time order (a few at a time, keeping only the selected
records of the one before), and opens bundles only for the records that changed: two bundles
per change, each streamed until the lines it needs.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pfx.bundle import decode_manifest
from pfx.bundlefile import iter_lines
from pfx.errors import BundleError, UsageError
from pfx.jsonline import load_line
from pfx.model import Record
from pfx.records import record_from
from pfx.repository.hashfile import decode_records
from pfx.repository.history import Event, Ident, describe, matches, step
from pfx.repository.model import RecordHash, SnapshotEntry
from pfx.repository.repo import (
    Listing,
    Repository,
    bundle_name,
    open_repository,
    records_name,
)
from pfx.repository.store import Missing
from pfx.select import Selector, parse_selector

# Record hash objects fetched at once (concurrently on object stores).
BATCH = 32


@dataclass
class History:
    """Every event of the selected records, in time order, and what was read for it."""

    repository: str
    selector: str | None
    snapshots: int
    events: list[Event] = field(default_factory=list)
    bundles_read: int = 0

    def by_record(self) -> dict[Ident, list[Event]]:
        out: dict[Ident, list[Event]] = {}
        for event in self.events:
            out.setdefault((event.kind, event.key), []).append(event)
        return out


def record_history(repository: str, selector: str | None = None) -> History:
    """The history of the records `selector` picks (all without one) across every snapshot."""
    chosen = parse_selector(selector) if selector else None
    if chosen is not None and chosen.tag is not None:
        raise UsageError(
            f"log selects records by KIND:GLOB or kind:KIND, not {selector!r} (the index keeps "
            "kinds and keys, not tags)"
        )
    repo = open_repository(repository)
    listing = repo.listing()
    entries = listing.entries
    history = History(repo.url, selector, len(entries))
    previous: dict[Ident, RecordHash] | None = None
    previous_id: str | None = None
    for entry, rows in _hashes(repo, listing, entries, chosen):
        current = {r.ident: r for r in rows if matches(chosen, r)}
        history.events += step(previous, current, entry.id, entry.time, previous_id)
        previous, previous_id = current, entry.id
    if chosen is not None and not history.events:
        raise UsageError(f"no record matches {selector!r} in any snapshot of {repo.url}")
    with tempfile.TemporaryDirectory(prefix="pfx-log-") as tmp:
        history.bundles_read = _describe(repo, history.events, Path(tmp))
    return history


def _hashes(
    repo: Repository, listing: Listing, entries: Sequence[SnapshotEntry], chosen: Selector | None
) -> Iterator[tuple[SnapshotEntry, list[RecordHash]]]:
    """Each snapshot's record hashes (only the selector's kind decoded), oldest first: from
    record packs (one held at a time) and loose objects (fetched BATCH at a time)."""
    kind = chosen.kind if chosen is not None else None
    for start in range(0, len(entries), BATCH):
        batch = entries[start : start + BATCH]
        loose = [records_name(e.id) for e in batch if e.id not in listing.records_in]
        got = repo.store.read_many(loose)
        for entry in batch:
            try:
                if entry.id in listing.records_in:
                    rows = repo.read_records(entry.id, listing, kind)
                else:
                    data = got.get(records_name(entry.id))
                    if data is None:
                        raise ValueError(f"record hashes of {entry.short} are missing")
                    rows = decode_records(data, entry.id, kind)
            except (ValueError, Missing) as e:
                raise BundleError(f"{e}; `pfx check` names what is wrong") from None
            yield entry, rows


def _describe(repo: Repository, events: list[Event], workdir: Path) -> int:
    """Fill in the changed fields of every `changed` event; returns the bundles opened."""
    needed: dict[str, set[int]] = {}
    for event in events:
        if event.status == "changed" and event.before and event.after is not None:
            needed.setdefault(event.before[0], set()).add(event.before[1])
            needed.setdefault(event.snapshot, set()).add(event.after)
    records: dict[tuple[str, int], Record] = {}
    remote = [s for s in needed if repo.bundle_path(s) is None]
    # Every bundle a change needs, fetched together (an object store answers them at once).
    repo.store.download_many({bundle_name(s): workdir / f"{s}.pfx" for s in remote})
    for snapshot, positions in needed.items():
        for position, record in _read_lines(repo, snapshot, positions, workdir):
            records[(snapshot, position)] = record
    for event in events:
        if event.status == "changed" and event.before and event.after is not None:
            describe(event, records[event.before], records[(event.snapshot, event.after)])
    return len(needed)


def _read_lines(
    repo: Repository, snapshot: str, positions: set[int], workdir: Path
) -> Iterator[tuple[int, Record]]:
    """The records at `positions` of a snapshot's bundle (where it lies, or downloaded into
    `workdir`), each checked against the manifest."""
    lies = repo.bundle_path(snapshot)
    path = lies or workdir / f"{snapshot}.pfx"  # else downloaded by _describe
    hashes: Sequence[str] = []
    last = max(positions)
    for i, line in enumerate(iter_lines(path)):
        if i == 0:
            hashes = decode_manifest(line).hashes
            continue
        position = i - 1
        if position in positions:
            if position >= len(hashes) or hashlib.sha256(line).hexdigest() != hashes[position]:
                raise BundleError(
                    f"snapshot {snapshot[:8]}: record {position + 1} does not match its "
                    "checksum; `pfx check` names what is wrong"
                )
            yield position, record_from(load_line(line))
        if position >= last:
            break
    if lies is None:
        path.unlink(missing_ok=True)
