"""Running `pfx` as a user does: a subprocess with a profiles environment, output captured."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
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


def one_line(stderr: str) -> str:
    """The only line of a failure's stderr: exactly one line, and no traceback."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def raw_bytes(path: Path) -> bytes:
    """The decompressed content of a bundle file."""
    return zstandard.ZstdDecompressor().decompressobj().decompress(path.read_bytes())


def compress(content: bytes) -> bytes:
    """`content` as a bundle file holds it (one zstd frame with its checksum)."""
    return zstandard.ZstdCompressor(write_checksum=True).compress(content)


def by_key(bundle: Bundle) -> dict[tuple[str, tuple[str, ...]], object]:
    """Record content by (kind, key) in portable form (ids as natural keys), for comparing
    bundles from different servers."""
    from pfx.comparison import bundle_index
    from pfx.ids import portable

    tokens = bundle_index(bundle.records).tokens()
    return {(r.kind, r.key): portable(r.data, tokens) for r in bundle.records}


def load(path: Path) -> Bundle:
    return read_bundle(path)


def json_out(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    value = orjson.loads(result.stdout)
    assert isinstance(value, dict)
    return value


def in_terminal(
    env: dict[str, str], *args: str | Path, timeout: float = 600
) -> tuple[int, list[str]]:
    """Run `python -m pfx ARGS` on a pseudo-terminal (stdin, stdout and stderr all on it, as in
    a user's shell); its exit code and every line it drew, escape sequences removed (a line
    redrawn in place counts once per drawing)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: becomes pfx
        os.execve(sys.executable, [sys.executable, "-m", "pfx", *map(str, args)], env)
    out = bytearray()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    else:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.decode(errors="replace"))
    return os.waitstatus_to_exitcode(status), [s for s in re.split(r"[\r\n]+", text) if s.strip()]
