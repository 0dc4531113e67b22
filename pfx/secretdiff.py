"""What changed in the secret slots of records two bundles both hold, pure: the mode a value
travels in (withheld, encrypted, in clear), the fields that are secret, and, where both
values are known (in clear, or decrypted with the passphrase), whether a value changed.

Values are compared by what they are, never by ciphertext: every export encrypts with a
fresh nonce (and salt), so the same value never has the same ciphertext twice. Values are
never shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

from pfx.diff import Diff, RecordDiff
from pfx.jsontypes import JSON
from pfx.kinds import ORDER, kind_named
from pfx.model import Record
from pfx.sameness import Change, changed
from pfx.sealing import Keys
from pfx.secrets import get_path, unseal

Ident = tuple[str, tuple[str, ...]]


def secret_changes(
    old: Sequence[Record],
    new: Sequence[Record],
    keys_old: Keys | None = None,
    keys_new: Keys | None = None,
) -> dict[Ident, list[Change]]:
    """Per record held by both sides (kinds with unique keys), its secret slot's changes."""
    theirs = {(r.kind, r.key): r for r in new if kind_named(r.kind).unique_key}
    out: dict[Ident, list[Change]] = {}
    for a in old:
        b = theirs.get((a.kind, a.key))
        if b is None or not (a.secrets or b.secrets):
            continue
        changes = _slot_changes(a, b, keys_old, keys_new)
        if changes:
            out[(a.kind, a.key)] = changes
    return out


def _slot_changes(a: Record, b: Record, keys_a: Keys | None, keys_b: Keys | None) -> list[Change]:
    mode_a = a.secrets.mode if a.secrets else None
    mode_b = b.secrets.mode if b.secrets else None
    changes: list[Change] = []
    if mode_a != mode_b:
        # A record without a secret slot has no mode at all: absent, not null.
        absent: Literal["ours", "theirs"] | None = (
            "ours" if mode_a is None else "theirs" if mode_b is None else None
        )
        changes.append(changed("secrets.mode", mode_a, mode_b, absent=absent))
    fields_a = list(a.secrets.fields) if a.secrets else []
    fields_b = list(b.secrets.fields) if b.secrets else []
    if fields_a and fields_b and fields_a != fields_b:
        changes.append(Change("secrets.fields", list[JSON](fields_a), list[JSON](fields_b)))
    values_a, values_b = known_values(a, keys_a), known_values(b, keys_b)
    for path in sorted(values_a.keys() & values_b.keys()):
        if values_a[path] != values_b[path]:
            changes.append(Change(path, secret=True))
    return changes


def known_values(record: Record, keys: Keys | None) -> dict[str, JSON]:
    """The secret values a reader knows, by path: in clear, or decrypted with `keys`."""
    slot = record.secrets
    if slot is None:
        return {}
    if slot.mode == "plaintext":
        return {p: get_path(record.data, p) for p in slot.fields}
    if slot.mode == "encrypted" and keys is not None:
        return unseal(record, keys)
    return {}


def with_secret_changes(diff: Diff, changes: dict[Ident, list[Change]]) -> Diff:
    """`diff` with each record's secret changes added (records it found equal become
    changed), a change it already names not repeated."""
    if not changes:
        return diff
    records: list[RecordDiff] = []
    seen: set[Ident] = set()
    for r in diff.records:
        extra = changes.get((r.kind, r.key), [])
        if r.status == "changed" and extra:
            named = {c.path for c in r.changes}
            more = [c for c in extra if c.path not in named]
            r = replace(r, fields=_fields(r.fields, more), changes=(*r.changes, *more))
        seen.add((r.kind, r.key))
        records.append(r)
    equal = dict(diff.equal_by_kind)
    for (kind, key), extra in changes.items():
        if (kind, key) not in seen:
            records.append(RecordDiff(kind, key, "changed", _fields((), extra), tuple(extra)))
            equal[kind] -= 1
    records.sort(key=lambda d: (ORDER.get(d.kind, len(ORDER)), d.kind, d.key))
    return replace(diff, records=records, equal_by_kind={k: n for k, n in equal.items() if n})


def _fields(fields: tuple[str, ...], changes: list[Change]) -> tuple[str, ...]:
    """`fields` and the top-level fields `changes` lie under, each once, in order."""
    out = list(fields)
    for c in changes:
        top = c.path.split(".", 1)[0]
        if top not in out:
            out.append(top)
    return tuple(out)
