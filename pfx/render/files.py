"""The render pipeline: read records (a bundle file, or a live server in memory as an export
reads it), render them (pfx.render, pure), and write each file to a temporary name, then rename.

Render replaces only what it wrote itself: it leaves `.pfx-render.json` in the directory,
the sha256 of each file it wrote. A file of a name render writes that is not recorded there,
or whose content changed since (a hand edit), is refused before any work unless `force`.
The record is written before the files (old and new hashes both) and after them (new only), so
a render killed part way still recognises every file it left.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import orjson

from pfx import files
from pfx.errors import UsageError
from pfx.render.automations import AUTOMATIONS_YAML
from pfx.render.core import render
from pfx.render.deployments import PREFECT_YAML
from pfx.render.model import Rendering
from pfx.render.script import SETUP_JSON, SETUP_PY, SETUP_SH
from pfx.watching import Conduct

RECORD = ".pfx-render.json"
FORMAT = "pfx-render"
# Every name render can write: checked before any work, whatever the records hold.
NAMES = (PREFECT_YAML, AUTOMATIONS_YAML, SETUP_SH, SETUP_JSON, SETUP_PY)
# The record is a few hundred bytes; anything longer is not one.
RECORD_MAX = 64 * 1024
# Rendered files are a few megabytes at most; a file of a rendered name that is larger is
# not pfx's (and is not hashed whole to find out).
FILE_MAX = 256 * 1024 * 1024

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
    force: bool = False,
    conduct: Conduct | None = None,
) -> RenderResult:
    """Render the bundle file `bundle`, or without one the server of `profile` (None: the
    active profile), into `directory` (created if missing). With the `passphrase` of a
    sealed bundle, its authenticity is checked first. Files render did not write (module doc)
    are replaced only with `force`."""
    if bundle is not None and profile is not None:
        raise UsageError("render reads a bundle or a server (-p PROFILE), not both")
    if files.is_stdout(directory):
        raise UsageError("render writes several files into a directory: -o - cannot hold them")
    directory = Path(directory)
    known = read_record(directory)
    if not force:
        check_ours(directory, known)
    if bundle is not None:
        from pfx.authenticity import given_keys
        from pfx.bundlefile import read_bundle

        read = read_bundle(bundle)
        given_keys(read.manifest, passphrase)
        records = list(read.records)
        source = f"bundle {bundle.name}"
    else:
        from pfx.server.reading import read_records

        records, _, origin = read_records(profile, concurrency=concurrency, conduct=conduct)
        source = f"server {origin.url}" + (f" (profile {origin.profile})" if origin.profile else "")
    rendering = render(records, source=source, include=include, exclude=exclude)
    texts = {name: text.encode() for name, text in sorted(rendering.files.items())}
    new = {name: _digest(content) for name, content in texts.items()}
    # Files pfx wrote before and does not write now stay recognised while unchanged.
    kept = {n: h for n, h in known.items() if n not in new and _hash_of(directory / n) in h}
    _write_record(directory, {n: sorted({*known.get(n, []), new[n]}) for n in new} | kept)
    written = [write_file(directory / name, content) for name, content in texts.items()]
    _write_record(directory, {n: [h] for n, h in new.items()} | kept)
    return RenderResult(source, directory, written, rendering)


def check_ours(directory: Path, known: dict[str, list[str]]) -> None:
    """UsageError naming every file of a rendered name in `directory` that render did not
    write or that changed since (see module doc)."""
    foreign = [
        name
        for name in NAMES
        if (directory / name).is_symlink()
        or ((directory / name).exists() and _hash_of(directory / name) not in known.get(name, []))
    ]
    if foreign:
        raise UsageError(
            f"{directory} holds {', '.join(foreign)}, which pfx did not write or which changed "
            "since it did; pass --force to replace them"
        )


def read_record(directory: Path) -> dict[str, list[str]]:
    """The hashes render recorded for each name it wrote in `directory` (empty when there is
    no readable record: then no file there is known as pfx's)."""
    try:
        with open(directory / RECORD, "rb") as fh:
            raw = fh.read(RECORD_MAX + 1)
    except OSError:
        return {}
    try:
        value = orjson.loads(raw) if len(raw) <= RECORD_MAX else None
    except orjson.JSONDecodeError:
        return {}
    if not isinstance(value, dict) or value.get("format") != FORMAT:
        return {}
    found = value.get("files")
    if not isinstance(found, dict):
        return {}
    return {
        name: [h for h in hashes if isinstance(h, str)]
        for name, hashes in found.items()
        if name in NAMES and isinstance(hashes, list)
    }


def _write_record(directory: Path, hashes: dict[str, list[str]]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    body = {"format": FORMAT, "version": 1, "files": dict(sorted(hashes.items()))}
    files.write_file(directory / RECORD, orjson.dumps(body, option=orjson.OPT_INDENT_2), 0o644)


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _hash_of(path: Path) -> str | None:
    """The sha256 of the regular file at `path` (None: none there, or not one pfx writes)."""
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > FILE_MAX:
            return None
        return _digest(path.read_bytes())
    except OSError:
        return None


def write_file(path: Path, content: bytes) -> Path:
    """Write `content` to `path` through the one atomic writer (pfx.files); the setup script
    is executable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return files.write_file(path, content, 0o755 if path.name == SETUP_SH else 0o644)
