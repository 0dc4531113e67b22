"""Differences between two sets of records, pure: added, removed, changed field by field.

Records pair and compare by pfx.comparison, as the import plan pairs and compares them: a
record `diff` calls changed is one the plan finds differing, in the same fields, and a live
side's named losses (fields that server cannot hold) are no difference either. A record on one
side only comes with its content (portable: ids as natural keys). Secret values never appear:
they are MASK in content, and a secret that both sides hold in clear and that differs is only
said to have changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from pfx.comparison import (
    bundle_index,
    compared,
    differing,
    field_changes,
    match,
    portable_shape,
    records_inventory,
)
from pfx.jsontypes import JSON, JSONObject
from pfx.kinds import ORDER, kind_named
from pfx.kinds.base import Destination
from pfx.model import Record
from pfx.sameness import Change, is_secret
from pfx.secrets import MASK

Status = Literal["added", "removed", "changed"]


@dataclass(frozen=True)
class RecordDiff:
    """A record that is only on one side, or on both with different content."""

    kind: str
    key: tuple[str, ...]
    status: Status
    # Top-level fields that differ, as the import plan names them; and their values.
    fields: tuple[str, ...] = ()
    changes: tuple[Change, ...] = ()
    # An added or removed record's data as its side holds it (portable, secrets MASK).
    content: JSONObject | None = None

    @property
    def label(self) -> str:
        return f"{self.kind} {'/'.join(self.key)}"

    def as_json(self) -> JSONObject:
        out: JSONObject = {"kind": self.kind, "key": list(self.key), "status": self.status}
        if self.status == "changed":
            out["fields"] = list(self.fields)
            out["changes"] = [c.as_json() for c in self.changes]
        elif self.content is not None:
            out["content"] = self.content
        return out


STATUSES: tuple[Status, ...] = ("added", "removed", "changed")


@dataclass
class Diff:
    """Every difference, in bundle order, how many records of each kind were equal, and
    notes on how the sides were prepared (a map's entries that named nothing)."""

    left: str
    right: str
    records: list[RecordDiff] = field(default_factory=list)
    equal_by_kind: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def same(self) -> bool:
        return not self.records

    @property
    def equal(self) -> int:
        return sum(self.equal_by_kind.values())

    def counts(self) -> dict[str, int]:
        out = {"added": 0, "removed": 0, "changed": 0, "equal": self.equal}
        for r in self.records:
            out[r.status] += 1
        return out

    def by_kind(self) -> dict[str, dict[str, int]]:
        """Per kind (in bundle order), records added, removed, changed and equal."""
        table: dict[str, dict[str, int]] = {}
        for kind, n in self.equal_by_kind.items():
            table.setdefault(kind, dict.fromkeys((*STATUSES, "equal"), 0))["equal"] += n
        for r in self.records:
            table.setdefault(r.kind, dict.fromkeys((*STATUSES, "equal"), 0))[r.status] += 1
        return dict(sorted(table.items(), key=lambda kv: ORDER.get(kv[0], len(ORDER))))

    def as_json(self) -> JSONObject:
        by_kind: JSONObject = {k: dict(v) for k, v in self.by_kind().items()}
        return {
            "left": self.left,
            "right": self.right,
            "equal": self.same,
            "counts": dict(self.counts()),
            "kinds": by_kind,
            "records": [r.as_json() for r in self.records],
            "notes": list(self.notes),
        }


def reversed_diff(diff: Diff) -> Diff:
    """`diff` seen from its other side: what changes from its right to its left."""
    flip: dict[Status, Status] = {"added": "removed", "removed": "added", "changed": "changed"}
    records = [
        replace(r, status=flip[r.status], changes=tuple(c.reversed() for c in r.changes))
        for r in diff.records
    ]
    records.sort(key=lambda d: (ORDER.get(d.kind, len(ORDER)), d.kind, d.key))
    return Diff(diff.right, diff.left, records, dict(diff.equal_by_kind), list(diff.notes))


def content_of(record: Record, tokens: dict[str, str]) -> JSONObject:
    """A record's data to show: portable (ids as natural keys), every secret value MASK."""
    secret = set(record.secrets.fields) if record.secrets else set()
    data = portable_shape(record.data, tokens)
    if not secret:
        return data
    masked = _masked(data, "", secret)
    assert isinstance(masked, dict)
    return masked


def _masked(value: JSON, path: str, secret: set[str]) -> JSON:
    if path and is_secret(path, secret):
        return MASK
    if isinstance(value, dict):
        return {k: _masked(v, f"{path}.{k}" if path else k, secret) for k, v in value.items()}
    return value


def diff_records(
    left: Sequence[Record],
    right: Sequence[Record],
    *,
    names: tuple[str, str],
    destination: Destination | None = None,
) -> Diff:
    """What changes from `left` to `right` (see module doc); `names` label the two sides.
    `destination`: what the right side's server holds (a live diff), whose named losses
    are no difference, as in the plan of an import there."""
    left, right = list(left), list(right)  # bundle records decode on each access
    tokens = bundle_index(left).tokens()
    theirs = records_inventory(right)
    theirs_tokens = theirs.index.tokens()

    def ours(i: int) -> JSONObject:
        return compared(left[i], destination, tokens)

    matches = match(left, theirs, ours, theirs_tokens)
    result = Diff(*names)
    found: list[RecordDiff] = []
    secret = {(r.kind, r.key): set(r.secrets.fields) for r in right if r.secrets}

    def equal(kind: str) -> None:
        result.equal_by_kind[kind] = result.equal_by_kind.get(kind, 0) + 1

    for i, a in enumerate(left):
        key = matches.get(i)
        item = None if key is None else theirs.get(a.kind, key)
        if key is None or item is None:
            found.append(RecordDiff(a.kind, a.key, "removed", content=content_of(a, tokens)))
            continue
        kind = kind_named(a.kind)
        if destination is not None and kind.owned(item, destination):
            # The live server's own (a system block type): the plan leaves it unchanged too.
            equal(a.kind)
            continue
        mine, its = ours(i), theirs.shape(kind, item, theirs_tokens)
        fields = differing(kind, mine, its)
        if not fields:
            equal(a.kind)
            continue
        hidden = secret.get((a.kind, key), set()) | (set(a.secrets.fields) if a.secrets else set())
        changes = field_changes(kind, fields, mine, its, hidden)
        found.append(RecordDiff(a.kind, a.key, "changed", tuple(fields), tuple(changes)))
    paired = {(left[i].kind, key) for i, key in matches.items()}
    found += [
        RecordDiff(r.kind, r.key, "added", content=content_of(r, theirs_tokens))
        for r in right
        if (r.kind, r.key) not in paired
    ]
    result.records = sorted(found, key=lambda d: (ORDER.get(d.kind, len(ORDER)), d.kind, d.key))
    return result
