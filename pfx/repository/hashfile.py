"""Record hashes objects, pure: a snapshot's `index/records/<id>.jsonl.zst` and a record pack
(several of them one after the other in one zstd frame), encoded and decoded.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import orjson
import zstandard
from pydantic import ValidationError

from pfx.repository.model import RecordHash, RecordsHeader


def encode_records(snapshot: str, hashes: Sequence[RecordHash]) -> bytes:
    """The record hashes object: zstd of JSON lines, a header then `[kind, key, hash]`."""
    header = RecordsHeader(snapshot=snapshot, count=len(hashes))
    lines = [orjson.dumps(header.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)]
    lines += [orjson.dumps([h.kind, list(h.key), h.hash]) for h in hashes]
    return compress(b"\n".join(lines) + b"\n")


def compress(text: bytes) -> bytes:
    return bytes(zstandard.ZstdCompressor(level=9).compress(text))


def decompress(data: bytes) -> bytes:
    try:
        return bytes(zstandard.ZstdDecompressor().decompressobj().decompress(data))
    except zstandard.ZstdError as e:
        raise ValueError(f"not zstd: {e}") from None


def decode_record_pack(data: bytes, kind: str | None = None) -> dict[str, list[RecordHash]]:
    """Snapshot id -> record hashes of a record pack (sections as `encode_records` writes
    them, one after the other); ValueError when it is damaged."""
    lines = decompress(data).splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(b"{")] + [len(lines)]
    out: dict[str, list[RecordHash]] = {}
    for a, b in itertools.pairwise(starts):
        header = _header(lines[a], "record pack")
        out[header.snapshot] = _rows(lines[a:b], header, kind)
    return out


def decode_records(data: bytes, snapshot: str, kind: str | None = None) -> list[RecordHash]:
    """The record hashes of `encode_records` (with `kind`, only that kind's: the other lines
    are not parsed); ValueError when the object is damaged."""
    try:
        lines = decompress(data).splitlines()
        header = _header(lines[0], snapshot[:8])
    except (ValueError, IndexError) as e:
        raise ValueError(f"record hashes of {snapshot[:8]} are damaged: {e}") from None
    if header.snapshot != snapshot:
        raise ValueError(f"record hashes of {snapshot[:8]} name another snapshot")
    return _rows(lines, header, kind)


def _header(line: bytes, where: str) -> RecordsHeader:
    try:
        return RecordsHeader.model_validate_json(line)
    except ValidationError as e:
        raise ValueError(f"{where}: bad header: {e.errors()[0]['msg']}") from None


def _rows(lines: list[bytes], header: RecordsHeader, kind: str | None) -> list[RecordHash]:
    """The rows after a header line (`lines[0]`), checked against its count."""
    short = header.snapshot[:8]
    if header.count != len(lines) - 1:
        raise ValueError(f"record hashes of {short} are cut short")
    prefix = orjson.dumps([kind])[:-1] + b"," if kind else b""
    try:
        return [
            RecordHash(str(k), tuple(str(part) for part in key), str(digest), i)
            for i, line in enumerate(lines[1:])
            if line.startswith(prefix)
            for k, key, digest in [orjson.loads(line)]
        ]
    except (TypeError, ValueError) as e:
        raise ValueError(f"record hashes of {short} are damaged: {e}") from None
