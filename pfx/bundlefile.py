"""Bundle files: zstd-compressed JSON lines, written atomically (pfx.files).

The only module that reads or writes bundle files. Encoding and checks live in bundle.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import zstandard

from pfx.bundle import Bundle, check, decode, decode_manifest
from pfx.errors import BundleError, UsageError
from pfx.files import atomic_file
from pfx.model import Manifest

__all__ = ["iter_lines", "read_bundle", "read_manifest", "verify_bundle", "write_lines"]

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
LEVEL = 9
READ_SIZE = 1 << 16


def write_lines(path: Path, lines: Iterable[bytes]) -> int:
    """Compress `lines` into `path` atomically (mode 0600, pfx.files); returns the compressed
    size. A killed export leaves at most a hidden temporary file, never a bundle that looks
    whole."""
    with atomic_file(path, 0o600) as raw:
        cctx = zstandard.ZstdCompressor(level=LEVEL, write_checksum=True)
        with cctx.stream_writer(raw, closefd=False) as z:
            for line in lines:
                z.write(line)
    return Path(path).stat().st_size


def iter_lines(path: Path) -> Iterator[bytes]:
    """The decompressed lines of a bundle file; BundleError when it is not a readable bundle.

    A cut-off file is told apart from a damaged one: zstd frames end with a marker (and a
    checksum, which catches flipped bytes), so a stream that stops mid-frame was truncated.
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
        head = fh.read(18)  # the longest zstd frame header
        if head[:4] != ZSTD_MAGIC:
            raise BundleError(f"{path} is not a pfx bundle (not zstd-compressed)")
        try:
            checked = zstandard.get_frame_parameters(head).has_checksum
        except zstandard.ZstdError:
            why = "the file ends early (truncated)" if len(head) < 18 else "bad zstd frame header"
            raise BundleError(f"{path} is damaged: {why}") from None
        if not checked:
            # Without the frame checksum a flipped bit in the header would go unnoticed.
            raise BundleError(f"{path} is damaged: its zstd frame has no content checksum")
        fh.seek(0)
        pending = b""
        dobj = zstandard.ZstdDecompressor().decompressobj()
        # Small reads: a compressed MiB is ~10 MiB of lines, held twice while it is split.
        while chunk := fh.read(READ_SIZE):
            if dobj.eof:
                raise BundleError(f"{path} is damaged: data after the end of the bundle")
            try:
                pending += dobj.decompress(chunk)
            except zstandard.ZstdError as e:
                raise BundleError(f"{path} is damaged (compressed data: {e})") from None
            *whole, pending = pending.split(b"\n")
            for line in whole:
                yield line + b"\n"
        if not dobj.eof:
            raise BundleError(f"{path} is damaged: the file ends early (truncated)")
        # One frame per bundle: anything after it (a second frame, appended bytes) is refused.
        if dobj.unused_data:
            raise BundleError(f"{path} is damaged: data after the end of the bundle")
        if pending:
            yield pending
    finally:
        fh.close()


def read_manifest(path: Path) -> Manifest:
    """Only the manifest (first line): cheap, for `inspect` of large bundles."""
    for line in iter_lines(path):
        return decode_manifest(line)
    raise BundleError(f"{path} is not a pfx bundle (empty)")


def read_bundle(path: Path) -> Bundle:
    """Read, decode and verify a bundle file in full."""
    return decode(iter_lines(path))


def verify_bundle(path: Path) -> Manifest:
    """Every check of `read_bundle`, streaming: no record is kept (for `verify`)."""
    return check(iter_lines(path))
