"""The one resolver of bundle arguments: a path, or a snapshot reference (`REPO@latest`,
`REPO@<id prefix>`, `REPO@<ISO time>`) -> a local bundle file every command reads as before.

A local repository's bundle is read where it lies; an object store's is downloaded into the
caller's directory. Either way the bundle's digest must be the one its index entry names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pfx.bundlefile import read_manifest
from pfx.errors import BundleError
from pfx.repository.model import SnapshotEntry
from pfx.repository.reference import choose, parse_reference
from pfx.repository.repo import open_repository


@dataclass(frozen=True)
class Resolved:
    """A bundle argument made local: the file, and the snapshot when it named one."""

    path: Path
    snapshot: SnapshotEntry | None = None
    repository: str | None = None


def resolve_bundle(text: str, workdir: Path) -> Resolved:
    """`text` as a local bundle file (see module doc); `workdir` receives downloads."""
    path = Path(text)
    before = text.rpartition("@")[0]
    is_dir = bool(before) and Path(before).is_dir()
    ref = parse_reference(text, is_file=path.is_file(), is_dir=is_dir)
    if ref is None:
        return Resolved(path)
    repo = open_repository(ref.repo)
    entry = choose(repo.listing().entries, ref)
    local = repo.local_bundle(entry.id, workdir / f"{entry.short}.pfx")
    manifest = read_manifest(local)
    if manifest.digest != entry.digest:
        raise BundleError(
            f"snapshot {entry.short} of {repo.url}: its bundle does not match its index entry "
            "(digest differs: replaced or damaged); `pfx check` names what is wrong"
        )
    return Resolved(local, entry, repo.url)
