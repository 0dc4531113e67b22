"""The backup pipeline: check the repository, export, compare with the newest snapshot,
publish (or record that nothing changed), then apply retention; and `forget` alone.

Nothing is written before the repository has answered and proved to be this server's (or
empty), and retention runs only after the backup itself succeeded.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pfx.bundlefile import read_bundle
from pfx.errors import UsageError
from pfx.exporting import ExportResult, export_bundle
from pfx.model import SecretsMode
from pfx.profiles import Target, resolve
from pfx.repository.hashes import record_hashes, snapshot_entry
from pfx.repository.model import Changes, RecordHash, SnapshotEntry
from pfx.repository.repo import (
    Listing,
    Repository,
    new_id,
    open_repository,
    server_identity,
)
from pfx.repository.retention import Decision, Policy, Snapshot, apply_policy
from pfx.repository.store import Missing
from pfx.watching import Conduct

WITHHELD_NOTE = (
    "secret values withheld: no passphrase (set PFX_PASSPHRASE or --passphrase-file to keep "
    "them, encrypted)"
)


__all__ = ["BackupResult", "Retention", "backup", "forget"]


@dataclass
class Retention:
    """What a retention pass decided and did."""

    policy: Policy
    decisions: list[Decision] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)
    dry_run: bool = False


@dataclass
class BackupResult:
    """What one backup did: a new snapshot, or the one the server is unchanged since."""

    repository: str
    entry: SnapshotEntry
    unchanged: bool
    created_repository: bool
    export: ExportResult
    retention: Retention
    dry_run: bool = False
    notes: list[str] = field(default_factory=list)


def choose_secrets(secrets: SecretsMode | None, passphrase: str | None) -> SecretsMode:
    """`--secrets` as given, else encrypted with a passphrase and withheld without one."""
    if secrets is not None:
        return secrets
    return "encrypted" if passphrase else "withheld"


def backup(
    repository: str,
    profile: str | None = None,
    *,
    target: Target | None = None,
    secrets: SecretsMode | None = None,
    passphrase: str | None = None,
    policy: Policy | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    dry_run: bool = False,
    concurrency: int = 8,
    conduct: Conduct | None = None,
) -> BackupResult:
    """Back up `profile`'s server (or `target`) into `repository` (see module doc)."""
    policy = policy or Policy()
    mode = choose_secrets(secrets, passphrase)
    repo = open_repository(repository, create=True)
    target = target or resolve(profile)
    _same_server(repo, server_identity(target.public_url))
    notes = [WITHHELD_NOTE] if mode == "withheld" and secrets is None else []
    with tempfile.TemporaryDirectory(prefix="pfx-backup-") as tmp:
        path = Path(tmp) / "snapshot.pfx"
        exported = export_bundle(
            path,
            profile,
            target=target,
            secrets=mode,
            passphrase=passphrase if mode == "encrypted" else None,
            concurrency=concurrency,
            conduct=conduct,
            include=include,
            exclude=exclude,
        )
        return store_bundle(
            repo, exported, passphrase=passphrase, policy=policy, dry_run=dry_run, notes=notes
        )


