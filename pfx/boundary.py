"""The one error boundary: where any exception of a command becomes one line and an exit code.

PfxError subclasses carry their line and code; a full disk or an unwritable path is the
user's (exit 2); anything else is a bug (exit 70, the traceback with --debug).
"""

from __future__ import annotations

import contextlib
import errno
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

import click

from pfx.escaping import safe_text

if TYPE_CHECKING:
    from pfx.errors import PfxError

USER_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EROFS, errno.EISDIR, errno.ENOENT}
)


@contextlib.contextmanager
def fail_cleanly(debug: bool) -> Iterator[None]:
    """Turn any failure into one line on stderr and an exit code (2 usage/bundle, 1 other)."""
    from pfx.errors import PfxError

    try:
        yield
    except PfxError as e:
        if debug:
            raise
        click.echo(f"pfx: error: {safe_text(str(e))}", err=True)
        sys.exit(e.exit_code)
    except BaseExceptionGroup as group:
        # Concurrent reads fail together; the first of our own errors says what went wrong.
        first = first_pfx_error(group)
        if debug or first is None:
            raise
        click.echo(f"pfx: error: {safe_text(str(first))}", err=True)
        sys.exit(first.exit_code)
    except KeyboardInterrupt:
        click.echo("pfx: interrupted", err=True)
        sys.exit(130)
    except click.exceptions.Exit:
        raise
    except OSError as e:
        # A full disk, a read-only or missing directory, a path that is a directory: the
        # user's to fix, said in one line (nothing half-written: files go to a temporary
        # name first).
        if debug or e.errno not in USER_ERRNOS:
            raise
        where = f": {e.filename}" if e.filename else ""
        click.echo(safe_text(f"pfx: error: {e.strerror}{where}"), err=True)
        sys.exit(2)
    except Exception as e:
        if debug:
            raise
        name = type(e).__name__
        click.echo(
            safe_text(f"pfx: internal error: {name}: {e} (run with --debug for a traceback)"),
            err=True,
        )
        sys.exit(70)


def first_pfx_error(group: BaseExceptionGroup[BaseException]) -> PfxError | None:
    """The first of our own errors inside an exception group (concurrent tasks), or None."""
    from pfx.errors import PfxError

    for error in group.exceptions:
        if isinstance(error, PfxError):
            return error
        if isinstance(error, BaseExceptionGroup):
            found = first_pfx_error(error)
            if found is not None:
                return found
    return None
