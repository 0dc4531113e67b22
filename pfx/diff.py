"""Differences between two sets of records, pure: added, removed, changed field by field.

Both sides are compared in portable form (ids replaced by natural-key tokens, server fields
dropped, each kind's own comparison), so two servers compare. Secret values never appear:
a secret that both sides hold in clear and that differs is only said to have changed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence, Set
from dataclasses import dataclass, field
from typing import Literal

from pfx.ids import portable
from pfx.jsontypes import JSON, JSONObject
from pfx.kinds import ORDER, kind_named
from pfx.kinds.base import Kind
from pfx.model import Record
from pfx.plan import bundle_index, differing
from pfx.secrets import MASK

Status = Literal["added", "removed", "changed"]


@dataclass(frozen=True)
class Change:
    """One field that differs: dotted path, old and new value (None for a secret)."""

    path: str
    old: JSON = None
    new: JSON = None
    secret: bool = False

    def as_json(self) -> JSONObject:
        if self.secret:
            return {"path": self.path, "secret": "changed"}
        return {"path": self.path, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class RecordDiff:
    """A record that is only on one side, or on both with different content."""

    kind: str
    key: tuple[str, ...]
    status: Status
    changes: tuple[Change, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.kind} {'/'.join(self.key)}"

    def as_json(self) -> JSONObject:
        out: JSONObject = {"kind": self.kind, "key": list(self.key), "status": self.status}
        if self.status == "changed":
            out["changes"] = [c.as_json() for c in self.changes]
        return out


@dataclass
class Diff:
    """Every difference, in bundle order, and how many records were equal."""

    left: str
    right: str
    records: list[RecordDiff] = field(default_factory=list)
    equal: int = 0

    @property
    def same(self) -> bool:
        return not self.records

    def counts(self) -> dict[str, int]:
        out = {"added": 0, "removed": 0, "changed": 0, "equal": self.equal}
        for r in self.records:
            out[r.status] += 1
        return out

    def as_json(self) -> JSONObject:
        return {
            "left": self.left,
            "right": self.right,
            "equal": self.same,
            "counts": dict(self.counts()),
            "records": [r.as_json() for r in self.records],
        }


def diff_records(
    left: Sequence[Record], right: Sequence[Record], *, names: tuple[str, str]
) -> Diff:
    """What changes from `left` to `right` (see module doc); `names` label the two sides."""
    left, right = list(left), list(right)  # bundle records decode on each access
    tokens_l, tokens_r = bundle_index(left).tokens(), bundle_index(right).tokens()
    pairs, only_l, only_r = _pair(left, right, tokens_l, tokens_r)
    result = Diff(*names)
    found: list[RecordDiff] = []
    for a, b in pairs:
        changes = record_changes(a, b, tokens_l, tokens_r)
        if changes:
            found.append(RecordDiff(a.kind, a.key, "changed", tuple(changes)))
        else:
            result.equal += 1
    found += [RecordDiff(r.kind, r.key, "removed") for r in only_l]
    found += [RecordDiff(r.kind, r.key, "added") for r in only_r]
    result.records = sorted(found, key=lambda d: (ORDER.get(d.kind, len(ORDER)), d.kind, d.key))
    return result


def record_changes(
    a: Record, b: Record, tokens_a: dict[str, str], tokens_b: dict[str, str]
) -> list[Change]:
    """Field-level changes from record `a` to record `b` of the same resource."""
    kind = kind_named(a.kind)
    ours, theirs = _shape(a, tokens_a), _shape(b, tokens_b)
    secret = _secret_paths(a) | _secret_paths(b)
    changes: list[Change] = []
    for name in differing(kind, ours, theirs):
        changes += leaf_changes(ours.get(name), theirs.get(name), name, secret)
    return changes


def destination_changes(
    record: Record, dest: JSONObject, ours: dict[str, str], theirs: dict[str, str]
) -> list[Change]:
    """Field-level changes from a destination item (server JSON) to the bundle's record: what
    an update would write. `ours`/`theirs` are the two sides' id tokens."""
    kind = kind_named(record.kind)
    old = portable(kind.kept(dest), theirs)
    assert isinstance(old, dict)
    new = _shape(record, ours)
    changes: list[Change] = []
    for name in differing(kind, old, new):
        changes += leaf_changes(old.get(name), new.get(name), name, _secret_paths(record))
    return changes


