"""What the CLI prints: progress lines, tables and JSON summaries (no secret ever passes here)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click
import orjson

if TYPE_CHECKING:
    from pfx.exporting import ExportResult
    from pfx.model import Manifest


def export_progress() -> Callable[[str, int], None] | None:
    """A per-kind progress printer for terminals; None when stderr is not a terminal."""
    if not sys.stderr.isatty():
        return None

    def show(kind: str, count: int) -> None:
        click.echo(f"  read {count:>6} {kind}", err=True)

    return show


def _counts_table(counts: dict[str, int]) -> list[str]:
    width = max((len(k) for k in counts), default=4)
    return [f"  {kind:<{width}}  {n:>7}" for kind, n in counts.items()]


def export_text(result: ExportResult) -> str:
    m = result.manifest
    total = sum(m.counts.values())
    lines = [
        f"exported {total} records from {m.source.url} to {result.path} "
        f"({result.size / 1024:.1f} KiB, {result.seconds:.1f} s, {result.stats.requests} requests)",
        *_counts_table(m.counts),
        f"  secrets: {_secrets_line(m)}",
    ]
    lines += [f"  not exported: {s.kind} {'/'.join(s.key)}: {s.reason}" for s in m.skipped]
    return "\n".join(lines)


def export_json(result: ExportResult) -> str:
    m = result.manifest
    return orjson.dumps(
        {
            "path": str(result.path),
            "size": result.size,
            "seconds": round(result.seconds, 3),
            "requests": result.stats.requests,
            "counts": m.counts,
            "records": sum(m.counts.values()),
            "secrets": m.secrets.model_dump(include={"mode", "withheld", "encrypted", "plaintext"}),
            "skipped": [s.model_dump(mode="json") for s in m.skipped],
            "digest": m.digest,
        }
    ).decode()


def _secrets_line(m: Manifest) -> str:
    s = m.secrets
    return f"{s.mode} ({s.withheld} withheld, {s.encrypted} encrypted, {s.plaintext} in clear)"


def inspect_text(path: Path, m: Manifest) -> str:
    lines = [
        f"bundle:   {path}",
        f"format:   {m.format} {m.version[0]}.{m.version[1]} (written by pfx {m.pfx_version})",
        f"created:  {m.created}",
        f"source:   {m.source.url}"
        + (f" (profile {m.source.profile})" if m.source.profile else ""),
        f"server:   Prefect {m.source.server_version or '?'}, API {m.source.api_version or '?'}",
        f"secrets:  {_secrets_line(m)}",
        f"records:  {sum(m.counts.values())}",
        *_counts_table(m.counts),
    ]
    if m.skipped:
        lines.append(f"not exported: {len(m.skipped)}")
        lines += [f"  {s.kind} {'/'.join(s.key)}: {s.reason}" for s in m.skipped]
    return "\n".join(lines)


def inspect_json(m: Manifest) -> str:
    return orjson.dumps(
        m.model_dump(mode="json", exclude={"hashes", "edges"})
        | {
            "records": sum(m.counts.values()),
            "edges": len(m.edges),
        }
    ).decode()
