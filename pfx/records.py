"""A bundle's records kept as their JSON lines and decoded on demand, pure.

A decoded record costs about 9 KB of Python objects, its line a fifth of that: a bundle of
20k records stays resident as bytes plus a small head per record (kind, key, id and refs as
tuples), and each `records[i]` decodes its line again. Only bundle.py builds one, after
checking each line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple, overload

import orjson
from pydantic import ValidationError

from pfx import __version__
from pfx.errors import BundleError
from pfx.escaping import safe_text
from pfx.jsonline import elements_bound, load_line
from pfx.jsontypes import JSON
from pfx.kinds import BY_NAME
from pfx.model import Record, Ref


class Link(NamedTuple):
    """A ref as a head keeps it: a plain tuple whose strings and keys are shared between
    records (a pydantic Ref costs about 1 KB; 20k records hold 50k refs)."""

    kind: str
    key: tuple[str, ...]
    id: str | None
    path: str
    soft: bool
    late: bool

    def as_ref(self) -> Ref:
        return Ref(
            kind=self.kind,
            key=self.key,
            id=self.id,
            path=self.path,
            soft=self.soft,
            late=self.late,
        )


@dataclass(frozen=True, slots=True)
class Head:
    """What graph, plan and checks need of a record without its data."""

    kind: str
    key: tuple[str, ...]
    id: str | None
    links: tuple[Link, ...]

    @property
    def label(self) -> str:
        """A short human name: `deployment etl/daily`."""
        return f"{self.kind} {'/'.join(self.key)}"


def head_of(record: Record, shared: dict[object, object] | None = None) -> Head:
    """The head of a decoded record; `shared` (kept across records) makes equal strings and
    keys one object, so heads cost little more than their references."""
    pool: dict[object, object] = {} if shared is None else shared
    # One bound method per value, no wrapper calls: `verify` runs this for every record.
    one: Callable[[str, str], str] = pool.setdefault  # type: ignore[assignment]
    keys: Callable[[tuple[str, ...]], tuple[str, ...] | None] = pool.get  # type: ignore[assignment]

    def key_of(key: tuple[str, ...]) -> tuple[str, ...]:
        found = keys(key)
        if found is None:
            found = tuple([one(part, part) for part in key])
            pool[key] = found
        return found

    links = tuple(
        [
            Link(
                one(r.kind, r.kind),
                key_of(r.key),
                None if r.id is None else one(r.id, r.id),
                one(r.path, r.path),
                r.soft,
                r.late,
            )
            for r in record.refs
        ]
    )
    ident = None if record.id is None else one(record.id, record.id)
    return Head(one(record.kind, record.kind), key_of(record.key), ident, links)


class RecordLines(Sequence[Record]):
    """Records as checked JSON lines: `len`, index and iteration decode on demand; `heads`
    and `head(i)` answer kind, key, id and refs (`links`) without decoding."""

    __slots__ = ("_heads", "_lines")

    def __init__(self, lines: list[bytes], heads: list[Head]) -> None:
        self._lines = lines
        self._heads = heads

    def __len__(self) -> int:
        return len(self._lines)

    @overload
    def __getitem__(self, i: int) -> Record: ...
    @overload
    def __getitem__(self, i: slice) -> list[Record]: ...
    def __getitem__(self, i: int | slice) -> Record | list[Record]:
        if isinstance(i, slice):
            return [self._decode(line) for line in self._lines[i]]
        return self._decode(self._lines[i])

    def __iter__(self) -> Iterator[Record]:
        for line in self._lines:
            yield self._decode(line)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RecordLines):
            return self._lines == other._lines
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return len(other) == len(self) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<RecordLines: {len(self)} records>"

    @property
    def heads(self) -> Sequence[Head]:
        """Every record's head, in bundle order."""
        return self._heads

    def head(self, i: int) -> Head:
        return self._heads[i]

    def line(self, i: int) -> bytes:
        """Record `i` as written in the bundle (canonical JSON with its newline)."""
        return self._lines[i]

    @staticmethod
    def _decode(line: bytes) -> Record:
        # The line was parsed, validated and depth-checked when the bundle was read.
        return record_from(orjson.loads(line))


def record_from(raw: JSON) -> Record:
    """A Record from a parsed JSON line; pydantic.ValidationError when it is not one.

    `data` is checked to be an object but not walked value by value: what a JSON parser
    returns is JSON already, and pydantic's JsonValue check of every value costs more than
    the parse (a Python call per value).
    """
    if isinstance(raw, dict) and isinstance(raw.get("data"), dict):
        record = Record.model_validate({**raw, "data": {}})
        record.data = raw["data"]  # type: ignore[assignment]
        return record
    return Record.model_validate(raw)


def heads_of(records: Sequence[Record]) -> Sequence[Head]:
    """Heads of any record sequence: resident ones of RecordLines, else computed."""
    if isinstance(records, RecordLines):
        return records.heads
    return [head_of(r) for r in records]


def label_of(line: bytes) -> str:
    """` (kind key)` of a record line that failed its checksum, if it still parses and is
    small enough to parse: a name for the message only, never trusted."""
    if elements_bound(line) > 10_000:
        return ""
    try:
        raw = orjson.loads(line)
    except orjson.JSONDecodeError:
        return ""
    if not isinstance(raw, dict):
        return ""
    kind, key = raw.get("kind"), raw.get("key")
    if not isinstance(kind, str) or not isinstance(key, list):
        return ""
    return safe_text(f" ({kind} {'/'.join(str(k) for k in key)})")


def read_record(line: bytes, i: int, reader: str) -> Record:
    """Record `i` (0-based) from its line, checked to be one of a kind this pfx knows;
    BundleError naming it otherwise (`reader`: the release the bundle says reads it)."""
    try:
        record = record_from(load_line(line))
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise BundleError(
            f"damaged bundle: record {i + 1}{label_of(line)} is not a valid record: "
            f"{safe_text(where)}: {first['msg']}"
        ) from None
    except ValueError as e:
        raise BundleError(f"damaged bundle: record {i + 1}{label_of(line)} is {e}") from None
    if record.kind not in BY_NAME:
        # A kind appended in a later minor version (rule 8): the writer named who reads it.
        raise BundleError(
            f"record {i + 1} ({safe_text(record.label)}): unknown kind {record.kind!r}; this pfx "
            f"{__version__} knows {', '.join(BY_NAME)}; the bundle needs pfx >= "
            f"{safe_text(reader)}"
        )
    return record
