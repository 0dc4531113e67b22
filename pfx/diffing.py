"""The diff pipeline: read both sides (bundle files, or a bundle and a live server) and diff.

The live side is read by the read phase (pfx.server.reading) as an export reads it, in memory
(secret values withheld), with what that server accepts, so that `diff -p` compares as a
dry-run import there plans (pfx.diff). A partial bundle is compared with what its own
selectors pick on the other side. With a passphrase, the bundles' encrypted secret values
are opened (as import opens them) and compared like any value, never shown.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from pfx.bundle import Bundle
from pfx.bundlefile import read_bundle
from pfx.diff import Diff, diff_records
from pfx.errors import UsageError
from pfx.model import Manifest, Record
from pfx.secrets import set_path
from pfx.secretsfile import gather_secrets
from pfx.select import select

__all__ = ["diff_sources", "narrow"]

PassphraseSource = Callable[[], str]


def diff_sources(
    left: Path,
    right: Path | None = None,
    profile: str | None = None,
    *,
    passphrase: PassphraseSource | None = None,
    concurrency: int = 8,
) -> Diff:
    """What changes from bundle `left` to bundle `right`, or to the server of `profile`;
    `passphrase` is asked for only when a bundle holds encrypted secrets."""
    if (right is None) == (profile is None):
        raise UsageError("diff needs a second bundle or -p PROFILE (one of them, not both)")
    old = read_bundle(left)
    ours = opened(old, passphrase)
    if right is not None:
        new = read_bundle(right)
        return diff_records(
            narrow(ours, new.manifest, new.records),
            narrow(opened(new, passphrase), old.manifest, old.records),
            names=(str(left), str(right)),
        )
    from pfx.server.reading import read_live

    live = read_live(profile, concurrency=concurrency, openapi=True)
    name = f"{live.source.profile or 'server'} (live, {live.source.url})"
    narrowed = narrow(live.records, old.manifest, old.records)
    return diff_records(ours, narrowed, names=(str(left), name), destination=live.destination)


def opened(bundle: Bundle, passphrase: PassphraseSource | None) -> Sequence[Record]:
    """The bundle's records, with its encrypted secret values in place when a passphrase is
    given (secrets files and environment values are import's, not the bundle's)."""
    if passphrase is None or bundle.manifest.secrets.encrypted == 0:
        return bundle.records
    values = gather_secrets(bundle, passphrase=passphrase, environ={})
    records = list(bundle.records)
    for i, found in values.values.items():
        record = records[i]
        if record.secrets is None or record.secrets.mode != "encrypted":
            continue
        data = record.data
        for path, value in found.items():
            data = set_path(data, path, value)
        records[i] = record.model_copy(update={"data": data})
    return records


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
