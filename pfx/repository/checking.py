"""The check pipeline: every snapshot's bundle read back in full and compared with its index
entry and record hashes; what does not agree is named. `--repair` rebuilds the index from the
bundles (the bundles are the truth) and removes leftovers; it never deletes a bundle.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pfx.bundle import Bundle
from pfx.bundlefile import read_bundle
from pfx.errors import PfxError
from pfx.repository.hashes import record_hashes, snapshot_entry
from pfx.repository.model import RECORD_PACKS, RecordHash, SnapshotEntry
from pfx.repository.repo import (
    Listing,
    Repository,
    open_repository,
    records_name,
)
from pfx.repository.store import LocalStore, Missing

EXIT_PROBLEMS = 4


@dataclass
class CheckResult:
    """What `pfx check` found: problems (exit 4) and notes (harmless leftovers)."""

    repository: str
    snapshots: int
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_PROBLEMS if self.problems else 0


def check_repository(
    repository: str, *, repair: bool = False, passphrase: str | None = None
) -> CheckResult:
    """Check every snapshot of `repository` (see module doc); with `repair`, fix the index."""
    repo = open_repository(repository)
    listing = repo.listing()
    result = CheckResult(repo.url, len(listing.entries))
    for name, why in sorted(listing.unreadable.items()):
        result.problems.append(f"index object {name} is unreadable: {why}")
    with tempfile.TemporaryDirectory(prefix="pfx-check-") as tmp:
        for entry in listing.entries:
            result.problems += _check_snapshot(repo, entry, listing, Path(tmp))
        if repair:
            for snapshot in listing.unindexed:
                result.repaired.append(_index(repo, snapshot, passphrase, Path(tmp)))
    _leftovers(repo, listing, result, repair)
    return result


def _local(repo: Repository, snapshot: str, workdir: Path) -> Path:
    return repo.local_bundle(snapshot, workdir / f"{snapshot}.pfx")


def _check_snapshot(
    repo: Repository, entry: SnapshotEntry, listing: Listing, workdir: Path
) -> list[str]:
    """What is wrong with one snapshot: its bundle, its entry, its record hashes."""
    name = f"snapshot {entry.short} ({entry.time})"
    try:
        path = _local(repo, entry.id, workdir)
        bundle = read_bundle(path)
    except PfxError as e:
        return [f"{name}: {e}"]
    finally:
        if not isinstance(repo.store, LocalStore):
            (workdir / f"{entry.id}.pfx").unlink(missing_ok=True)
    m = bundle.manifest
    problems = [
        f"{name}: index entry says {what} {want!r}, the bundle {got!r}"
        for what, want, got in (
            ("digest", entry.digest, m.digest),
            ("time", entry.time, m.created),
            ("records", entry.records, len(m.hashes)),
            ("counts", entry.counts, m.counts),
            ("source", entry.source.url, m.source.url),
            ("secrets", entry.secrets.mode, m.secrets.mode),
        )
        if want != got
    ]
    try:
        rows = repo.read_records(entry.id, listing)
    except (Missing, ValueError) as e:
        return [*problems, f"{name}: record hashes: {e}"]
    problems += _compare_hashes(name, bundle, rows)
    return problems


def _compare_hashes(name: str, bundle: Bundle, rows: list[RecordHash]) -> list[str]:
    """The record hashes name the bundle's records in order, and every hash that can be
    recomputed without the passphrase (all but fingerprinted secrets) is right."""
    own = record_hashes(bundle, None, b"")
    if [r.ident for r in rows] != [r.ident for r in own]:
        return [f"{name}: record hashes do not list the bundle's records"]
    wrong = [
        a.label
        for a, b in zip(rows, own, strict=True)
        if a.hash != b.hash and not _fingerprinted_line(bundle, a.position)
    ]
    return [f"{name}: record hash of {label} does not match the bundle" for label in wrong[:10]]


def _fingerprinted_line(bundle: Bundle, position: int) -> bool:
    record = bundle.records[position]
    return record.secrets is not None and record.secrets.mode == "encrypted"


def _index(repo: Repository, snapshot: str, passphrase: str | None, workdir: Path) -> str:
    """Write the index objects of a bundle that has none (rebuilt from the bundle alone)."""
    path = _local(repo, snapshot, workdir)
    bundle = read_bundle(path)
    hashes = record_hashes(bundle, passphrase, repo.salt)
    entry = snapshot_entry(bundle, passphrase, id=snapshot, size=path.stat().st_size)
    repo.publish_index(entry, hashes)
    return f"indexed snapshot {entry.short} ({entry.time}) from its bundle"


def _leftovers(repo: Repository, listing: Listing, result: CheckResult, repair: bool) -> None:
    """Notes (and with `repair` removal) of what interrupted writes and forgets leave."""
    if listing.unindexed and not repair:
        result.problems += [
            f"bundle {s[:8]} has no index entry (a backup stopped before its entry, or one "
            "running now): `pfx check --repair` indexes it"
            for s in listing.unindexed
        ]
    if listing.stale:
        result.notes.append(
            f"{len(listing.stale)} index entries name forgotten snapshots (dropped by the next "
            "compaction or --repair)"
        )
    if listing.partial:
        result.notes.append(f"{len(listing.partial)} temporary files of interrupted writes")
    orphans = [s for s in listing.check_objects if s not in listing.sizes]
    if orphans:
        result.notes.append(f"{len(orphans)} checks name snapshots that are gone")
    if not repair:
        return
    if repo.compact(repo.listing(), force=True):
        result.repaired.append("packed the index into one object (stale entries dropped)")
    # Record packs no index pack points at any more: only --repair deletes them (a backup's
    # compaction writes a record pack before the index pack naming it, so like restic's
    # prune, --repair is run when no backup is).
    used = set(repo.listing().records_in.values())
    unused = [name for name in repo.store.list(RECORD_PACKS) if name not in used]
    leftovers = listing.partial + [n for s in orphans for n in listing.check_objects[s]]
    leftovers += unused
    leftovers += [records_name(e.id) for e in listing.stale]
    repo.delete_objects(leftovers)
    if leftovers:
        result.repaired.append(f"removed {len(leftovers)} leftover objects")
