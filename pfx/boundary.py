"""The one error boundary: where any exception becomes one line and an exit code.

`stop_of` is the rule, for every command and for an import that stops part way (which still
writes its report, pfx.importing): PfxError subclasses carry their line and code (a server or
repository that cannot be used: 69, sysexits' EX_UNAVAILABLE, never 1, which `diff` uses for
"they differ"); click's usage errors (an unknown option, a missing argument) are exit 2 like
ours; Ctrl-C is 130; a full disk, a read-only or missing directory, a path that is a
directory or a refused permission are the user's (exit 2); anything else is a bug (exit 70,
the traceback with --debug). `fail_cleanly` and `end_with` print it.
"""

from __future__ import annotations

import contextlib
import errno
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NoReturn

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
    if isinstance(error, (KeyboardInterrupt, click.Abort)):
        return Stop("interrupted", INTERRUPTED)
    if isinstance(error, PfxError):
        return Stop(str(error), error.exit_code)
    if isinstance(error, click.ClickException):
        return Stop(_usage_line(error), error.exit_code)
    if isinstance(error, OSError) and error.errno in USER_ERRNOS:
        # Nothing is half-written: files go to a temporary name first (pfx.files).
        where = f": {error.filename}" if error.filename else ""
        return Stop(f"{error.strerror or error}{where}", 2)
    return Stop(f"internal error: {type(error).__name__}: {error}", INTERNAL, bug=True)


def _usage_line(error: click.ClickException) -> str:
    """click's message in pfx's style (lower case, no full stop), with where to get help."""
    text = error.format_message().strip().rstrip(".")
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        text = text[0].lower() + text[1:]
    ctx = error.ctx if isinstance(error, click.UsageError) else None
    if ctx is not None:
        text += f" (see `{ctx.command_path} --help`)"
    return text


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
        if debug and not isinstance(first_error(e), KeyboardInterrupt):
            raise
        end_with(e)


def end_with(error: BaseException) -> NoReturn:
    """Print `error` as its one line on stderr and exit with its code (see `stop_of`)."""
    stop = stop_of(error)
    if isinstance(first_error(error), (KeyboardInterrupt, click.Abort)):
        click.echo("pfx: interrupted", err=True)
    elif stop.bug:
        click.echo(f"pfx: {safe_text(stop.line)} (run with --debug for a traceback)", err=True)
    else:
        click.echo(f"pfx: error: {safe_text(stop.line)}", err=True)
    sys.exit(stop.code)
