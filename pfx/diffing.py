"""The diff pipeline: read both sides (bundle files, or a bundle and a live server) and diff.

The live side is read as an export would read it, in memory (secret values withheld).
"""

from __future__ import annotations

from pathlib import Path

from pfx.bundlefile import read_bundle
from pfx.diff import Diff, diff_records
from pfx.errors import UsageError


def diff_sources(
    left: Path, right: Path | None = None, profile: str | None = None, *, concurrency: int = 8
) -> Diff:
    """What changes from bundle `left` to bundle `right`, or to the server of `profile`."""
    if (right is None) == (profile is None):
        raise UsageError("diff needs a second bundle or -p PROFILE (one of them, not both)")
    old = read_bundle(left)
    if right is not None:
        new = read_bundle(right)
        return diff_records(list(old.records), list(new.records), names=(str(left), str(right)))
    from pfx.exporting import read_records

    records, _, source = read_records(profile, concurrency=concurrency)
    name = f"{source.profile or 'server'} (live, {source.url})"
    return diff_records(list(old.records), records, names=(str(left), name))
