"""The commands that need no server: help for every command, inspect, verify, secrets template."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from pfx.cli import cli
from tests.running import compress, pfx, raw_bytes

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "fixtures" / "golden" / "v1.0" / "bundle.pfx"


def commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The path of every command and group under `group`."""
    for name, command in sorted(group.commands.items()):
        yield (*path, name)
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))


ALL = list(commands(cli))


def command_at(path: tuple[str, ...]) -> click.Command:
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_one_error_line(result: Result, code: int = 2) -> str:
    """The result failed with `code` and exactly one `pfx: error:` line on stderr."""
    assert result.exit_code == code, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("pfx: error: ")
    assert "Traceback" not in result.output
    return lines[0]


# --- help -------------------------------------------------------------------------------------


def test_top_level_help_lists_every_command() -> None:
    """`pfx --help` works and names every command."""
    result = run("--help")
    assert result.exit_code == 0
    for name in cli.commands:
        assert name in result.stdout
    assert "--debug" in result.stdout


@pytest.mark.parametrize("path", ALL, ids=[" ".join(p) for p in ALL])
def test_every_command_help_mentions_its_options(path: tuple[str, ...]) -> None:
    """`pfx <command> --help` works and mentions each of the command's options."""
    result = run(*path, "--help")
    assert result.exit_code == 0, result.output
    for param in command_at(path).params:
        if isinstance(param, click.Option):
            assert any(opt in result.stdout for opt in param.opts), (param.name, result.stdout)


@pytest.mark.parametrize("path", ALL, ids=[" ".join(p) for p in ALL])
def test_every_command_and_option_is_documented(path: tuple[str, ...]) -> None:
    """Every command has a docstring and every option a help text."""
    command = command_at(path)
    assert command.help and command.help.strip(), f"pfx {' '.join(path)} has no docstring"
    undocumented = [
        param.opts[-1]
        for param in command.params
        if isinstance(param, click.Option) and not param.help
    ]
    assert not undocumented, f"pfx {' '.join(path)}: options without help: {undocumented}"


def test_selector_help_lists_every_kind_of_the_registry() -> None:
    """Every command that takes selectors lists every kind of pfx.kinds in its help, and
    render's --exclude help points at a selector grammar that its help does show."""
    from pfx.kinds import KINDS

    for path in (("export",), ("import",), ("render",), ("diff",), ("backup",)):
        text = " ".join(run(*path, "--help").stdout.split())
        assert "Selectors (--include picks" in text, path
        for kind in KINDS:
            assert kind.name in text, (path, kind.name)
    render = run("render", "--help").stdout
    assert "selectors: below" in " ".join(render.split()) and "KIND:GLOB" in render


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("import", GOLDEN, "--zzzz"), "no such option '--zzzz' (see `pfx import --help`)"),
        (("import",), "missing argument 'BUNDLE' (see `pfx import --help`)"),
        (("export", "-p", "x"), "missing option '-o' / '--output' (see `pfx export --help`)"),
        (("import", GOLDEN, "--on-conflict", "x"), "invalid value for '--on-conflict'"),
        (("nosuchcommand",), "no such command 'nosuchcommand'"),
        (("secrets", "nosuch"), "no such command 'nosuch' (see `pfx secrets --help`)"),
    ],
)
def test_usage_errors_are_one_pfx_error_line_exit_2(
    args: tuple[str | Path, ...], said: str
) -> None:
    """click's own usage errors read as every other error: one `pfx: error:` line naming the
    command's help, exit 2 (no `Usage:` block, no click `Error:` prefix)."""
    line = assert_one_error_line(run(*args))
    assert said in line, line
    assert "Error:" not in line


def test_debug_is_taken_after_the_command_too(tmp_path: Path) -> None:
    """`pfx CMD --debug` shows the traceback as `pfx --debug CMD` does, for a command, a
    subcommand of a group and a BUNDLE argument that is a snapshot reference."""
    edited = tampered(tmp_path)["edited"]
    for args in (
        ("verify", "--debug", edited),
        ("verify", edited, "--debug"),
        ("secrets", "template", "--debug", edited),
    ):
        bad = python_m_pfx(*args)
        assert bad.returncode != 0 and "Traceback" in bad.stderr, args
    without = python_m_pfx("verify", edited)
    assert "Traceback" not in without.stderr
    reference = python_m_pfx("inspect", "--debug", f"{tmp_path / 'norepo'}@latest")
    assert "Traceback" in reference.stderr


def test_version() -> None:
    """`pfx --version` prints the version."""
    from pfx import __version__

    result = run("--version")
    assert result.exit_code == 0 and __version__ in result.stdout


# --- inspect and verify on the golden bundle --------------------------------------------------


def test_verify_golden() -> None:
    """`pfx verify` exits 0 on an intact bundle and says how many records it holds."""
    result = run("verify", GOLDEN)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ok: ") and "5 records intact" in result.stdout
    assert result.stderr == ""
    quiet = run("verify", "-q", GOLDEN)
    assert quiet.exit_code == 0 and quiet.stdout == ""


def test_inspect_golden() -> None:
    """`pfx inspect` shows format, source, counts and secrets of the bundle."""
    result = run("inspect", GOLDEN)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "pfx-bundle 1.0" in out and "http://127.0.0.1:4200/api" in out
    assert "records:  5" in out and "1 withheld, 1 encrypted" in out


