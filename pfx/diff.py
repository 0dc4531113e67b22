"""Differences between two sets of records, pure: added, removed, changed field by field.

Records pair and compare by pfx.comparison, as the import plan pairs and compares them: a
record `diff` calls changed is one the plan finds differing, in the same fields, and a live
side's named losses (fields that server cannot hold) are no difference either. Secret values
never appear: a secret that both sides hold in clear and that differs is only said to have
changed.
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
    records_inventory,
)
from pfx.jsontypes import JSONObject
from pfx.kinds import ORDER, kind_named
from pfx.kinds.base import Destination
from pfx.model import Record
from pfx.prune import Pruning
from pfx.sameness import Change

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
    # A record only on the live side (`diff A.pfx -p P`): what `pfx import A.pfx -p P
    # --prune --on-conflict update` does with it (pfx.prune: delete, keep, leave), and why.
    prune: str | None = None
    prune_why: str = ""

    @property
    def label(self) -> str:
        return f"{self.kind} {'/'.join(self.key)}"

    def as_json(self) -> JSONObject:
        out: JSONObject = {"kind": self.kind, "key": list(self.key), "status": self.status}
        if self.status == "changed":
            out["fields"] = list(self.fields)
            out["changes"] = [c.as_json() for c in self.changes]
        if self.prune is not None:
            out["prune"] = {"action": self.prune, "why": self.prune_why}
        return out


@dataclass
class Diff:
    """Every difference, in bundle order, and how many records were equal."""

    left: str
    right: str
    records: list[RecordDiff] = field(default_factory=list)
    equal: int = 0
    # Left ordinal -> (kind, key) of the right-side record it pairs with (pfx.comparison).
    pairs: dict[int, tuple[str, tuple[str, ...]]] = field(default_factory=dict)

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
    result.pairs = {i: (left[i].kind, key) for i, key in matches.items()}
    found: list[RecordDiff] = []
    secret = {(r.kind, r.key): set(r.secrets.fields) for r in right if r.secrets}
    for i, a in enumerate(left):
        key = matches.get(i)
        item = None if key is None else theirs.get(a.kind, key)
        if key is None or item is None:
            found.append(RecordDiff(a.kind, a.key, "removed"))
            continue
        kind = kind_named(a.kind)
        if destination is not None and kind.owned(item, destination):
            # The live server's own (a system block type): the plan leaves it unchanged too.
            result.equal += 1
            continue
        mine, its = ours(i), theirs.shape(kind, item, theirs_tokens)
        fields = differing(kind, mine, its)
        if not fields:
            result.equal += 1
            continue
        hidden = secret.get((a.kind, key), set()) | (set(a.secrets.fields) if a.secrets else set())
        changes = field_changes(kind, fields, mine, its, hidden)
        found.append(RecordDiff(a.kind, a.key, "changed", tuple(fields), tuple(changes)))
    paired = {(left[i].kind, key) for i, key in matches.items()}
    found += [RecordDiff(r.kind, r.key, "added") for r in right if (r.kind, r.key) not in paired]
    result.records = sorted(found, key=lambda d: (ORDER.get(d.kind, len(ORDER)), d.kind, d.key))
    return result


def with_prune(diff: Diff, pruning: Pruning) -> Diff:
    """`diff` with each record only on the live side marked as `--prune` treats it: the
    set marked `delete` is exactly what an import with --prune (and --on-conflict update)
    deletes; `keep` names what still uses the record, `leave` why it is not in scope."""
    verdicts = {v.ident: v for v in pruning.verdicts}
    marked: list[RecordDiff] = []
    for r in diff.records:
        v = verdicts.get((r.kind, r.key))
        if r.status == "added" and v is not None:
            why = ", ".join(v.held_by) if v.action == "keep" else v.why
            r = replace(r, prune=v.action, prune_why=why)
        marked.append(r)
    return replace(diff, records=marked)
