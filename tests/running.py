"""Running `pfx` as a user does: a subprocess with a profiles environment, output captured."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import zstandard

from pfx.bundle import Bundle
from pfx.bundlefile import read_bundle


def pfx(
    env: dict[str, str], *args: str | Path, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run `python -m pfx ARGS` with `env`; never raises on a non-zero exit."""
    return subprocess.run(
        [sys.executable, "-m", "pfx", *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def ok(env: dict[str, str], *args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run pfx and fail the test, showing its output, unless it exits 0."""
    result = pfx(env, *args)
    assert result.returncode == 0, (
        f"pfx {args} -> {result.returncode}\n{result.stdout}\n{result.stderr}"
    )
    return result


def raw_bytes(path: Path) -> bytes:
    """The decompressed content of a bundle file."""
    return zstandard.ZstdDecompressor().decompressobj().decompress(path.read_bytes())


def by_key(bundle: Bundle) -> dict[tuple[str, tuple[str, ...]], object]:
    """Record content by (kind, key) in portable form (ids as natural keys), for comparing
    bundles from different servers."""
    from pfx.ids import portable
    from pfx.plan import bundle_index

    tokens = bundle_index(bundle.records).tokens()
    return {(r.kind, r.key): portable(r.data, tokens) for r in bundle.records}


def load(path: Path) -> Bundle:
    return read_bundle(path)


def json_out(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    value = orjson.loads(result.stdout)
    assert isinstance(value, dict)
    return value
