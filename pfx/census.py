"""What a reader checks across the records of a bundle, in flat memory, pure: unique source
ids, refs whose key and id name the same record, the manifest's dependency edges, and a
partial bundle's declared outside refs (schemas/FORMAT.md, rules 10, 11, 20, 23).

Per record it keeps two 8-byte keyed hashes (of its kind and key, of its source id) and per
ref three, in arrays: a million records cost tens of megabytes, not the gigabyte that
objects per record would. The hashes are keyed with a random key per run, so no bundle can
be made to collide them. Records are named in messages by reading them again (`reread`),
which happens only when a check fails.
"""

from __future__ import annotations

import hashlib
import os
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence

import orjson

from pfx.errors import BundleError
from pfx.escaping import safe_text
from pfx.model import Partial, Record

Reread = Callable[[int], Record]
_SOFT, _LATE = 1, 2


class Census:
    """The records of a bundle as hashes, added in bundle order."""

    def __init__(self) -> None:
        self._salt = os.urandom(16)
        self.keys = array("Q")  # per record: hash of (kind, key)
        self.ids = array("Q")  # per record: hash of the lower-case source id, 0 for none
        self.ref_from = array("Q")  # per ref: the referring record's ordinal
        self.ref_key = array("Q")  # per ref: hash of the target's (kind, key)
        self.ref_id = array("Q")  # per ref: hash of the ref's id, 0 for none
        self.ref_flags = bytearray()  # per ref: soft, late

    def __len__(self) -> int:
        return len(self.keys)

    def add(self, record: Record) -> None:
        i = len(self.keys)
        self.keys.append(self.key_hash(record.kind, record.key))
        self.ids.append(self.id_hash(record.id))
        for ref in record.refs:
            self.ref_from.append(i)
            self.ref_key.append(self.key_hash(ref.kind, ref.key))
            self.ref_id.append(self.id_hash(ref.id))
            self.ref_flags.append((_SOFT if ref.soft else 0) | (_LATE if ref.late else 0))

    def key_hash(self, kind: str, key: Iterable[str]) -> int:
        return self._hash(orjson.dumps([kind, list(key)]))

    def id_hash(self, ident: str | None) -> int:
        return 0 if ident is None else self._hash(ident.lower().encode())

    def _hash(self, data: bytes) -> int:
        digest = hashlib.blake2b(data, digest_size=8, key=self._salt).digest()
        return int.from_bytes(digest, "little") or 1  # 0 stands for "none"

    def check(
        self, edges: Sequence[tuple[int, int]], selection: Partial | None, reread: Reread
    ) -> None:
        """Every rule across records (see module doc); BundleError naming the records."""
        by_key = _Lookup(self.keys)
        by_id = _Lookup(self.ids)
        _check_ids(by_id, reread)
        found = array("Q")
        declared = (
            {self.key_hash(e.kind, e.key) for e in selection.external} if selection else set()
        )
        for n in range(len(self.ref_from)):
            i = self.ref_from[n]
            j = by_key.find(self.ref_key[n])
            if self.ref_id[n]:
                named = by_id.find(self.ref_id[n])
                # Import orders by the key and rewrites the id: both must name one record.
                if (j is not None or named is not None) and j != named:
                    _refuse_ref(reread, i, n - self._first_ref(i), named)
            if j is not None and j != i:
                found.append(i << 32 | j)
            if (
                selection is not None
                and j is None
                and not self.ref_flags[n] & _SOFT
                and self.ref_key[n] not in declared
            ):
                _refuse_external(reread, i, n - self._first_ref(i))
        computed = sorted(set(found))
        del found
        n = len(self.keys)
        if any(not (0 <= i < n and 0 <= j < n) for i, j in edges):
            raise BundleError("damaged bundle: manifest dependency edges name no record")
        given = sorted({i << 32 | j for i, j in edges})
        if given != computed:
            raise BundleError("damaged bundle: manifest dependency edges do not match record refs")

    def _first_ref(self, i: int) -> int:
        """The position of record `i`'s first ref in the per-ref arrays."""
        return bisect_left(self.ref_from, i)


class _Lookup:
    """Ordinal by hash: the hashes sorted beside their ordinals, searched by bisection."""

    def __init__(self, hashes: array[int]) -> None:
        # One int per record (hash and ordinal packed) sorts in a third of the memory of a
        # sort by key, which holds a list of keys beside the list of ordinals.
        packed = sorted(h << 32 | i for i, h in enumerate(hashes) if h)
        self.hashes = array("Q", (p >> 32 for p in packed))
        self.ordinals = array("I", (p & 0xFFFFFFFF for p in packed))
        del packed

    def find(self, h: int) -> int | None:
        k = bisect_left(self.hashes, h)
        if k < len(self.hashes) and self.hashes[k] == h:
            return self.ordinals[k]
        return None


def _check_ids(by_id: _Lookup, reread: Reread) -> None:
    hashes = by_id.hashes
    for k in range(1, len(hashes)):
        if hashes[k] == hashes[k - 1]:
            a, b = sorted((by_id.ordinals[k - 1], by_id.ordinals[k]))
            first, second = reread(a), reread(b)
            raise BundleError(
                f"damaged bundle: {safe_text(first.label)} and {safe_text(second.label)} have the "
                f"same source id "
                f"{second.id} (import could not tell their references apart)"
            )


def _refuse_ref(reread: Reread, i: int, n: int, named: int | None) -> None:
    record = reread(i)
    ref = record.refs[n]
    whose = f"{reread(named).label}'s" if named is not None else "not that record's"
    raise BundleError(
        safe_text(
            f"damaged bundle: {record.label} refers at {ref.path!r} to "
            f"{ref.kind} {'/'.join(ref.key)} by id {ref.id}, which is {whose}"
        )
    )


def _refuse_external(reread: Reread, i: int, n: int) -> None:
    """A partial bundle declares every record it refers to but does not hold (rule 23)."""
    record = reread(i)
    ref = record.refs[n]
    raise BundleError(
        safe_text(
            f"damaged bundle: {record.label} refers to {ref.kind} {'/'.join(ref.key)}, "
            "which is neither in the partial bundle nor declared external"
        )
    )
