"""No file clobbered, and `-` for pipes: an existing bundle, report or rendered file is refused
in one line unless --force; a report that is the bundle (by name, symlink or hard link) always;
render replaces only the files it wrote itself; `-` is stdin for a bundle argument (and any
pipe is), stdout for -o and --report. No server: a profile naming a closed port shows the
checks come before any request."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from fixtures.servers import free_port
from pfx.profiles import UNREACHABLE_ENV
from tests.running import one_line, pfx

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "fixtures" / "golden" / "v1.0" / "bundle.pfx"
GOLDEN_PASSPHRASE = orjson.loads((GOLDEN.parent / "expected.json").read_bytes())["passphrase"]


@pytest.fixture
def env(profiles_env: Callable[..., dict[str, str]]) -> dict[str, str]:
    """A user whose profile `gone` names a closed port (refused at once, given up after 1 s)."""
    return profiles_env(gone=f"http://127.0.0.1:{free_port()}/api") | {UNREACHABLE_ENV: "1"}


def test_an_existing_bundle_is_refused_before_any_request(
    env: dict[str, str], tmp_path: Path
) -> None:
    """`export -o` onto an existing file: one line, exit 2, the file untouched, no request
    made; with --force it goes on (and here meets the closed port: exit 69)."""
    target = tmp_path / "snap.pfx"
    target.write_bytes(b"my backup")
    refused = pfx(env, "export", "-p", "gone", "-o", target)
    assert refused.returncode == 2
    assert one_line(refused.stderr) == f"pfx: error: -o {target} exists; pass --force to replace it"
    assert target.read_bytes() == b"my backup"
    forced = pfx(env, "export", "-p", "gone", "-o", target, "--force", "-q")
    assert forced.returncode == 69 and "cannot reach" in forced.stderr
    assert target.read_bytes() == b"my backup"  # nothing half-written either


@pytest.mark.parametrize("how", ["same", "symlink", "hardlink", "relative"])
def test_a_report_that_is_the_bundle_is_refused_even_with_force(
    env: dict[str, str], tmp_path: Path, how: str
) -> None:
    """`--report` naming the bundle itself, or a symlink or hard link to it, is refused with
    --force too: the files are compared, not the names."""
    bundle = tmp_path / "mine.pfx"
    bundle.write_bytes(GOLDEN.read_bytes())
    report = {
        "same": bundle,
        "symlink": tmp_path / "link.json",
        "hardlink": tmp_path / "hard.json",
        "relative": Path(os.path.relpath(bundle)),
    }[how]
    if how == "symlink":
        report.symlink_to(bundle)
    if how == "hardlink":
        os.link(bundle, report)
    for extra in ((), ("--force",)):
        result = pfx(env, "import", bundle, "-p", "gone", "--report", report, "--dry-run", *extra)
        assert result.returncode == 2
        line = one_line(result.stderr)
        assert (
            line == f"pfx: error: --report {report} is {bundle}, which this command reads; "
            "name another file"
        )
    assert bundle.read_bytes() == GOLDEN.read_bytes()


def test_an_existing_report_needs_force(env: dict[str, str], tmp_path: Path) -> None:
    """An existing --report file is refused unless --force; with it, the report of the run
    (here stopped at the closed port) replaces it."""
    report = tmp_path / "report.json"
    report.write_text("yesterday's")
    refused = pfx(env, "import", GOLDEN, "-p", "gone", "--report", report)
    assert refused.returncode == 2
    assert "exists; pass --force to replace it" in one_line(refused.stderr)
    assert report.read_text() == "yesterday's"
    env = env | {"PFX_PASSPHRASE": GOLDEN_PASSPHRASE}
    forced = pfx(env, "import", GOLDEN, "-p", "gone", "--report", report, "--force", "-q")
    assert forced.returncode == 69
    assert '"not-attempted"' in report.read_text()


def test_prunes_kept_deletions_are_not_overwritten(env: dict[str, str], tmp_path: Path) -> None:
    """`--prune --report r.json` keeps what it deletes in r.deleted.pfx: an existing one (an
    earlier run's deletions) is refused unless --force, before any request; a dry run
    writes no such bundle and is not refused."""
    kept = tmp_path / "r.deleted.pfx"
    kept.write_bytes(b"last week's deletions")
    report = tmp_path / "r.json"
    refused = pfx(env, "import", GOLDEN, "-p", "gone", "--prune", "--report", report)
    assert refused.returncode == 2
    assert f"{kept} exists; pass --force" in one_line(refused.stderr)
    assert kept.read_bytes() == b"last week's deletions" and not report.exists()
    env = env | {"PFX_PASSPHRASE": GOLDEN_PASSPHRASE}
    dry = pfx(env, "import", GOLDEN, "-p", "gone", "--prune", "--report", report, "--dry-run")
    assert dry.returncode == 69  # past the checks: the closed port
    assert kept.read_bytes() == b"last week's deletions"


def test_render_replaces_only_its_own_files(tmp_path: Path) -> None:
    """Rendering again into the same directory replaces what render wrote; a hand edit, or a
    file of a rendered name it did not write, is refused in one line (naming it) unless
    --force; other files in the directory are left alone and do not stop it."""
    out = tmp_path / "infra"
    first = pfx({**os.environ}, "render", GOLDEN, "-o", out, "-q")
    assert first.returncode == 0, first.stderr
    assert (out / ".pfx-render.json").exists()
    (out / "README.md").write_text("my notes")
    again = pfx({**os.environ}, "render", GOLDEN, "-o", out, "-q")
    assert again.returncode == 0, again.stderr
    edited = (out / "prefect.yaml").read_text() + "# my change\n"
    (out / "prefect.yaml").write_text(edited)
    refused = pfx({**os.environ}, "render", GOLDEN, "-o", out)
    assert refused.returncode == 2
    line = one_line(refused.stderr)
    assert "holds prefect.yaml, which pfx did not write or which changed" in line
    assert "--force" in line
    assert (out / "prefect.yaml").read_text() == edited
    forced = pfx({**os.environ}, "render", GOLDEN, "-o", out, "--force", "-q")
    assert forced.returncode == 0
    assert "# my change" not in (out / "prefect.yaml").read_text()
    assert (out / "README.md").read_text() == "my notes"
    fresh = tmp_path / "project"
    fresh.mkdir()
    (fresh / "prefect.yaml").write_text("name: hand-written\n")
    foreign = pfx({**os.environ}, "render", GOLDEN, "-o", fresh)
    assert foreign.returncode == 2 and "holds prefect.yaml" in one_line(foreign.stderr)
    assert (fresh / "prefect.yaml").read_text() == "name: hand-written\n"
    to_stdout = pfx({**os.environ}, "render", GOLDEN, "-o", "-")
    assert to_stdout.returncode == 2 and "-o - cannot hold them" in one_line(to_stdout.stderr)
    assert not Path("-").exists()


def _piped(argv: list[str], data: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "pfx", *argv], input=data, capture_output=True, timeout=120
    )


@pytest.mark.parametrize("argument", ["-", "/dev/stdin"])
@pytest.mark.parametrize("command", ["verify", "inspect"])
def test_a_bundle_arrives_on_a_pipe(command: str, argument: str) -> None:
    """`pfx verify -` and `pfx verify /dev/stdin` (and inspect) read a bundle piped in."""
    result = _piped([command, argument], GOLDEN.read_bytes())
    assert result.returncode == 0, result.stderr
    assert (b"records intact" if command == "verify" else b"format:   pfx-bundle 1.0") in (
        result.stdout
    )


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "no bundle arrived (empty input)"),
        (b"not a bundle at all", "is not a pfx bundle (not zstd-compressed)"),
        (GOLDEN.read_bytes()[:-9], "is damaged"),
    ],
)
def test_a_bad_pipe_is_one_line(data: bytes, says: str) -> None:
    """Nothing, garbage or a cut-off bundle on a pipe: one line, exit 2, no traceback."""
    result = _piped(["verify", "-"], data)
    assert result.returncode == 2
    assert says in one_line(result.stderr.decode())


def test_stdout_carries_one_thing(env: dict[str, str], tmp_path: Path) -> None:
    """-o - with --json, or --report - with --json, is refused (both would go to stdout)."""
    export = pfx(env, "export", "-p", "gone", "-o", "-", "--json")
    assert export.returncode == 2 and "--json" in one_line(export.stderr)
    report = pfx(env, "import", GOLDEN, "-p", "gone", "--report", "-", "--json")
    assert report.returncode == 2 and "--json" in one_line(report.stderr)
    assert not (tmp_path / "-").exists() and not Path("-").exists()


def test_verify_proves_a_passphrase_offline(tmp_path: Path) -> None:
    """`verify --passphrase-file` (no server) says the passphrase opens every encrypted value
    and exits 0, or refuses a wrong one in one line with exit 2; on a pipe too."""
    right, wrong = tmp_path / "right", tmp_path / "wrong"
    right.write_text(GOLDEN_PASSPHRASE + "\n")
    wrong.write_text("not it\n")
    checked = pfx({**os.environ}, "verify", GOLDEN, "--passphrase-file", right)
    assert checked.returncode == 0, checked.stderr
    assert "the passphrase opens all 1 encrypted value" in checked.stdout
    refused = pfx({**os.environ}, "verify", GOLDEN, "--passphrase-file", wrong)
    assert refused.returncode == 2
    assert one_line(refused.stderr) == "pfx: error: wrong passphrase for this bundle"
    piped = _piped(["verify", "-", "--passphrase-file", str(wrong)], GOLDEN.read_bytes())
    assert piped.returncode == 2 and b"wrong passphrase" in piped.stderr
    plain = pfx({**os.environ}, "verify", GOLDEN)
    assert plain.returncode == 0 and "passphrase" not in plain.stdout
