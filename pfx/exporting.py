"""The export pipeline: read every kind from one API, build records, write one bundle.

Reads all kinds in the read phase (pfx.server.reading), resolves every id to a natural key,
seals secret values as asked, and writes the bundle atomically. Needs only the source API.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pfx import bundle, bundlefile
from pfx.cloud import name_cloud_only
from pfx.interrupts import run_interruptibly
from pfx.keying import build_records
from pfx.model import External, Manifest, Partial, SecretsMode, Source
from pfx.profiles import Target, resolve
from pfx.secrets import Sealer
from pfx.select import external_refs, parse_selector, select
from pfx.server.api import Api, Stats
from pfx.server.cloudreads import name_unlisted, read_access
from pfx.server.reading import read_server
from pfx.watching import Conduct

__all__ = ["ExportResult", "export_bundle"]


@dataclass
class ExportResult:
    """What an export wrote, and what it cost."""

    path: Path
    manifest: Manifest
    size: int
    seconds: float
    stats: Stats = field(default_factory=Stats)
    # For a partial export: "<label>: included as a dependency of <label>", one per record.
    dependencies: list[str] = field(default_factory=list)


def export_bundle(
    path: Path,
    profile: str | None = None,
    *,
    target: Target | None = None,
    secrets: SecretsMode = "withheld",
    passphrase: str | None = None,
    concurrency: int = 8,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    conduct: Conduct | None = None,
) -> ExportResult:
    """Export every resource of `profile` into the bundle file `path` (`-`: stdout), or with
    `include` / `exclude` selectors (pfx.select) the chosen ones and their dependencies.
    `target`: a server given directly (a URL and key, as the backup flow has them) instead of
    a profile; `conduct`: who watches the run, and its --max-rate (pfx.watching)."""
    for text in (*include, *exclude):
        parse_selector(text)  # a bad selector fails before any request
    target = target or resolve(profile)
    chosen = (tuple(include), tuple(exclude))
    conduct = conduct or Conduct()
    return run_interruptibly(
        _export, target, Path(path), secrets, passphrase, conduct, concurrency, chosen
    )


async def _export(
    target: Target,
    path: Path,
    mode: SecretsMode,
    passphrase: str | None,
    conduct: Conduct,
    concurrency: int,
    chosen: tuple[tuple[str, ...], tuple[str, ...]],
) -> ExportResult:
    started = time.monotonic()
    sealer = Sealer.create(mode, passphrase)
    async with Api(target, concurrency=concurrency, conduct=conduct) as api:
        read = await read_server(
            api, secrets=mode != "withheld", name_unreadable=True, side="source"
        )
        raw, named = read.raw, read.skipped
        answers, unread = await read_access(api, raw) if target.cloud else ({}, [])
        named += unread + (await name_unlisted(api) if target.cloud else [])
        stats = api.stats
    records, skipped = build_records(raw, sealer)
    partial: Partial | None = None
    notes: list[str] = []
    if any(chosen):
        picked = select(records, *chosen)
        records = picked.records
        external = [External(kind=r.kind, key=r.key) for r in external_refs(records)]
        partial = Partial(
            include=list(chosen[0]),
            exclude=list(chosen[1]),
            dependencies=len(picked.dependencies),
            external=external,
        )
        notes = [f"{r.label}: {why}" for r in records if (why := picked.because(r))]
    skipped += named + name_cloud_only(records, raw, answers)
    source = Source(
        url=target.public_url,
        profile=target.profile,
        server_version=read.server_version,
        api_version=read.api_version,
        cloud=target.cloud,
    )
    summary = sealer.summary(records)
    created = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    lines = bundle.encode(
        records,
        source=source,
        created=created,
        secrets=summary,
        skipped=skipped,
        selection=partial,
        keys=sealer.keys,
    )
    manifest_holder: list[Manifest] = []

    def tee() -> object:
        for i, line in enumerate(lines):
            if i == 0:
                manifest_holder.append(bundle.decode_manifest(line))
            yield line

    conduct.watcher.phase("writing bundle")
    size = bundlefile.write_lines(path, tee())  # type: ignore[arg-type]
    seconds = time.monotonic() - started
    return ExportResult(path, manifest_holder[0], size, seconds, stats, notes)
