"""Bundle files: zstd-compressed JSON lines, written atomically (pfx.files).

The only module that reads or writes bundle files. Encoding and checks live in bundle.py.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import zstandard

from pfx.authenticity import given_keys
from pfx.bundle import Bundle, check, decode, decode_manifest
from pfx.errors import BundleError, UsageError
from pfx.files import atomic_file
from pfx.limits import STREAM_MAX, MiB, ReadLimits
from pfx.model import Manifest, Record
from pfx.secrets import unseal
from pfx.zstdframe import MAGIC as ZSTD_MAGIC
from pfx.zstdframe import FrameError, frame_end, has_checksum

__all__ = [
    "iter_lines",
    "read_bundle",
    "read_manifest",
    "spool",
    "verify_bundle",
    "write_lines",
]

LEVEL = 9
READ_SIZE = 1 << 16


def write_lines(path: Path, lines: Iterable[bytes]) -> int:
    """Compress `lines` into `path` atomically (mode 0600, pfx.files; `-`: stdout); returns
    the compressed size. A killed export leaves at most a hidden temporary file, never a
    bundle that looks whole."""
    with atomic_file(path, 0o600) as raw:
        counted = _Counted(raw)
        cctx = zstandard.ZstdCompressor(level=LEVEL, write_checksum=True)
        # Any object with write() and flush() will do (stubs ask for IO[bytes]).
        with cctx.stream_writer(counted, closefd=False) as z:  # type: ignore[arg-type]
            for line in lines:
                z.write(line)
    return counted.size


class _Counted:
    """A writer that counts what passes through it (stdout has no size to stat)."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()


def iter_lines(path: Path, limits: ReadLimits | None = None) -> Iterator[bytes]:
    """The decompressed lines of a bundle file; BundleError when it is not a readable bundle.

    Bounded: the frame's block headers are walked first (a cut-off file is told apart from a
    damaged one, and bytes after the frame are refused, before anything is decompressed);
    then at most READ_SIZE decompressed bytes are held beside the line being split, each
    line is refused beyond `limits.line` and the whole beyond `limits.total` (ReadLimits
    of the file's size when None).
    """
    path = Path(path)
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed in the finally below, generator-owned
    except FileNotFoundError:
        raise UsageError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a directory, not a bundle") from None
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from None
    try:
        size = os.fstat(fh.fileno()).st_size
        limits = limits or ReadLimits(size)
        head = fh.read(18)  # the longest zstd frame header
        if head[:4] != ZSTD_MAGIC:
            raise BundleError(f"{path} is not a pfx bundle (not zstd-compressed)")
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
            _check_frame(data, path)
        fh.seek(0)
        yield from _split(_decompressed(fh, path), limits, path)
    finally:
        fh.close()


def _check_frame(data: mmap.mmap, path: Path) -> None:
    """`data` is one whole zstd frame with its content checksum, and nothing after it."""
    try:
        end = frame_end(data)
    except FrameError as e:
        raise BundleError(f"{path} is damaged: {e}") from None
    if not has_checksum(data):
        # Without the frame checksum a flipped bit in the header would go unnoticed.
        raise BundleError(f"{path} is damaged: its zstd frame has no content checksum")
    if end != len(data):
        # One frame per bundle: anything after it (a second frame, appended bytes) is refused.
        raise BundleError(f"{path} is damaged: data after the end of the bundle")


def _decompressed(fh: BinaryIO, path: Path) -> Iterator[bytes]:
    """The content of the frame checked by _check_frame, in chunks of at most READ_SIZE."""
    reader = zstandard.ZstdDecompressor().read_to_iter(
        fh, read_size=READ_SIZE, write_size=READ_SIZE
    )
    try:
        yield from reader
    except zstandard.ZstdError as e:
        raise BundleError(f"{path} is damaged (compressed data: {e})") from None


def _split(chunks: Iterator[bytes], limits: ReadLimits, path: Path) -> Iterator[bytes]:
    """Lines (each with its newline; a last one without) from decompressed chunks, scanning
    each byte once; BundleError beyond the limits."""
    buffer = bytearray()
    scanned = 0
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if limits.total is not None and total > limits.total:
            raise BundleError(
                f"{path} decompresses to more than {limits.total // MiB} MiB, "
                f"{limits.total // max(1, limits.size or 1)} times its size (a reader's limit)"
            )
        buffer += chunk
        start = 0
        lines: list[bytes] = []
        while (newline := buffer.find(b"\n", scanned)) >= 0:
            if newline + 1 - start > limits.line:
                raise _too_long(path, limits)
            with memoryview(buffer) as view:  # one copy of the line, not two
                lines.append(bytes(view[start : newline + 1]))
            start = scanned = newline + 1
        if start:
            # A fresh buffer for what follows the last newline (less than a chunk): the old
            # one would keep the size of the longest line read so far.
            buffer = buffer[start:]
        yield from lines
        del lines
        scanned = len(buffer)
        if scanned > limits.line:
            raise _too_long(path, limits)
    if buffer:
        yield bytes(buffer)


def _too_long(path: Path, limits: ReadLimits) -> BundleError:
    return BundleError(
        f"{path} has a line longer than {limits.line // MiB} MiB (a reader's limit for a "
        f"file of its size)"
    )


def read_manifest(path: Path) -> Manifest:
    """Only the manifest (first line): cheap, for `inspect` of large bundles."""
    limits = _limits(path)
    for line in iter_lines(path, limits):
        return decode_manifest(line, limits)
    raise BundleError(f"{path} is not a pfx bundle (empty)")


def read_bundle(path: Path) -> Bundle:
    """Read, decode and verify a bundle file in full."""
    limits = _limits(path)
    return decode(iter_lines(path, limits), limits)


def verify_bundle(path: Path, passphrase: str | None = None) -> Manifest:
    """Every check of `read_bundle`, streaming: no record is kept (for `verify`). With the
    `passphrase` of a bundle that has one: its authenticity too, and every encrypted value
    decrypts (SecretsError or BundleError otherwise)."""
    limits = _limits(path)
    visit = None
    if passphrase is not None:
        keys = given_keys(read_manifest(path), passphrase)
        if keys is not None:

            def visit(record: Record) -> object:
                return unseal(record, keys)

    return check(iter_lines(path, limits), limits, lambda: iter_lines(path, limits), visit)


def _limits(path: Path) -> ReadLimits:
    try:
        return ReadLimits(Path(path).stat().st_size)
    except OSError:
        return ReadLimits()  # iter_lines says what is wrong with the path


def spool(source: BinaryIO, name: str, target: Path, limit: int = STREAM_MAX) -> Path:
    """Copy a bundle arriving on a pipe (`name`: what the user called it, `-` for stdin) to
    the file `target`, which every reader can then read as a bundle file (the frame is walked
    before anything is decompressed, which a pipe cannot do). Refused in one line before
    more is read: input that does not start as a zstd frame, and beyond `limit` bytes."""
    shown = "stdin" if name == "-" else name
    head = source.read(len(ZSTD_MAGIC))
    if not head:
        raise BundleError(f"{shown}: no bundle arrived (empty input)")
    if head != ZSTD_MAGIC[: len(head)] or len(head) < len(ZSTD_MAGIC):
        raise BundleError(f"{shown} is not a pfx bundle (not zstd-compressed)")
    size = len(head)
    with open(target, "wb") as out:
        out.write(head)
        while chunk := source.read(READ_SIZE):
            size += len(chunk)
            if size > limit:
                raise BundleError(
                    f"{shown}: more than {limit // MiB} MiB arrived (a reader's limit for a "
                    "bundle on a pipe)"
                )
            out.write(chunk)
    return target
