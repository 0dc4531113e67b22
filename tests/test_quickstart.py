"""README's Quick start, walked as a new user walks it: a fresh virtualenv, pfx pip-installed
from this checkout (pip resolves Prefect and the rest from the package index), Prefect
profiles made with the `prefect` command, then export, inspect, dry run and import, each
command exactly as README writes it; the destination ends as the source (independent
census)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from fixtures import compare
from fixtures.clients import build_wheel
from fixtures.releases import INSTALL_TIMEOUT_S
from fixtures.seed import SeedInfo
from fixtures.servers import Server
from tests.conftest import prefect_free_environ

ROOT = Path(__file__).resolve().parents[1]
PASSPHRASE = "quick start passphrase"
# What README's commands name that this test provides instead: the checkout to install, and
# the two servers' URLs.
INSTALL = "./pfx"
OLD_URL = "http://prefect-old.example:4200/api"
NEW_URL = "http://prefect-new.example:4200/api"
# Exit codes README's comments promise: the dry run would write (6), everything else 0.
EXPECTED = {"pfx import snap.pfx -p new --dry-run": 6}


def quick_start_commands() -> list[str]:
    """The command lines of README's Quick start block, comments left out."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("\n## Quick start\n")
    block = re.search(r"^```sh\n(.*?)^```", text[start:], re.S | re.M)
    assert block is not None, "README's Quick start has no ```sh block"
    lines = [line.strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_readme_quick_start_from_a_fresh_virtualenv(
    seeded_source: tuple[Server, SeedInfo], new_server: Callable[[str], Server], tmp_path: Path
) -> None:
    """Every Quick start command runs in a new virtualenv with pfx installed from this
    checkout by pip, with its promised exit code, and afterwards the new server holds
    every record of the old one, equal (independent census)."""
    source, _ = seeded_source
    destination = new_server("new")
    commands = quick_start_commands()
    assert any("pip install" in c for c in commands) and commands[-1].startswith("pfx import")
    wheel = build_wheel(tmp_path / "wheel")
    venv = tmp_path / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=300)
    work = tmp_path / "work"
    work.mkdir()
    env = prefect_free_environ() | {
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "VIRTUAL_ENV": str(venv),
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PFX_PASSPHRASE": PASSPHRASE,  # what the user types at the two prompts
    }
    env.pop("PYTHONPATH", None)
    baseline = compare.take(destination.url)
    for command in commands:
        line = command.replace(INSTALL, str(wheel)).replace(OLD_URL, source.url)
        line = line.replace(NEW_URL, destination.url)
        done = subprocess.run(
            shlex.split(line),
            env=env,
            cwd=work,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
        want = EXPECTED.get(command, 0)
        assert done.returncode == want, (
            f"$ {line}\n-> {done.returncode}\n{done.stdout}\n{done.stderr}"
        )
        if command.startswith("python3 -m pip install"):
            assert (venv / "bin" / "pfx").exists() and (venv / "bin" / "prefect").exists()
    verdicts = compare.compare(compare.take(source.url), compare.take(destination.url), baseline)
    wrong = [(v.label, v.state, v.fields) for v in verdicts if v.state not in ("equal", "own")]
    assert not wrong, wrong[:5]
