"""The BUNDLE argument of every command that reads a bundle: a path, `-` (stdin) or another
pipe (`/dev/stdin`, `<(...)`), or a snapshot reference (`REPO@latest`, `REPO@<id prefix>`,
`REPO@<ISO time>`), made a local file before the command runs (a pipe is copied, bounded:
pfx.bundlefile.spool; a snapshot is fetched: pfx.repository.fetching), so the commands
themselves read paths as they always did.
"""

from __future__ import annotations

import shutil
import stat
import sys
import tempfile
from pathlib import Path

import click

from pfx.boundary import fail_cleanly

STDIN = "-"


class BundleArgument(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.2
    """A bundle path, pipe or snapshot reference -> a local bundle Path (copies and downloads
    are removed when the command ends). Failures are one line through the error boundary, as
    in a command."""

    name = "bundle"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> Path:
        if isinstance(value, Path):
            return value
        text = str(value)
        piped = text == STDIN or _is_pipe(Path(text))
        if not piped and ("@" not in text or Path(text).exists()):
            return Path(text)
        root = ctx.find_root() if ctx is not None else None
        debug = bool(root is not None and isinstance(root.obj, dict) and root.obj.get("debug"))
        with fail_cleanly(debug):
            workdir = Path(tempfile.mkdtemp(prefix="pfx-bundle-"))
            if ctx is not None:
                ctx.call_on_close(lambda: shutil.rmtree(workdir, ignore_errors=True))
            if piped:
                return _spooled(text, workdir)
            from pfx.repository.fetching import resolve_bundle

            resolved = resolve_bundle(text, workdir)
            if resolved.snapshot is not None:
                click.echo(
                    f"pfx: {text}: snapshot {resolved.snapshot.short} "
                    f"({resolved.snapshot.time}) of {resolved.repository}",
                    err=True,
                )
            return resolved.path
        raise AssertionError("unreachable")  # fail_cleanly exits on any error


def _is_pipe(path: Path) -> bool:
    """Whether `path` is a pipe or a device, not a file (`/dev/stdin` fed by `|`)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISSOCK(mode)


def _spooled(text: str, workdir: Path) -> Path:
    """The bundle arriving on stdin (`-`) or the pipe at `text`, copied into `workdir`."""
    from pfx.bundlefile import spool
    from pfx.errors import UsageError

    target = workdir / "stdin.pfx"
    if text == STDIN:
        if sys.stdin is None or sys.stdin.isatty():
            raise UsageError("- reads a bundle from stdin, which is a terminal: pipe one in")
        return spool(sys.stdin.buffer, text, target)
    try:
        with open(text, "rb") as source:
            return spool(source, text, target)
    except OSError as e:
        raise UsageError(f"cannot read {text}: {e.strerror or e}") from None


BUNDLE = BundleArgument()
