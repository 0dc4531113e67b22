"""The diff pipeline: read both sides (each a bundle file or a live server) and diff.

A live side is read by the read phase (pfx.server.reading) as an export reads it, in memory
(secret values withheld), with what that server accepts: a bundle and a live server compare
as a dry-run import of the bundle there plans (pfx.diff), whichever side each is on (`diff
BUNDLE -p PROFILE`, what changed there since the bundle; `diff --left-profile PROFILE
BUNDLE`, what importing it would change). A partial bundle is compared with what its own
selectors pick on the other side. `include`/`exclude` narrow both sides as import's selectors
narrow a bundle (with what picked records need), and `envmap` maps the side an import would
bring as import maps it (pfx.mapping): the bundle, or the left side of two bundles or of two
servers. With a passphrase, sealed bundles are authenticated and two bundles' secret values
compared by value (pfx.secretdiff), never shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pfx.authenticity import given_keys
from pfx.bundlefile import read_bundle
from pfx.comparison import build_inventory
from pfx.diff import Diff, diff_records, reversed_diff, with_prune
from pfx.errors import UsageError
from pfx.graph import build_graph
from pfx.jsontypes import JSONObject
from pfx.kinds.base import Destination
from pfx.mapping import EnvMap, apply_mapping
from pfx.model import Manifest, Record
from pfx.outcomes import predict
from pfx.plan import plan_import
from pfx.prune import prune_after
from pfx.scope import scope_of, selection_of
from pfx.sealing import Keys
from pfx.secretdiff import secret_changes, with_secret_changes
from pfx.select import parse_selector, select, unmatched
from pfx.watching import Conduct

__all__ = ["diff_sources", "narrow"]

Ident = tuple[str, tuple[str, ...]]


@dataclass
class _Side:
    """One side of a diff: its records, its name, and what is known of where they came from."""

    records: list[Record]
    name: str
    manifest: Manifest | None = None
    keys: Keys | None = None
    destination: Destination | None = None
    notes: list[str] = field(default_factory=list)
    # A live side's items as read, by kind (what `import --prune` decides from).
    raw: dict[str, list[JSONObject]] | None = None


def diff_sources(
    left: Path | None = None,
    right: Path | None = None,
    profile: str | None = None,
    *,
    left_profile: str | None = None,
    concurrency: int = 8,
    passphrase: str | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    envmap: EnvMap | None = None,
    conduct: Conduct | None = None,
) -> Diff:
    """What changes from the left side to the right: bundle `left` or the server of
    `left_profile`, to bundle `right` or the server of `profile`. With the `passphrase`,
    sealed bundles are authenticated first, and secret values that both bundles hold (in
    clear or encrypted) are compared by value, never shown. See the module doc for
    `include`, `exclude` and `envmap`."""
    if left is not None and left_profile is not None:
        raise UsageError("the left side is a bundle or --left-profile, not both")
    if right is not None and profile is not None:
        raise UsageError("the right side is a bundle or -p PROFILE, not both")
    if left is None and left_profile is None:
        raise UsageError("diff needs a left side: a bundle, or --left-profile PROFILE")
    if right is None and profile is None:
        raise UsageError("diff needs a right side: a second bundle, or -p PROFILE")
    for selector in (*include, *exclude):
        parse_selector(selector)  # a bad selector is refused before any server is read
    old = (
        _bundle(left, passphrase) if left is not None else _live(left_profile, concurrency, conduct)
    )
    new = _bundle(right, passphrase) if right is not None else _live(profile, concurrency, conduct)
    if old.manifest is None and new.manifest is not None:
        # A live server on the left of a bundle: compared in the plan's frame (the bundle
        # brought to that server), then seen from the left.
        return reversed_diff(_compare(new, old, include, exclude, envmap))
    return _compare(old, new, include, exclude, envmap)


def _compare(
    old: _Side,
    new: _Side,
    include: Sequence[str],
    exclude: Sequence[str],
    envmap: EnvMap | None,
) -> Diff:
    """What changes from `old` (the side an import would bring) to `new`."""
    ours, theirs = old.records, new.records
    if new.manifest is not None:
        ours = narrow(ours, new.manifest, new.records)
    if old.manifest is not None:
        theirs = narrow(theirs, old.manifest, old.records)
    ours, theirs, notes = _prepare(ours, theirs, include, exclude, envmap)
    found = diff_records(ours, theirs, names=(old.name, new.name), destination=new.destination)
    found.notes = notes
    if old.manifest is not None and new.raw is not None and not (include or exclude or envmap):
        return _with_prune(found, old.manifest, old.records, new)
    if old.manifest is None or new.manifest is None:
        # A live server is read with secrets withheld: only two bundles compare secrets.
        return found
    return with_secret_changes(found, secret_changes(ours, theirs, old.keys, new.keys))


def _bundle(path: Path, passphrase: str | None) -> _Side:
    read = read_bundle(path)
    keys = given_keys(read.manifest, passphrase)
    return _Side(list(read.records), str(path), read.manifest, keys)


def _live(profile: str | None, concurrency: int, conduct: Conduct | None) -> _Side:
    from pfx.server.reading import read_live

    live = read_live(profile, concurrency=concurrency, openapi=True, conduct=conduct)
    name = f"{live.source.profile or 'server'} (live, {live.source.url})"
    return _Side(live.records, name, destination=live.destination, raw=live.raw)


def _prepare(
    ours: list[Record],
    theirs: list[Record],
    include: Sequence[str],
    exclude: Sequence[str],
    envmap: EnvMap | None,
) -> tuple[list[Record], list[Record], list[str]]:
    """Both sides as the selectors pick them (each with what its picked records need, and
    the other side's counterparts), the left one mapped; and the map's notes.

    Selectors use the left side's names before the map renames them, as import's do. Each
    selector must match a record on one side or the other (a typo is no silent no-op)."""
    notes: list[str] = []
    mapped = ours
    if envmap is not None:
        result = apply_mapping(ours, envmap)  # same order and count as `ours`
        mapped, notes = result.records, result.notes
    if not include and not exclude:
        return mapped, theirs, notes
    unmatched(
        ("--include", [parse_selector(s) for s in include]),
        ("--exclude", [parse_selector(s) for s in exclude]),
        records=[*ours, *theirs],
        where=" on either side",
    )

    def picked(records: list[Record]) -> set[int]:
        chosen = select(records, include, exclude, available=lambda *_: True, require_match=False)
        wanted = {(r.kind, r.key) for r in chosen.records}
        return {i for i, r in enumerate(records) if (r.kind, r.key) in wanted}

    keep: set[Ident] = {(mapped[i].kind, mapped[i].key) for i in picked(ours)}
    keep |= {(theirs[i].kind, theirs[i].key) for i in picked(theirs)}
    return (
        [r for r in mapped if (r.kind, r.key) in keep],
        [r for r in theirs if (r.kind, r.key) in keep],
        notes,
    )


def _with_prune(found: Diff, manifest: Manifest, records: list[Record], live: _Side) -> Diff:
    """`found` (a bundle against a live server) with each record only on the live side marked
    as `import --prune --on-conflict update` treats it: its plan and predicted outcomes, and
    the same decision (pfx.prune). Not with --include/--exclude/--map (no marks then)."""
    added = any(r.status == "added" for r in found.records)
    if live.raw is None or live.destination is None or not added:
        return found
    inventory = build_inventory(live.raw)
    graph = build_graph(records)
    plan = plan_import(records, graph, inventory, policy="update", destination=live.destination)
    predicted = predict(plan, graph)
    scope = scope_of(manifest)
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
