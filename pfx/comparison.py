"""Comparing records with what another side holds, pure: the other side's inventory, which of
its items is which record (pairing, also for kinds without unique names), the portable shape
both are compared in, and the fields and values that differ.

The one place where the import plan, `pfx diff` and replay's read-backs compare, so they
agree by construction. Values compare by pfx.sameness (the one value comparator); a kind that
holds secrets (block documents) compares in its masked mode.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence, Set
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from pfx.ids import Index, portable
from pfx.jsontypes import JSONObject
from pfx.keying import key_items
from pfx.kinds import kind_named
from pfx.kinds.base import Destination, Kind
from pfx.losses import record_losses, without
from pfx.model import Record
from pfx.records import RecordLines
from pfx.sameness import Change, changed, differing_fields, hides_secret, leaf_changes

Key = tuple[str, ...]
A = TypeVar("A")
B = TypeVar("B")


@dataclass
class Inventory:
    """One side's items by kind and natural key, and its id index. The items are server JSON
    (a destination) or, when `kept`, records' data as export keeps it (a bundle)."""

    items: dict[str, dict[Key, JSONObject]] = field(default_factory=dict)
    index: Index = field(default_factory=Index)
    kept: bool = False

    def get(self, kind: str, key: Key) -> JSONObject | None:
        return self.items.get(kind, {}).get(key)

    def shape(self, kind: Kind, item: JSONObject, tokens: dict[str, str]) -> JSONObject:
        """`item` (one of this side's) in portable form: kept data, ids as natural keys."""
        return portable_shape(item if self.kept else kind.kept(item), tokens)


def build_inventory(raw: dict[str, list[JSONObject]]) -> Inventory:
    """A server's inventory: every own item keyed the way export keys source items."""
    inventory = Inventory()
    for kind, key, item in key_items(raw, inventory.index, skipped=[]):
        inventory.items.setdefault(kind.name, {})[key] = item
    return inventory


def records_inventory(records: Sequence[Record]) -> Inventory:
    """A bundle's records as the other side of a comparison (`diff` of two bundles)."""
    inventory = Inventory(index=bundle_index(records), kept=True)
    for record in records:
        inventory.items.setdefault(record.kind, {})[record.key] = record.data
    return inventory


def bundle_index(records: Sequence[Record]) -> Index:
    """The natural keys of records' source ids (a bundle's records are not decoded)."""
    index = Index()
    for kind, key, ident in _idents(records):
        index.add(kind, key, ident)
    return index


def _idents(records: Sequence[Record]) -> Iterator[tuple[str, Key, str | None]]:
    """(kind, key, id) of each record: from a bundle's resident heads, else the records."""
    if isinstance(records, RecordLines):
        return ((h.kind, h.key, h.id) for h in records.heads)
    return ((r.kind, r.key, r.id) for r in records)


def portable_shape(data: JSONObject, tokens: dict[str, str]) -> JSONObject:
    """`data` with every known id replaced by the token naming its item (ids.portable)."""
    value = portable(data, tokens)
    assert isinstance(value, dict)
    return value


def compared(record: Record, destination: Destination | None, tokens: dict[str, str]) -> JSONObject:
    """The record's data as it is compared with a destination's item: portable, and without
    what `destination` cannot hold (named losses, pfx.losses: not differences). None: no
    destination (two bundles), every field compares."""
    if destination is None:
        return portable_shape(record.data, tokens)
    lost = record_losses(record, "create", None, destination.accepts, destination)
    return portable_shape(without(record.data, lost), tokens)


def differing(kind: Kind, ours: JSONObject, theirs: JSONObject) -> list[str]:
    """Field names that differ between two portable shapes of one resource: `ours` (the
    bundle's) and `theirs` (the destination's, or the newer side of a diff). What counts as
    the same across releases: pfx.sameness; a kind with secrets compares masked."""
    a = {k: v for k, v in ours.items() if k not in kind.ignored}
    b = {k: v for k, v in theirs.items() if k not in kind.ignored}
    if kind.compare is not None:
        return kind.compare(a, b)
    return differing_fields(a, b, masked=kind.secret_paths is not None)


