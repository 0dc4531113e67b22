"""The diff pipeline: read both sides (bundle files, or a bundle and a live server) and diff.

The live side is read by the read phase (pfx.server.reading) as an export reads it, in memory
(secret values withheld), with what that server accepts, so that `diff -p` compares as a
dry-run import there plans (pfx.diff). A partial bundle is compared with what its own
selectors pick on the other side. With a passphrase, sealed bundles are authenticated and
two bundles' secret values compared by value (pfx.secretdiff), never shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pfx.authenticity import given_keys
from pfx.bundlefile import read_bundle
from pfx.diff import Diff, diff_records
from pfx.errors import UsageError
from pfx.model import Manifest, Record
from pfx.secretdiff import secret_changes, with_secret_changes
from pfx.select import select
from pfx.watching import Conduct

__all__ = ["diff_sources", "narrow"]


def diff_sources(
    left: Path,
    right: Path | None = None,
    profile: str | None = None,
    *,
    concurrency: int = 8,
    passphrase: str | None = None,
    conduct: Conduct | None = None,
) -> Diff:
    """What changes from bundle `left` to bundle `right`, or to the server of `profile`.
    With the `passphrase`, sealed bundles are authenticated first, and secret values that
    both bundles hold (in clear or encrypted) are compared by value, never shown."""
    if (right is None) == (profile is None):
        raise UsageError("diff needs a second bundle or -p PROFILE (one of them, not both)")
    old = read_bundle(left)
    keys_old = given_keys(old.manifest, passphrase)
    if right is not None:
        new = read_bundle(right)
        keys_new = given_keys(new.manifest, passphrase)
        ours = narrow(old.records, new.manifest, new.records)
        theirs = narrow(new.records, old.manifest, old.records)
        found = diff_records(ours, theirs, names=(str(left), str(right)))
        # A live server is read with secrets withheld: only two bundles compare secrets.
        return with_secret_changes(found, secret_changes(ours, theirs, keys_old, keys_new))
    from pfx.server.reading import read_live

    live = read_live(profile, concurrency=concurrency, openapi=True, conduct=conduct)
    name = f"{live.source.profile or 'server'} (live, {live.source.url})"
    narrowed = narrow(live.records, old.manifest, old.records)
    return diff_records(
        old.records, narrowed, names=(str(left), name), destination=live.destination
    )


def narrow(
    records: Sequence[Record], manifest: Manifest, partial: Sequence[Record]
) -> list[Record]:
    """`records` as the selectors of a partial bundle (`manifest`, `partial`) pick them, plus
    the counterparts of its records; all of them when that bundle is whole."""
    sel = manifest.selection
    if sel is None:
        return list(records)
    picked = select(
        records, sel.include, sel.exclude, available=lambda *_: True, require_match=False
    )
    keep = {(r.kind, r.key) for r in picked.records} | {(r.kind, r.key) for r in partial}
    return [r for r in records if (r.kind, r.key) in keep]
