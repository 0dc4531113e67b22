"""A record's history across snapshots, pure: from the record hashes of consecutive snapshots,
where each selected record was present, appeared, changed or disappeared.

Only the hashes decide that something changed; which fields changed is filled in afterwards
from the two bundles of each change (logbook.py), so a record that never changed costs no
bundle read at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from pfx.comparison import record_changes
from pfx.jsontypes import JSONObject
from pfx.model import Record
from pfx.repository.model import RecordHash
from pfx.sameness import Change, leaf_changes
from pfx.select import Selector

Status = Literal["present", "appeared", "changed", "disappeared"]
Ident = tuple[str, tuple[str, ...]]


@dataclass
class Event:
    """One step of one record's history, in one snapshot."""

    kind: str
    key: tuple[str, ...]
    snapshot: str
    time: str
    status: Status
    # For `changed`: positions of the record in the previous snapshot's bundle and in this
    # one's, and then the fields that differ.
    before: tuple[str, int] | None = None
    after: int | None = None
    changes: list[Change] = field(default_factory=list)
    note: str = ""

    @property
    def label(self) -> str:
        return f"{self.kind} {'/'.join(self.key)}"

    def as_json(self) -> JSONObject:
        out: JSONObject = {"snapshot": self.snapshot, "time": self.time, "status": self.status}
        if self.status == "changed":
            out["changes"] = [c.as_json() for c in self.changes]
            if self.note:
                out["note"] = self.note
        return out


def matches(selector: Selector | None, row: RecordHash) -> bool:
    """Whether a selector picks a record known only by kind and key (tags need data)."""
    if selector is None:
        return True
    return selector.matches(Record(kind=row.kind, key=row.key, data={}))


def step(
    previous: dict[Ident, RecordHash] | None,
    current: dict[Ident, RecordHash],
    snapshot: str,
    time: str,
    previous_snapshot: str | None,
) -> list[Event]:
    """The events of one snapshot given the selected records of the one before (None: this is
    the oldest snapshot, whose records are `present`)."""
    events: list[Event] = []
    if previous is None:
        return [Event(r.kind, r.key, snapshot, time, "present") for r in current.values()]
    assert previous_snapshot is not None
    for ident, row in current.items():
        old = previous.get(ident)
        if old is None:
            events.append(Event(row.kind, row.key, snapshot, time, "appeared"))
        elif old.hash != row.hash:
            before = (previous_snapshot, old.position)
            events.append(Event(row.kind, row.key, snapshot, time, "changed", before, row.position))
    for ident, old in previous.items():
        if ident not in current:
            events.append(Event(old.kind, old.key, snapshot, time, "disappeared"))
    return events


def describe(event: Event, old: Record, new: Record) -> None:
    """Fill in which fields of `event`'s record changed from `old` to `new`."""
    event.changes = refine(record_changes(old, new, _tokens(old), _tokens(new)))
    if event.changes:
        return
    if old.id != new.id:
        event.note = "recreated: same content under a new id"
    elif new.secrets is not None and new.secrets.mode == "encrypted":
        event.changes = [Change(path, secret=True) for path in new.secrets.fields]
        event.note = "an encrypted secret value changed"
    else:
        event.note = "changed in a way a comparison ignores (order, server defaults)"


def refine(changes: list[Change]) -> list[Change]:
    """Lists of the same length compared item by item (`schedules[0].schedule.cron`), so a
    history names the value that changed rather than the whole list."""
    out: list[Change] = []
    for change in changes:
        old, new = change.old, change.new
        if change.secret or not isinstance(old, list) or not isinstance(new, list):
            out.append(change)
        elif len(old) != len(new):
            out.append(change)  # an item added or removed: the whole list says it best
        else:
            for i, (a, b) in enumerate(zip(old, new, strict=True)):
                out += refine(leaf_changes(a, b, f"{change.path}[{i}]"))
    return out


def _tokens(record: Record) -> dict[str, str]:
    """Natural-key tokens for the ids one record holds: its own and its refs' (the rest of
    the bundle is not needed to compare one record with itself on one server)."""
    tokens: dict[str, str] = {}
    pairs: Iterable[tuple[str | None, str, tuple[str, ...]]] = [
        (record.id, record.kind, record.key),
        *((r.id, r.kind, r.key) for r in record.refs),
    ]
    for ident, kind, key in pairs:
        if ident:
            tokens[ident.lower()] = f"<{kind}:{'/'.join(key)}>"
    return tokens
