"""Never silent while it waits, run as a user runs pfx against real servers: on a terminal (a
pty) the phase, each kind while it is read, done/total, rate and time left; in a log (stderr
not a terminal) timestamped lines; -q silent; -v each request without headers or bodies; each
retry as it happens; and pipes that carry a bundle or a report on stdout and nothing else."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from fixtures.compare import compare, take
from fixtures.proxy import Fault, Proxy
from fixtures.seed import SeedInfo
from fixtures.servers import Server
from tests.conftest import user_env
from tests.running import in_terminal, ok

PASSPHRASE = "progress tests"
STAMPED = re.compile(r"^\d\d:\d\d:\d\d pfx: ")
# A terminal of a fixed width, so rich lays rows out the same everywhere; DO_NOT_TRACK keeps
# Prefect's own first-run telemetry notice (printed on terminals only, by `import prefect`)
# out of what pfx draws.
TERMINAL = {"COLUMNS": "160", "LINES": "50", "TERM": "xterm-256color", "DO_NOT_TRACK": "1"}


@pytest.fixture
def slow_source(seeded_source: tuple[Server, SeedInfo]) -> Iterator[Proxy]:
    """The shared seeded source behind a proxy that adds 0.3 s to every request: each page of
    a kind stays on screen long enough to be seen."""
    server, _ = seeded_source
    with Proxy(server.url, delay=0.3) as proxy:
        yield proxy


def test_a_terminal_shows_each_kind_while_it_is_read(slow_source: Proxy, tmp_path: Path) -> None:
    """`pfx export` on a terminal says where it connects at once, then shows each kind with
    done/total while it is being read (variables at 200 of 210, before the last page), and
    erases the display before its summary."""
    env = user_env(tmp_path / "home", src=slow_source.url) | TERMINAL
    code, lines = in_terminal(env, "export", "-p", "src", "-o", tmp_path / "snap.pfx")
    assert code == 0, lines
    said = [line for line in lines if line.startswith("pfx: ")]
    assert said[0] == f"pfx: connecting to {slow_source.url} (profile src)"
    assert any(re.search(r"reading source: variable .*200/210", line) for line in lines), lines
    assert any(re.search(r"reading source: deployment .*\d+/30", line) for line in lines)
    summary = next(n for n, line in enumerate(lines) if line.startswith("exported "))
    assert not any("reading source" in line for line in lines[summary:])


def test_a_terminal_shows_the_writing_rate_and_time_left(
    seeded_source: tuple[Server, SeedInfo], new_server: Callable[[str], Server], tmp_path: Path
) -> None:
    """`pfx import` on a terminal shows the destination being read, then every record it
    settles: the kind, done/total, a rate and the time left; -q shows nothing at all."""
    src, _ = seeded_source
    dst = new_server("dst")
    env = user_env(tmp_path / "home", passphrase=PASSPHRASE, src=src, dst=dst) | TERMINAL
    bundle = tmp_path / "snap.pfx"
    ok(env, "export", "-p", "src", "-o", bundle, "--secrets", "encrypt", "-q")
    code, lines = in_terminal(env, "import", bundle, "-p", "dst")
    assert code == 0, lines
    assert any("reading destination" in line for line in lines)
    writing = [line for line in lines if re.search(r"writing: [a-z-]+ .* \d+/\d+ ", line)]
    assert writing, lines
    assert any(re.search(r"\d+/s +\d+:\d\d:\d\d", line) for line in writing), writing
    quiet_code, quiet = in_terminal(env, "import", bundle, "-p", "dst", "-q")
    assert quiet_code == 0 and quiet == [], quiet


def test_a_log_gets_timestamped_lines_every_few_seconds(
    slow_source: Proxy, new_server: Callable[[str], Server], tmp_path: Path
) -> None:
    """With stderr not a terminal (a CI log): a stamped line per phase and a status line every
    PFX_PROGRESS_SECONDS (kinds read so far while reading; records, rate and time left while
    writing); stdout holds the summary only; -q leaves stderr empty."""
    dst = new_server("dst")
    env = user_env(tmp_path / "home", passphrase=PASSPHRASE, src=slow_source.url, dst=dst)
    env["PFX_PROGRESS_SECONDS"] = "0.5"
    bundle = tmp_path / "snap.pfx"
    export = ok(env, "export", "-p", "src", "-o", bundle, "--secrets", "encrypt")
    lines = export.stderr.splitlines()
    assert lines and all(STAMPED.match(line) for line in lines), lines
    assert "connecting to" in lines[0]
    assert any(line.endswith("pfx: reading source") for line in lines)
    assert any(re.search(r"reading source: .*[a-z-]+ \d+/(\d+|\?)", line) for line in lines)
    assert any(line.endswith("pfx: writing bundle") for line in lines)
    assert export.stdout.startswith("exported ")
    with Proxy(dst.url, delay=0.05) as slow_destination:
        env = user_env(tmp_path / "home2", passphrase=PASSPHRASE, dst=slow_destination.url)
        env["PFX_PROGRESS_SECONDS"] = "0.5"
        imported = ok(env, "import", bundle, "-p", "dst")
        quiet = ok(env, "import", bundle, "-p", "dst", "-q")
    status = [line for line in imported.stderr.splitlines() if " records" in line]
    assert any(re.search(r"writing: \d+/\d+ records, \d+/s, about \d+ s left", s) for s in status)
    assert quiet.stderr == "" and quiet.stdout == ""


def test_verbose_logs_requests_never_headers_or_bodies(
    seeded_source: tuple[Server, SeedInfo], tmp_path: Path
) -> None:
    """-v logs each request (method, path, status, ms) on stderr; the API key, a custom
    header's value and any value from a body never appear."""
    src, _ = seeded_source
    env = user_env(tmp_path / "home", src=src)
    env["PREFECT_API_KEY"] = "pnu_not-a-real-key-but-secret"
    env["PREFECT_CLIENT_CUSTOM_HEADERS"] = '{"X-Gate": "gate-secret-value"}'
    result = ok(env, "export", "-p", "src", "-o", tmp_path / "snap.pfx", "-v", "-q")
    requests = [line for line in result.stderr.splitlines() if " -> " in line]
    assert any(re.search(r"pfx: GET /version -> 200 \(\d+ ms\)$", line) for line in requests)
    assert any("POST /variables/filter -> 200" in line for line in requests)
    assert "not-a-real-key" not in result.stderr and "gate-secret-value" not in result.stderr
    assert "value-0" not in result.stderr  # the seed's variable values
    assert "reading source" not in result.stderr  # -q: no progress, only what -v asked