def field_changes(
    kind: Kind,
    fields: Sequence[str],
    ours: JSONObject,
    theirs: JSONObject,
    secret: Set[str] = frozenset(),
    *,
    ours_is_new: bool = False,
) -> list[Change]:
    """The changed values under each of `fields` (as `differing` named them), old -> new
    (`ours` is old unless `ours_is_new`); secret values are only said to have changed."""
    masked = kind.secret_paths is not None
    changes: list[Change] = []
    for name in fields:
        mine, its = ours.get(name), theirs.get(name)
        if name not in theirs or name not in ours:
            # One side does not hold the field at all: the whole value, from or to absent.
            absent: Literal["ours", "theirs"] = "theirs" if name not in theirs else "ours"
            whole = changed(name, mine, its, ours_is_new=ours_is_new, absent=absent)
            changes.append(Change(name, secret=True) if hides_secret(name, secret) else whole)
            continue
        found = leaf_changes(mine, its, name, secret, masked=masked, ours_is_new=ours_is_new)
        if not found:
            # A kind's own comparison (schedules as a set) differs where no one value does.
            old, new = (its, mine) if ours_is_new else (mine, its)
            whole = Change(name, old, new, secret=hides_secret(name, secret))
            found = [Change(name, secret=True) if whole.secret else whole]
        changes += found
    return changes


def record_changes(
    a: Record, b: Record, tokens_a: dict[str, str], tokens_b: dict[str, str]
) -> list[Change]:
    """Field-level changes from record `a` to record `b` of the same resource (two bundles:
    `pfx log` across snapshots); secret values are only said to have changed."""
    kind = kind_named(a.kind)
    ours, theirs = portable_shape(a.data, tokens_a), portable_shape(b.data, tokens_b)
    secret = set(a.secrets.fields if a.secrets else ()) | set(b.secrets.fields if b.secrets else ())
    return field_changes(kind, differing(kind, ours, theirs), ours, theirs, secret)


def pair(
    ours: Sequence[A],
    theirs: Sequence[B],
    equal: Callable[[A, B], bool],
    *,
    by_order: bool = True,
) -> tuple[list[tuple[A, B]], list[A], list[B]]:
    """Records of one name of a kind without unique names (automations) and the other side's
    items of that name: each of `ours` takes the first unused item of equal content, then
    (`by_order`) the rest pair in order. Returns the pairs and what is left on each side."""
    used: set[int] = set()
    pairs: list[tuple[A, B]] = []
    waiting: list[A] = []
    for a in ours:
        hit = next((n for n, b in enumerate(theirs) if n not in used and equal(a, b)), None)
        if hit is None:
            waiting.append(a)
        else:
            used.add(hit)
            pairs.append((a, theirs[hit]))
    rest = [b for n, b in enumerate(theirs) if n not in used]
    if not by_order:
        return pairs, waiting, rest
    pairs += zip(waiting, rest, strict=False)
    return pairs, waiting[len(rest) :], rest[len(waiting) :]


def match(
    records: Sequence[Record],
    theirs: Inventory,
    ours: Callable[[int], JSONObject],
    tokens: dict[str, str],
) -> dict[int, Key]:
    """The key of `theirs`' item for each record ordinal that has one.

    Unique kinds match by key, else under the kind's coarser key (Kind.match_key). Kinds
    without unique names match within a name by `pair`; `ours(i)` is record i's portable
    shape as compared (named losses left out), `tokens` those of `theirs`.
    """
    matches: dict[int, Key] = {}
    loose: dict[tuple[str, Key], list[int]] = defaultdict(list)
    for i, (name, key, _) in enumerate(_idents(records)):
        kind = kind_named(name)
        if not kind.unique_key:
            loose[(name, key[:-1])].append(i)
        elif theirs.get(name, key) is not None:
            matches[i] = key
        elif (found := _loosely(kind, key, theirs)) is not None:
            matches[i] = found
    for (kind_name, named), members in loose.items():
        kind = kind_named(kind_name)
        items = theirs.items.get(kind_name, {})
        candidates = sorted(key for key in items if key[:-1] == named)
        shapes = {key: theirs.shape(kind, items[key], tokens) for key in candidates}
        pairs, _, _ = pair(members, candidates, _same_content(kind, ours, shapes))
        matches.update(pairs)
    return matches


def _same_content(
    kind: Kind, ours: Callable[[int], JSONObject], shapes: dict[Key, JSONObject]
) -> Callable[[int, Key], bool]:
    """Whether record i and the item under a key hold the same content (each record's shape
    computed once)."""
    mine: dict[int, JSONObject] = {}

    def equal(i: int, key: Key) -> bool:
        if i not in mine:
            mine[i] = ours(i)
        return not differing(kind, mine[i], shapes[key])

    return equal


def _loosely(kind: Kind, key: Key, theirs: Inventory) -> Key | None:
    """The key of `theirs`' item under the kind's coarser key (Kind.match_key), if any."""
    if kind.match_key is None:
        return None
    want = kind.match_key(key)
    found = sorted(k for k in theirs.items.get(kind.name, {}) if kind.match_key(k) == want)
    return found[-1] if found else None
