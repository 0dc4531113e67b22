"""The one error boundary: where any exception becomes one line and an exit code.

`stop_of` is the rule, for every command and for an import that stops part way (which still
writes its report, pfx.importing): PfxError subclasses carry their line and code; Ctrl-C is
130; a full disk, a read-only or missing directory, a path that is a directory or a refused
permission are the user's (exit 2); anything else is a bug (exit 70, the traceback with
--debug). `fail_cleanly` prints it.
"""

from __future__ import annotations

import contextlib
import errno
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import click

from pfx.errors import PfxError
from pfx.escaping import safe_text

USER_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EROFS, errno.EISDIR, errno.ENOENT}
)
INTERRUPTED = 130
INTERNAL = 70


@dataclass(frozen=True)
class Stop:
    """How a command ends on an error: its one line, its exit code, and whether it is a bug
    (an internal error: its traceback is for --debug)."""

    line: str
    code: int
    bug: bool = False


def stop_of(error: BaseException) -> Stop:
    """The one line and exit code for `error` (see module doc); an exception group of
    concurrent tasks stands for its first error (our own first)."""
    error = first_error(error)
    if isinstance(error, KeyboardInterrupt):
        return Stop("interrupted", INTERRUPTED)
    if isinstance(error, PfxError):
        return Stop(str(error), error.exit_code)
    if isinstance(error, OSError) and error.errno in USER_ERRNOS:
        # Nothing is half-written: files go to a temporary name first (pfx.files).
        where = f": {error.filename}" if error.filename else ""
        return Stop(f"{error.strerror or error}{where}", 2)
    return Stop(f"internal error: {type(error).__name__}: {error}", INTERNAL, bug=True)


def first_error(error: BaseException) -> BaseException:
    """The error behind a task group's exception group (our own errors first)."""
    if isinstance(error, BaseExceptionGroup):
        leaves = [first_error(e) for e in error.exceptions]
        return next((e for e in leaves if isinstance(e, PfxError)), leaves[0])
    return error


@contextlib.contextmanager
def fail_cleanly(debug: bool) -> Iterator[None]:
    """Turn any failure into one line on stderr and its exit code (see `stop_of`); with
    `debug`, errors other than Ctrl-C raise with their traceback."""
    try:
        yield
    except click.exceptions.Exit:
        raise
    except (Exception, KeyboardInterrupt, BaseExceptionGroup) as e:
        stop = stop_of(e)
        interrupted = isinstance(first_error(e), KeyboardInterrupt)
        if debug and not interrupted:
            raise
        if interrupted:
            click.echo("pfx: interrupted", err=True)
        elif stop.bug:
            click.echo(f"pfx: {safe_text(stop.line)} (run with --debug for a traceback)", err=True)
        else:
            click.echo(f"pfx: error: {safe_text(stop.line)}", err=True)
        sys.exit(stop.code)