def test_each_retry_is_said_as_it_happens(
    seeded_source: tuple[Server, SeedInfo], tmp_path: Path
) -> None:
    """A server that answers 503 twice: each retry is one line naming the request, the answer
    and the wait, as it happens; the export then succeeds."""
    src, _ = seeded_source
    faults = [Fault("503", "POST", r"/variables/filter", times=2)]
    with Proxy(src.url, faults=faults) as flaky:
        env = user_env(tmp_path / "home", src=flaky.url)
        result = ok(env, "export", "-p", "src", "-o", tmp_path / "snap.pfx")
    retries = [line for line in result.stderr.splitlines() if "trying again" in line]
    assert len(retries) == 2, result.stderr
    assert all(
        re.search(
            r"POST /variables/filter: HTTP 503 .*; trying again in [\d.]+ s \(attempt \d\)", r
        )
        for r in retries
    )


def test_a_bundle_and_a_report_travel_through_pipes(
    seeded_source: tuple[Server, SeedInfo], new_server: Callable[[str], Server], tmp_path: Path
) -> None:
    """`pfx export -p src -o - | pfx import - -p dst --report -`: the bundle is all that
    export prints on stdout, the report all that import prints there (the rest on stderr),
    and the destination ends equal to the source."""
    src, _ = seeded_source
    dst = new_server("dst")
    env = user_env(tmp_path / "home", passphrase=PASSPHRASE, src=src, dst=dst)
    pfx_cmd = f"{sys.executable} -m pfx"
    pipeline = (
        f"{pfx_cmd} export -p src -o - --secrets encrypt 2>export.err"
        f" | {pfx_cmd} import - -p dst --report - 2>import.err"
    )
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", pipeline],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        timeout=900,
    )
    assert done.returncode == 0, (tmp_path / "import.err").read_text()
    report = orjson.loads(done.stdout)
    assert report["exit_code"] == 0 and report["counts"]["created"] > 0
    assert "exported " in (tmp_path / "export.err").read_text()
    assert "imported: " in (tmp_path / "import.err").read_text()
    wrong = [v for v in compare(take(src.url), take(dst.url)) if v.state not in ("equal", "own")]
    assert not wrong, wrong[:5]
