"""The layout of one zstd frame (RFC 8878, section 3.1.1), pure: where it ends, read from its
block headers without decompressing anything.

A decompressor that stops at the end of the input cannot tell a cut-off file from a whole
one, and one that reads on reports data after the frame only once it got there. Walking the
block headers first answers both before a byte is decompressed, in time proportional to the
number of blocks.
"""

from __future__ import annotations

import mmap

MAGIC = b"\x28\xb5\x2f\xfd"
_RAW, _RLE, _COMPRESSED, _RESERVED = 0, 1, 2, 3
_DICT_ID_BYTES = (0, 1, 2, 4)
_CONTENT_SIZE_BYTES = (0, 2, 4, 8)


class FrameError(ValueError):
    """The data is not one whole zstd frame; `truncated` says it stops early."""

    def __init__(self, reason: str, *, truncated: bool = False) -> None:
        super().__init__(reason)
        self.truncated = truncated


def frame_end(data: bytes | mmap.mmap) -> int:
    """The offset just past the zstd frame that starts `data` (its content checksum
    included); FrameError when it is not a frame or ends early."""
    if len(data) < 6:
        raise FrameError("the file ends early (truncated)", truncated=True)
    if data[:4] != MAGIC:
        raise FrameError("not zstd-compressed")
    descriptor = data[4]
    if descriptor & 0x08:
        raise FrameError("bad zstd frame header (reserved bit set)")
    single_segment = bool(descriptor & 0x20)
    content_size = _CONTENT_SIZE_BYTES[descriptor >> 6]
    if single_segment and content_size == 0:
        content_size = 1
    offset = 5 + (0 if single_segment else 1) + _DICT_ID_BYTES[descriptor & 0x03] + content_size
    checksum = 4 if descriptor & 0x04 else 0
    while True:
        if offset + 3 > len(data):
            raise FrameError("the file ends early (truncated)", truncated=True)
        header = data[offset] | data[offset + 1] << 8 | data[offset + 2] << 16
        last, kind, size = header & 1, (header >> 1) & 3, header >> 3
        if kind == _RESERVED:
            raise FrameError("bad zstd block (reserved type)")
        offset += 3 + (1 if kind == _RLE else size)
        if offset > len(data):
            raise FrameError("the file ends early (truncated)", truncated=True)
        if last:
            break
    offset += checksum
    if offset > len(data):
        raise FrameError("the file ends early (truncated)", truncated=True)
    return offset


def has_checksum(data: bytes | mmap.mmap) -> bool:
    """Whether the frame header at the start of `data` sets the content checksum flag."""
    return len(data) > 4 and bool(data[4] & 0x04)
