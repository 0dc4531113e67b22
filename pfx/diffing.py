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
from pfx.comparison import build_inventory
from pfx.diff import Diff, diff_records, with_prune
from pfx.errors import UsageError
from pfx.graph import build_graph
from pfx.model import Manifest, Record
from pfx.outcomes import predict
from pfx.plan import plan_import
from pfx.prune import prune_after
from pfx.scope import scope_of, selection_of
from pfx.secretdiff import secret_changes, with_secret_changes

__all__ = ["diff_sources", "narrow"]


def diff_sources(
    left: Path,
    right: Path | None = None,
    profile: str | None = None,
    *,
    concurrency: int = 8,
    passphrase: str | None = None,
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

    live = read_live(profile, concurrency=concurrency, openapi=True)
    name = f"{live.source.profile or 'server'} (live, {live.source.url})"
    narrowed = narrow(live.records, old.manifest, old.records)
    found = diff_records(
        old.records, narrowed, names=(str(left), name), destination=live.destination
    )
    if not any(r.status == "added" for r in found.records):
        return found
    # What `import --prune --on-conflict update` does with each record only on the live
    # side: its plan and predicted outcomes, and the same decision (pfx.prune).
    inventory = build_inventory(live.raw)
    graph = build_graph(old.records)
    plan = plan_import(old.records, graph, inventory, policy="update", destination=live.destination)
    predicted = predict(plan, graph)
    scope = scope_of(old.manifest)
    return with_prune(found, prune_after(plan, predicted, inventory, scope, live.destination))


def narrow(
    records: Sequence[Record], manifest: Manifest, partial: Sequence[Record]
) -> list[Record]:
    """`records` as the selectors of a partial bundle (`manifest`, `partial`) choose them
    (pfx.scope: without the closure, as `import --prune` scopes them), plus the counterparts
    of its records; all of them when that bundle is whole."""
    if manifest.selection is None:
        return list(records)
    scope = selection_of(manifest)
    keep = {(r.kind, r.key) for r in partial}
    return [r for r in records if (r.kind, r.key) in keep or scope.unchosen(r) is None]