def leaf_changes(old: JSON, new: JSON, path: str, secret: Set[str] = frozenset()) -> list[Change]:
    """The innermost differing values under `path` (objects recurse; lists compare whole)."""
    # A masked value (withheld, or read without secrets) cannot be compared: it counts as equal.
    if old == new or MASK in (old, new):
        return []
    if _is_secret(path, secret):
        return [Change(path, secret=True)]
    both = isinstance(old, dict) and isinstance(new, dict)
    if not both and any(p.startswith(path + ".") for p in secret):
        # A parent of a secret that changed type would show the secret in its old or new
        # value: said to have changed, never shown.
        return [Change(path, secret=True)]
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[Change] = []
        for k in sorted(old.keys() | new.keys()):
            out += leaf_changes(old.get(k), new.get(k), f"{path}.{k}", secret)
        return out
    return [Change(path, old, new)]


def _shape(record: Record, tokens: dict[str, str]) -> JSONObject:
    value = portable(record.data, tokens)
    assert isinstance(value, dict)
    return value


def _secret_paths(record: Record) -> set[str]:
    return set(record.secrets.fields) if record.secrets else set()


def _is_secret(path: str, secret: Set[str]) -> bool:
    for p in secret:
        base = p.removesuffix(".*")
        if path == base or path.startswith(base + "."):
            return True
    return False


def _pair(
    left: list[Record],
    right: list[Record],
    tokens_l: dict[str, str],
    tokens_r: dict[str, str],
) -> tuple[list[tuple[Record, Record]], list[Record], list[Record]]:
    """Records that name the same resource on both sides, and those only on one.

    Unique kinds pair by key. Kinds without unique names (automations) pair within a name:
    equal content first, then the rest in key order, like the import plan.
    """
    right_by = {(r.kind, r.key): r for r in right if kind_named(r.kind).unique_key}
    pairs: list[tuple[Record, Record]] = []
    only_l: list[Record] = []
    loose_l: dict[tuple[str, tuple[str, ...]], list[Record]] = defaultdict(list)
    loose_r: dict[tuple[str, tuple[str, ...]], list[Record]] = defaultdict(list)
    for r in right:
        if not kind_named(r.kind).unique_key:
            loose_r[(r.kind, r.key[:-1])].append(r)
    for a in left:
        if not kind_named(a.kind).unique_key:
            loose_l[(a.kind, a.key[:-1])].append(a)
            continue
        b = right_by.pop((a.kind, a.key), None)
        if b is None:
            only_l.append(a)
        else:
            pairs.append((a, b))
    only_r = list(right_by.values())
    for name in sorted(loose_l.keys() | loose_r.keys()):
        lefts, rights = loose_l.get(name, []), list(loose_r.get(name, []))
        kind = kind_named(name[0])
        waiting: list[Record] = []
        for a in lefts:
            hit = next((b for b in rights if _equal(kind, a, b, tokens_l, tokens_r)), None)
            if hit is None:
                waiting.append(a)
            else:
                rights.remove(hit)
                pairs.append((a, hit))
        for a, b in zip(waiting, rights, strict=False):
            pairs.append((a, b))
        only_l += waiting[len(rights) :]
        only_r += rights[len(waiting) :]
    return pairs, only_l, only_r


def _equal(
    kind: Kind, a: Record, b: Record, tokens_a: dict[str, str], tokens_b: dict[str, str]
) -> bool:
    return not differing(kind, _shape(a, tokens_a), _shape(b, tokens_b))
