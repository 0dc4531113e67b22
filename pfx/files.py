"""The files pfx writes (bundles, reports, rendered files), each written one way: to a
temporary name beside the target, synced to disk, renamed over it, and the directory synced,
so that a file appears under its name only when complete; on any failure the temporary file
is removed. The target's directory is checked before any work.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from pfx.errors import UsageError

__all__ = ["atomic_file", "check_writable", "write_file"]


def check_writable(path: Path) -> Path:
    """The directory `path` would be written into; UsageError, before any work, when it
    cannot be: the path is a directory, or its directory does not exist."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{path} is a directory; name a file to write")
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.exists():
        raise UsageError(f"cannot write {path}: directory {directory} does not exist")
    if not directory.is_dir():
        raise UsageError(f"cannot write {path}: {directory} is not a directory")
    return directory


@contextlib.contextmanager
def atomic_file(path: Path, mode: int = 0o600) -> Iterator[BinaryIO]:
    """A binary file to write `path` through (see module doc), with permissions `mode`."""
    path = Path(path)
    directory = check_writable(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=directory)
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror}") from None
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _sync_directory(directory)


def write_file(path: Path, content: bytes, mode: int = 0o600) -> Path:
    """Write `content` to `path` atomically (see module doc)."""
    with atomic_file(path, mode) as fh:
        fh.write(content)
    return Path(path)


def _sync_directory(directory: Path) -> None:
    """Make the rename itself durable (a crash after it keeps the new file)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # a directory that cannot be opened (some platforms): the rename stands
    try:
        with contextlib.suppress(OSError):  # some filesystems cannot sync a directory
            os.fsync(fd)
    finally:
        os.close(fd)