def store_bundle(
    repo: Repository,
    exported: ExportResult,
    *,
    passphrase: str | None = None,
    policy: Policy | None = None,
    dry_run: bool = False,
    notes: Sequence[str] = (),
) -> BackupResult:
    """Store an exported bundle as a snapshot of `repo` (or record that the server is
    unchanged since the newest one), then apply `policy`: the second half of `backup`."""
    policy = policy or Policy()
    notes = list(notes)
    # Every bundle pfx writes, pfx reads back: the snapshot is verified before it is stored.
    bundle = read_bundle(exported.path)
    manifest = bundle.manifest
    identity = server_identity(manifest.source.url)
    _same_server(repo, identity)
    created_repository = repo.config is None
    if repo.config is None and not dry_run:
        repo.create(identity, manifest.created)
    salt = repo.salt if repo.config is not None else b"\0" * 16
    hashes = record_hashes(bundle, passphrase, salt)
    listing = repo.listing() if not created_repository else Listing([])
    selection = manifest.selection
    include = list(selection.include) if selection else None
    exclude = list(selection.exclude) if selection else None
    parent = listing.entries[-1] if listing.entries else None
    old = _parent_hashes(repo, parent, listing)
    if parent is not None and old is not None and _same(parent, include, exclude, old, hashes):
        if not dry_run:
            repo.record_check(parent.id, manifest.created, listing)
        retention = apply_retention(repo, listing, listing.entries, policy, dry_run)
        return BackupResult(repo.url, parent, True, False, exported, retention, dry_run, notes)
    entry = snapshot_entry(
        bundle,
        passphrase,
        id=new_id(),
        size=exported.size,
        parent=parent.id if parent is not None else None,
        changes=changes_between(old, hashes) if old is not None else None,
    )
    if not dry_run:
        repo.publish(entry, exported.path, hashes)
    retention = apply_retention(repo, listing, [*listing.entries, entry], policy, dry_run)
    if not dry_run and not retention.forgotten:
        # The index is packed now and then; a pass that forgot snapshots leaves it to the next.
        repo.compact(repo.listing())
    return BackupResult(
        repo.url, entry, False, created_repository, exported, retention, dry_run, notes
    )


def _same_server(repo: Repository, identity: str) -> None:
    """Refuse a repository that holds another server's snapshots (before anything is read)."""
    if repo.config is not None and repo.config.source != identity:
        raise UsageError(
            f"repository {repo.url} holds the snapshots of {repo.config.source}, not of "
            f"{identity}: use one repository (prefix) per server"
        )


def _parent_hashes(
    repo: Repository, parent: SnapshotEntry | None, listing: Listing
) -> list[RecordHash] | None:
    if parent is None:
        return None
    try:
        return repo.read_records(parent.id, listing)
    except (ValueError, Missing):
        return None  # damaged or missing hashes: the new snapshot is compared with nothing


def _same(
    parent: SnapshotEntry,
    include: list[str] | None,
    exclude: list[str] | None,
    old: list[RecordHash],
    new: list[RecordHash],
) -> bool:
    """The server as the parent snapshot holds it: same selection, same records, same hashes."""
    if (parent.include, parent.exclude) != (include, exclude) or len(old) != len(new):
        return False
    return all(a.ident == b.ident and a.hash == b.hash for a, b in zip(old, new, strict=True))


def changes_between(old: Sequence[RecordHash], new: Sequence[RecordHash]) -> Changes:
    """Records added, removed and changed from `old` to `new` (by kind and key)."""
    before = {h.ident: h.hash for h in old}
    after = {h.ident: h.hash for h in new}
    return Changes(
        added=sum(1 for k in after if k not in before),
        removed=sum(1 for k in before if k not in after),
        changed=sum(1 for k, v in after.items() if k in before and before[k] != v),
    )


def apply_retention(
    repo: Repository,
    listing: Listing,
    entries: Sequence[SnapshotEntry],
    policy: Policy,
    dry_run: bool,
) -> Retention:
    """Decide with the policy over `entries` and forget what it does not keep."""
    result = Retention(policy, dry_run=dry_run)
    if policy.empty:
        return result
    snaps = [Snapshot(e.id, e.at, server_identity(e.source.url)) for e in entries]
    result.decisions = apply_policy(snaps, policy)
    for decision in result.decisions:
        if not decision.keep:
            if not dry_run:
                repo.forget(decision.id, listing)
            result.forgotten.append(decision.id)
    return result


def forget(repository: str, policy: Policy, *, dry_run: bool = False) -> Retention:
    """Apply `policy` to a repository without backing up (`pfx forget`)."""
    if policy.empty:
        raise UsageError("forget needs a policy: at least one --keep-* option")
    repo = open_repository(repository)
    listing = repo.listing()
    return apply_retention(repo, listing, listing.entries, policy, dry_run)
