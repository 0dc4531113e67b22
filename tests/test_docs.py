"""The documentation is held to the code: every `pfx` command line in README.md and docs/
parses as the CLI defines it, every command is in README's table, every link resolves, the
map example is a valid map, and the library and scheduled-backup examples run against real
local servers as written. (The Quick start is walked by tests/test_quickstart.py, the
prefect.yaml example deployed by tests/test_flow.py.)"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import httpx
import pytest

from fixtures.inventory import read_all
from fixtures.seed import SeedInfo
from fixtures.servers import Server
from pfx.cli import cli
from pfx.cli.bundlearg import BundleArgument
from tests.conftest import user_env

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def blocks(path: Path, lang: str | None = None) -> list[str]:
    """The fenced code blocks of a Markdown file (of one language, if given)."""
    text = path.read_text(encoding="utf-8")
    return [m.group(2) for m in FENCE.finditer(text) if lang is None or m.group(1) == lang]


def section(path: Path, heading: str) -> str:
    """The text under `heading` (a `## ` line) up to the next heading of that level."""
    text = path.read_text(encoding="utf-8")
    start = text.index(f"\n{heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def command_lines() -> Iterator[tuple[str, list[str]]]:
    """(where, argv) of every `pfx ...` line in a code block of the docs (a `$ ` prompt and a
    trailing comment taken off)."""
    for path in DOCS:
        for body in blocks(path):
            for line in body.splitlines():
                text = line.strip().removeprefix("$ ")
                if text.startswith("pfx "):
                    words = shlex.split(text, comments=True)
                    yield f"{path.name}: {text}", words[1:]


COMMAND_LINES = list(command_lines())


@pytest.mark.parametrize(("where", "argv"), COMMAND_LINES, ids=[w for w, _ in COMMAND_LINES])
def test_every_documented_command_line_parses(
    where: str, argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each documented command line names a command, options it has, values its choices
    take, and the arguments it wants (parsed by click, not run; snapshot references are
    not fetched)."""
    monkeypatch.setattr(BundleArgument, "convert", lambda self, value, param, ctx: Path(value))
    command: click.Command = cli
    ctx = cli.make_context("pfx", list(argv))
    args = rest(ctx)
    while isinstance(command, click.Group):
        name, found, args = command.resolve_command(ctx, args)
        assert found is not None, where
        command = found
        ctx = command.make_context(name or "", args, parent=ctx)
        args = rest(ctx)
    assert not args, f"{where}: unexpected arguments {args}"


def rest(ctx: click.Context) -> list[str]:
    """What a group's context left for its command (click 8 keeps the command's name apart,
    in `protected_args`, deprecated for click 9, which keeps it in `args`)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return [*getattr(ctx, "protected_args", []), *ctx.args]


def test_every_command_is_in_the_readme_commands_table() -> None:
    """README's Commands table names every command of the CLI (sqlite-utils' rule: a
    command without documentation fails a test)."""
    table = section(ROOT / "README.md", "## Commands")
    missing = [name for name in cli.commands if f"`pfx {name}" not in table]
    assert not missing, f"README's Commands table lacks {missing}"


LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(path: Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings."""
    out = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            out.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return out


@pytest.mark.parametrize("path", DOCS, ids=[p.name for p in DOCS])
def test_links_resolve(path: Path) -> None:
    """Every relative link of the docs names a file that exists, and an anchor a heading."""
    for target in LINK.findall(path.read_text(encoding="utf-8")):
        if re.match(r"^[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        assert dest.exists(), f"{path.name}: {target}"
        if anchor:
            assert anchor in anchors(dest), f"{path.name}: no heading for #{anchor}"


def test_the_map_example_is_a_valid_map() -> None:
    """README's TOML map parses as `--map` reads it, with every kind of entry it shows."""
    from pfx.mapping import parse_mapping

    (text,) = blocks(ROOT / "README.md", "toml")
    envmap = parse_mapping(text, "README.md")
    assert set(envmap.renames) == {
        "work-pool",
        "work-queue",
        "block-document",
        "variable",
        "global-concurrency-limit",
    }
    assert envmap.values == {"env_name": "prod"} and len(envmap.patches) == 2


def python_example(text: str) -> str:
    (code,) = [b for b in blocks(ROOT / "README.md", "python") if text in b]
    return code


def run_python(code: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_library_example_runs_as_written(
    seeded_source: tuple[Server, SeedInfo], new_server: Callable[[str], Server], tmp_path: Path
) -> None:
    """README's library example exports profile `local` and imports into profile `cloud`
    (two real servers) and prints what it says; the destination then holds the flows."""
    source, _ = seeded_source
    cloud = new_server("cloud")
    env = user_env(tmp_path / "home", local=source, cloud=cloud)
    done = run_python(python_example("export_bundle("), env, tmp_path)
    assert done.returncode == 0, done.stderr
    printed = done.stdout.splitlines()
    assert printed[0].startswith("{'created': ") and printed[1].startswith("{'added': ")
    assert (tmp_path / "snap.pfx").is_file()
    flows = {f["name"] for f in read_all(source.url, "flow")}
    assert flows <= {f["name"] for f in read_all(cloud.url, "flow")}


def test_the_scheduled_backup_example_deploys(
    new_server: Callable[[str], Server], tmp_path: Path
) -> None:
    """README's Python deployment of pfx.flows:backup runs as written against a server with
    the `backups` process pool, and the server then holds the hourly deployment."""
    server = new_server("orchestrator")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        made = client.post("/work_pools/", json={"name": "backups", "type": "process"})
        assert made.status_code < 300, made.text
    env = user_env(tmp_path / "home") | {"PREFECT_API_URL": server.url}
    done = run_python(python_example("backup.deploy("), env, tmp_path)
    assert done.returncode == 0, done.stderr
    (deployment,) = read_all(server.url, "deployment")
    assert deployment["name"] == "hourly" and deployment["work_pool_name"] == "backups"
    assert deployment["entrypoint"] == "pfx.flows.backup"  # a module path: no code to pull
