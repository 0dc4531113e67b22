"""Hostile bundles (fixtures/hostile.py, issue 19): every attack is refused in one line, or
is inert. Bombs are read by each command in a subprocess under a 200 MB address-space limit
(refused, exit 2, never a MemoryError or an abort); forgeries are refused with the
passphrase; what verify lets through, commands name."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures import hostile

MEMORY = 200 * 2**20


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def pfx_limited(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """`pfx ARGS` in a subprocess whose address space is limited to 200 MB (no server)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PFX_"))}
    return subprocess.run(
        [sys.executable, "-m", "pfx", *map(str, args)],
        preexec_fn=_limited,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,  # generous: refusals take about a second; no timing is asserted
        check=False,
    )


@pytest.fixture(scope="module")
def bombs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every bomb of fixtures/hostile.py, written once for the module."""
    where = tmp_path_factory.mktemp("bombs")
    return {name: make(where) for name, make in hostile.BOMBS.items()}


@pytest.mark.parametrize("name", list(hostile.BOMBS))
def test_bombs_are_refused_under_a_memory_limit(bombs: dict[str, Path], name: str) -> None:
    """A few kilobytes that decompress to gigabytes, a manifest of repeated hashes, a record
    of millions of `{}`: `verify` and `diff` refuse each in one line, exit 2, within 200 MB;
    `inspect` (which reads the manifest only) refuses it or shows it."""
    path = bombs[name]
    for args in (("verify", path), ("diff", path, path), ("inspect", path)):
        result = pfx_limited(*args)
        accepted = (0, 2) if args[0] == "inspect" else (2,)
        assert result.returncode in accepted, (args, result.returncode, result.stderr[-2000:])
        if result.returncode:
            assert result.stderr.startswith("pfx: error: "), result.stderr[-2000:]
            assert len(result.stderr.strip().splitlines()) == 1, result.stderr[-2000:]
            assert "MemoryError" not in result.stderr


@pytest.mark.parametrize("name", ["newlines-32k", "empty-objects"])
def test_every_reading_command_refuses_a_bomb(
    bombs: dict[str, Path], name: str, tmp_path: Path
) -> None:
    """`render`, `secrets template` and `import --dry-run` read a bomb as `verify` does:
    refused in one line within 200 MB, nothing written."""
    path = bombs[name]
    for args in (
        ("render", path, "-o", tmp_path / "out"),
        ("secrets", "template", path),
        ("import", path, "-p", "nowhere", "--dry-run"),
    ):
        result = pfx_limited(*args)
        assert result.returncode == 2, (args, result.stderr[-2000:])
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr[-2000:]
    assert not (tmp_path / "out").exists()


def test_refusals_name_the_limit(bombs: dict[str, Path]) -> None:
    """Each bomb is refused for what it is: a line too long, too much in total, more records
    than the file can hold, not a bundle."""
    words = {
        "newlines-3.5k": "first line is not JSON",
        "long-line": "line longer than",
        "repeated-hashes": "line longer than",
        "repeated-hashes-short": "more than a file of",
        "empty-objects": "line longer than",
        "large-total": "decompresses to more than",
    }
    for name, want in words.items():
        result = pfx_limited("verify", bombs[name])
        assert want in result.stderr, (name, result.stderr)
