"""How much a reader spends on a bundle, pure: limits on what a file may decompress to, per
line and in total, and on what its manifest may claim, relative to the file's size.

A bundle comes from elsewhere. Without limits a few kilobytes of zstd make a reader hold
gigabytes (a 3.5 KB file of newlines, a record of 20 million `{}`, a manifest of repeated
hashes). Every limit here is far above what an export writes (schemas/FORMAT.md, "Reading
limits") and each refusal is one line, exit 2.
"""

from __future__ import annotations

from dataclasses import dataclass

MiB = 2**20
# A line may always be this long, and longer in proportion to the file (a large record is
# rarely more than 64 times smaller compressed), up to MAX_LINE in any case.
LINE_FLOOR = 4 * MiB
LINE_RATIO = 64
MAX_LINE = 256 * MiB
# All lines together: JSON of real servers compresses 5 to 20 times; a bomb, thousands.
TOTAL_FLOOR = 64 * MiB
TOTAL_RATIO = 256
# Every record line's sha256 is 32 bytes that no compressor can shrink, and sits in the file:
# a file holds at least this many bytes per record it claims.
BYTES_PER_RECORD = 16
# A bundle read from a pipe is copied to a temporary file first (the frame is walked before
# anything is decompressed): at most this many compressed bytes, far above any export.
STREAM_MAX = 4096 * MiB
# JSON values (objects, arrays, scalars) in one record line: a parse costs ~70 bytes each.
MAX_ELEMENTS = 1_000_000
# The manifest lists a hash and the dependency edges per record: more values, in proportion.
MANIFEST_ELEMENTS_PER_BYTE = 4


@dataclass(frozen=True)
class ReadLimits:
    """The limits for a bundle file of `size` compressed bytes (None: no file, no relative
    limit: lines handed over in memory)."""

    size: int | None = None

    @property
    def line(self) -> int:
        """The longest line, its newline included."""
        if self.size is None:
            return MAX_LINE
        return min(MAX_LINE, LINE_FLOOR + LINE_RATIO * self.size)

    @property
    def total(self) -> int | None:
        """The most decompressed bytes of the whole bundle."""
        return None if self.size is None else TOTAL_FLOOR + TOTAL_RATIO * self.size

    @property
    def records(self) -> int | None:
        """The most records (hashes) the manifest may list."""
        return None if self.size is None else self.size // BYTES_PER_RECORD

    @property
    def manifest_elements(self) -> int:
        """The most JSON values in the manifest line."""
        extra = 0 if self.size is None else MANIFEST_ELEMENTS_PER_BYTE * self.size
        return MAX_ELEMENTS + extra
