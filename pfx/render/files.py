"""The render pipeline: read records (a bundle file, or a live server in memory as an export
reads it), render them (pfx.render, pure), and write each file to a temporary name, then rename.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pfx import files
from pfx.errors import UsageError
from pfx.render.core import render
from pfx.render.model import Rendering
from pfx.render.script import SETUP_SH

__all__ = ["RenderResult", "render_to"]


@dataclass
class RenderResult:
    """What a render wrote, where from, and what it left out."""

    source: str
    directory: Path
    written: list[Path]
    rendering: Rendering


def render_to(
    directory: Path,
    bundle: Path | None = None,
    profile: str | None = None,
    *,
    include: Iterable[str] = (),
    exclude: Iterable[str] = (),
    concurrency: int = 8,
    passphrase: str | None = None,
) -> RenderResult:
    """Render the bundle file `bundle`, or without one the server of `profile` (None: the
    active profile), into `directory` (created if missing). With the `passphrase` of a
    sealed bundle, its authenticity is checked first."""
    if bundle is not None and profile is not None:
        raise UsageError("render reads a bundle or a server (-p PROFILE), not both")
    if bundle is not None:
        from pfx.authenticity import given_keys
        from pfx.bundlefile import read_bundle

        read = read_bundle(bundle)
        given_keys(read.manifest, passphrase)
        records = list(read.records)
        source = f"bundle {bundle.name}"
    else:
        from pfx.server.reading import read_records

        records, _, origin = read_records(profile, concurrency=concurrency)
        source = f"server {origin.url}" + (f" (profile {origin.profile})" if origin.profile else "")
    rendering = render(records, source=source, include=include, exclude=exclude)
    written = [write_file(directory / name, text) for name, text in sorted(rendering.files.items())]
    return RenderResult(source, directory, written, rendering)


def write_file(path: Path, text: str) -> Path:
    """Write `text` to `path` through the one atomic writer (pfx.files); the setup script is
    executable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return files.write_file(path, text.encode(), 0o755 if path.name == SETUP_SH else 0o644)
