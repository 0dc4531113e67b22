"""The BUNDLE argument of every command that reads a bundle: a path, or a snapshot reference
(`REPO@latest`, `REPO@<id prefix>`, `REPO@<ISO time>`) made a local file before the command
runs (pfx.repository.fetching), so the commands themselves read paths as they always did.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import click

from pfx.boundary import fail_cleanly


class BundleArgument(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.2
    """A bundle path or snapshot reference -> a local bundle Path (downloads are removed when
    the command ends). Failures are one line through the error boundary, as in a command."""

    name = "bundle"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> Path:
        if isinstance(value, Path):
            return value
        text = str(value)
        if "@" not in text:
            return Path(text)
        root = ctx.find_root() if ctx is not None else None
        debug = bool(root is not None and isinstance(root.obj, dict) and root.obj.get("debug"))
        with fail_cleanly(debug):
            from pfx.repository.fetching import resolve_bundle

            workdir = Path(tempfile.mkdtemp(prefix="pfx-snapshot-"))
            if ctx is not None:
                ctx.call_on_close(lambda: shutil.rmtree(workdir, ignore_errors=True))
            resolved = resolve_bundle(text, workdir)
            if resolved.snapshot is not None:
                click.echo(
                    f"pfx: {text}: snapshot {resolved.snapshot.short} "
                    f"({resolved.snapshot.time}) of {resolved.repository}",
                    err=True,
                )
            return resolved.path
        raise AssertionError("unreachable")  # fail_cleanly exits on any error


BUNDLE = BundleArgument()
