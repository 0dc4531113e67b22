"""A read manifest's per-record lists, kept compact, pure: `hashes` as 32 bytes a record (not a
113-byte string) and `edges` as 8 bytes an edge (not a list of two ints), cut out of the
manifest line before the rest of it is parsed.

A bundle of a million records has a 68 MB manifest line; parsed as JSON its hashes alone are
113 MB of strings. Cut out and decoded here, they take 32 MB, and the rest of the manifest
(counts, source, skipped) is parsed as usual.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterator, Sequence
from typing import overload

_HASHES = b'"hashes":['
_EDGES = b'"edges":['
_HEX = b"0123456789abcdef"
_DIGITS = b"0123456789"
_NUMBER = re.compile(rb"[0-9]+")
_LEADING_ZERO = re.compile(rb"(?<![0-9])0[0-9]")
_CHUNK = 64 * 1024  # hashes decoded at a time


def _position(i: int, n: int) -> int:
    """A list index (negative counts from the end) as a position in 0..n-1, as list[i] does."""
    p = i + n if i < 0 else i
    if not 0 <= p < n:
        raise IndexError(i)
    return p


class Digests(Sequence[str]):
    """sha256 digests as one bytes object; reads as the list of lowercase hex strings."""

    __slots__ = ("_raw",)

    def __init__(self, raw: bytes | bytearray) -> None:
        self._raw = raw

    def __len__(self) -> int:
        return len(self._raw) // 32

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...
    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = _position(i, len(self))
        return self._raw[32 * i : 32 * i + 32].hex()

    def digest(self, i: int) -> bytes:
        """Record `i`'s sha256 as bytes."""
        return bytes(self._raw[32 * i : 32 * i + 32])

    def __iter__(self) -> Iterator[str]:
        for i in range(len(self)):
            yield self._raw[32 * i : 32 * i + 32].hex()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Digests):
            return self._raw == other._raw
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return len(other) == len(self) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<Digests: {len(self)}>"


class Edges(Sequence[tuple[int, int]]):
    """[dependent, dependency] pairs packed in one array; reads as a list of tuples."""

    __slots__ = ("_pairs",)

    def __init__(self, pairs: array[int]) -> None:
        self._pairs = pairs

    def __len__(self) -> int:
        return len(self._pairs) // 2

    @overload
    def __getitem__(self, i: int) -> tuple[int, int]: ...
    @overload
    def __getitem__(self, i: slice) -> list[tuple[int, int]]: ...
    def __getitem__(self, i: int | slice) -> tuple[int, int] | list[tuple[int, int]]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = _position(i, len(self))
        return (self._pairs[2 * i], self._pairs[2 * i + 1])

    def __iter__(self) -> Iterator[tuple[int, int]]:
        pairs = self._pairs
        for i in range(0, len(pairs), 2):
            yield (pairs[i], pairs[i + 1])

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Edges):
            return self._pairs == other._pairs
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return len(other) == len(self) and all(
                tuple(a) == b for a, b in zip(other, self, strict=True)
            )
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<Edges: {len(self)}>"


def cut_lists(line: bytes) -> tuple[bytes, Digests, Edges] | None:
    """`line` with its `hashes` and `edges` lists emptied, and the two lists compact; None
    when the line does not write them as a canonical line does (then parse it whole).

    No regular expression walks the lists (one that did would keep a mark per element)."""
    hashes = _span(line, _HASHES)
    edges = _span(line, _EDGES)
    if hashes is None or edges is None:
        return None
    digests = _digests(line, *hashes)
    pairs = _pairs(line[edges[0] : edges[1]])
    if digests is None or pairs is None:
        return None
    (a, b), (c, d) = sorted([hashes, edges])
    if c < b:
        return None
    rest = line[:a] + line[b:c] + line[d:]
    return rest, Digests(digests), Edges(pairs)


def _span(line: bytes, key: bytes) -> tuple[int, int] | None:
    """Where the elements of the list under `key` are (between its brackets), when `key`
    occurs once."""
    at = line.find(key)
    if at < 0 or line.find(key, at + 1) >= 0:
        return None
    start = at + len(key)
    if line[start : start + 1] == b"]":
        return start, start
    end = line.find(b"]" if key == _HASHES else b"]]", start)
    if end < 0:
        return None
    return start, end if key == _HASHES else end + 1


def _digests(line: bytes, start: int, end: int) -> bytearray | None:
    """The hashes between `start` and `end` (`"<64 hex>"` joined by `,`) as bytes."""
    count, extra = divmod(end - start + 1, 67)
    if start == end:
        return bytearray()
    if extra:
        return None
    out = bytearray()
    with memoryview(line) as view:
        for first in range(0, count, _CHUNK):
            n = min(_CHUNK, count - first)
            piece = bytes(view[start + 67 * first : start + 67 * (first + n) - 1])
            commas = b"," * (n - 1)
            quotes = b'"' * n
            if piece[0::67] != quotes or piece[65::67] != quotes or piece[66::67] != commas:
                return None
            hexes = piece.translate(None, b'",')
            if len(hexes) != 64 * n or hexes.translate(None, _HEX):
                return None
            out += bytes.fromhex(hexes.decode("ascii"))
    return out


def _pairs(text: bytes) -> array[int] | None:
    """`[i,j],[k,l]` (integers without leading zeros) as one array of integers."""
    if not text:
        return array("Q")
    commas = text.count(b",")  # one in each pair, one between two pairs
    if commas % 2 == 0:
        return None
    count = (commas + 1) // 2
    if text.translate(None, _DIGITS) != b"[,]," * (count - 1) + b"[,]":
        return None
    if _LEADING_ZERO.search(text):
        return None
    try:
        pairs = array("Q", (int(m.group()) for m in _NUMBER.finditer(text)))
    except OverflowError:
        return None
    return pairs if len(pairs) == 2 * count else None