def test_inspect_json_parses() -> None:
    """`pfx inspect --json` prints one JSON object with counts and no per-record hashes."""
    result = run("inspect", "--json", GOLDEN)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["records"] == 5
    assert summary["counts"]["flow"] == 2 and summary["counts"]["variable"] == 3
    assert "hashes" not in summary


def test_secrets_template_golden() -> None:
    """`pfx secrets template` prints a secrets file naming every withheld value as null."""
    result = run("secrets", "template", GOLDEN)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["blocks"] == {"api-token": {"value": None}}


# --- damaged and foreign inputs ---------------------------------------------------------------


def tampered(tmp_path: Path) -> dict[str, Path]:
    """Damaged copies of the golden bundle, by what was done to them."""
    data = GOLDEN.read_bytes()
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    lines = raw_bytes(GOLDEN).splitlines(keepends=True)
    edited = [*lines]
    edited[1] = edited[1].replace(b'"etl"', b'"ETL"')
    variants = {
        "truncated": data[: len(data) - 7],
        "flipped": bytes(flipped),
        "edited": compress(b"".join(edited)),
        "dropped": compress(b"".join(lines[:-1])),
        "appended": data + b"\0",
    }
    out = {}
    for name, raw in variants.items():
        out[name] = tmp_path / f"{name}.pfx"
        out[name].write_bytes(raw)
    return out


@pytest.mark.parametrize("variant", ["truncated", "flipped", "edited", "dropped", "appended"])
def test_verify_tampered_is_exit_2_one_line(tmp_path: Path, variant: str) -> None:
    """`pfx verify` on a damaged copy exits 2 with one error line and no traceback."""
    line = assert_one_error_line(run("verify", tampered(tmp_path)[variant]))
    assert "damaged" in line


def test_inspect_tampered_manifest_is_exit_2(tmp_path: Path) -> None:
    """`pfx inspect` refuses a bundle whose manifest is not a pfx manifest."""
    lines = raw_bytes(GOLDEN).splitlines(keepends=True)
    lines[0] = lines[0].replace(b'"format":"pfx-bundle"', b'"format":"other"')
    path = tmp_path / "foreign.pfx"
    path.write_bytes(compress(b"".join(lines)))
    assert "not a pfx bundle" in assert_one_error_line(run("inspect", path))
    assert "not a pfx bundle" in assert_one_error_line(run("verify", path))


@pytest.mark.parametrize("command", ["inspect", "verify"])
def test_not_a_bundle_is_exit_2_one_line(tmp_path: Path, command: str) -> None:
    """inspect and verify refuse a text file, a directory and a missing file in one line."""
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    assert "not zstd-compressed" in assert_one_error_line(run(command, text))
    assert "is a directory" in assert_one_error_line(run(command, tmp_path))
    assert "no such file" in assert_one_error_line(run(command, tmp_path / "absent.pfx"))


def test_newer_major_names_the_reader(tmp_path: Path) -> None:
    """A bundle of a newer major format is refused, naming the pfx release that reads it."""
    lines = raw_bytes(GOLDEN).splitlines(keepends=True)
    manifest = json.loads(lines[0])
    manifest |= {"version": [2, 0], "reader": "2.1"}
    lines[0] = json.dumps(manifest).encode() + b"\n"
    path = tmp_path / "future.pfx"
    path.write_bytes(compress(b"".join(lines)))
    line = assert_one_error_line(run("inspect", path))
    assert "upgrade to pfx >= 2.1" in line


# --- the real process -------------------------------------------------------------------------


def python_m_pfx(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return pfx(dict(os.environ) | {"NO_COLOR": "1"}, *args, timeout=60)


def test_python_m_pfx(tmp_path: Path) -> None:
    """`python -m pfx` runs: help, verify of the golden bundle, and a one-line failure."""
    assert python_m_pfx("--help").returncode == 0
    ok = python_m_pfx("verify", GOLDEN)
    assert ok.returncode == 0 and "5 records intact" in ok.stdout
    bad = python_m_pfx("verify", tampered(tmp_path)["edited"])
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and bad.stderr.startswith("pfx: error: damaged bundle")
    assert "Traceback" not in bad.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    """With --debug a failure shows its traceback instead of one line."""
    bad = python_m_pfx("--debug", "verify", tampered(tmp_path)["edited"])
    assert bad.returncode != 0
    assert "Traceback" in bad.stderr and "BundleError" in bad.stderr


# --- output paths -------------------------------------------------------------------------------


def test_unwritable_output_paths_are_usage_errors_before_any_read(tmp_path: Path) -> None:
    """`-o DIR`, `-o` under a missing directory and `--report DIR` are refused in one line,
    exit 2, before any server is asked (the profile's server does not exist)."""
    env = {"PREFECT_API_URL": "http://127.0.0.1:9/api", "PREFECT_PROFILES_PATH": "/nonexistent"}
    for args in (
        ("export", "-o", tmp_path),
        ("export", "-o", tmp_path / "missing" / "snap.pfx"),
        ("import", GOLDEN, "--report", tmp_path),
    ):
        result = CliRunner().invoke(cli, [str(a) for a in args], env=env)
        # click's own usage errors (a `dir_okay=False` option) are fine too: exit 2, no trace.
        assert result.exit_code == 2, result.output
        assert "directory" in result.stderr and "Traceback" not in result.output
        assert "cannot reach" not in result.output
