"""The files pfx writes (bundles, reports, rendered files), each written one way: to a
temporary name beside the target, synced to disk, renamed over it, and the directory synced,
so that a file appears under its name only when complete; on any failure the temporary file
is removed. The target is checked before any work (`check_output`): its directory exists, it
replaces no existing file without --force, and it is never a file the command reads.

`-` is stdout, and a target that is a pipe or a device (`/dev/stdout`, a FIFO) is written in
place: neither can be renamed over, and neither holds a user's file.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from pfx.errors import UsageError

__all__ = ["STDOUT", "atomic_file", "check_output", "check_writable", "is_stdout", "write_file"]

STDOUT = "-"


def is_stdout(path: Path | str | None) -> bool:
    """Whether `path` is `-`, standard output."""
    return path is not None and str(path) == STDOUT


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


def check_output(
    path: Path, *, force: bool = False, inputs: Iterable[Path | None] = (), option: str = ""
) -> None:
    """Before any work: `path` can be written (check_writable), is not one of the files the
    command reads (`inputs`, compared as files: a symlink or hard link to one is that file;
    refused even with `force`), and replaces no existing file unless `force`. `-` (stdout),
    pipes and devices always pass. `option` names the option in the refusal."""
    if is_stdout(path):
        return
    path = Path(path)
    check_writable(path)
    try:
        found = path.stat()
    except OSError:
        return  # nothing there (or a dangling link, which the rename replaces)
    if not stat.S_ISREG(found.st_mode):
        return  # a pipe or a device: written in place (module doc)
    named = f"{option} {path}" if option else str(path)
    for source in inputs:
        if source is not None and _same_file(path, Path(source)):
            raise UsageError(f"{named} is {source}, which this command reads; name another file")
    if not force:
        raise UsageError(f"{named} exists; pass --force to replace it")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


@contextlib.contextmanager
def atomic_file(path: Path, mode: int = 0o600) -> Iterator[BinaryIO]:
    """A binary file to write `path` through (see module doc), with permissions `mode`."""
    if is_stdout(path):
        out = sys.stdout.buffer
        yield out
        out.flush()
        return
    path = Path(path)
    if _in_place(path):
        with open(path, "wb") as fh:
            yield fh
        return
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


def _in_place(path: Path) -> bool:
    """Whether `path` is a pipe or a device (written in place, see module doc)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


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
