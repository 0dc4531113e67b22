"""The one error boundary (pfx.boundary): every command, and an import that stops part way,
turn an error into the same one line and exit code."""

from __future__ import annotations

import errno
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from pfx import importing
from pfx.boundary import fail_cleanly, stop_of
from pfx.bundlefile import read_bundle
from pfx.errors import ApiError, BundleError, RepositoryError, Unreachable
from pfx.graph import build_graph
from pfx.profiles import Target
from pfx.secretsfile import SecretValues

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden" / "v1.0" / "bundle.pfx"
REFUSED = PermissionError(errno.EACCES, "Permission denied", "/srv/out/report.json")


def test_errors_become_one_line_and_an_exit_code() -> None:
    """Our errors carry their code (a server or repository that cannot be used: 69, never 1);
    Ctrl-C is 130; a refused permission, a full disk or a missing directory are the user's
    (2); anything else is a bug (70)."""
    assert stop_of(BundleError("damaged")).code == 2
    assert stop_of(Unreachable("cannot reach x")).code == 69
    assert stop_of(ApiError("refused the credentials", 401)).code == 69
    assert stop_of(RepositoryError("repository s3://b: cannot list")).code == 69
    assert stop_of(KeyboardInterrupt()).code == 130
    refused = stop_of(REFUSED)
    assert (refused.line, refused.code) == ("Permission denied: /srv/out/report.json", 2)
    assert stop_of(OSError(errno.ENOSPC, "No space left on device")).code == 2
    bug = stop_of(ValueError("x"))
    assert (bug.code, bug.bug) == (70, True) and bug.line == "internal error: ValueError: x"
    assert stop_of(OSError(errno.ECONNRESET, "reset")).code == 70


def test_a_group_of_concurrent_errors_stands_for_its_first_own_error() -> None:
    """Concurrent tasks fail together: our own error says what went wrong, else the first."""
    group = BaseExceptionGroup("tasks", [ValueError("later"), ExceptionGroup("x", [REFUSED])])
    assert stop_of(group).code == 70
    ours = ExceptionGroup("tasks", [ValueError("noise"), Unreachable("cannot reach x")])
    assert (stop_of(ours).line, stop_of(ours).code) == ("cannot reach x", 69)


def golden_run() -> importing._Run:
    """An import of the golden bundle that has not started."""
    bundle = read_bundle(GOLDEN)
    target = Target(url="http://127.0.0.1:9/api", profile=None)
    graph = build_graph(bundle.records)
    return importing._Run(
        bundle, str(GOLDEN), graph, SecretValues(), target, "skip", False, 1, None
    )


def test_an_import_that_hits_a_refused_permission_stops_as_other_commands_do() -> None:
    """An import stopped by EACCES exits 2 with its partial report, as any other command
    does (it was 70, an internal error)."""
    stopped = importing._stopped(golden_run(), REFUSED)
    assert stopped.exit_code == stop_of(REFUSED).code == 2
    assert str(stopped).endswith("Permission denied: /srv/out/report.json")
    assert {o.status for o in stopped.report.outcomes} == {"not-attempted"}


@pytest.mark.parametrize(
    ("error", "code", "line"),
    [
        (REFUSED, 2, "pfx: error: Permission denied: /srv/out/report.json"),
        (BundleError("damaged bundle"), 2, "pfx: error: damaged bundle"),
        (KeyboardInterrupt(), 130, "pfx: interrupted"),
        (ValueError("x"), 70, "pfx: internal error: ValueError: x (run with --debug"),
    ],
)
def test_every_command_prints_the_one_line(error: BaseException, code: int, line: str) -> None:
    """fail_cleanly prints the boundary's line on stderr and exits with its code."""

    @click.command()
    def command() -> None:
        with fail_cleanly(debug=False):
            raise error

    result = CliRunner().invoke(command)
    assert result.exit_code == code
    assert result.stderr.startswith(line) and result.stderr.count("\n") == 1


def test_an_import_stopped_by_ctrl_c_says_how_far_it_got() -> None:
    """A stopped import's own line (how far it got) is printed, with the interrupt's code."""
    run = golden_run()

    @click.command()
    def command() -> None:
        with fail_cleanly(debug=False):
            raise importing._stopped(run, KeyboardInterrupt())

    result = CliRunner().invoke(command)
    assert result.exit_code == 130
    assert result.stderr == "pfx: error: stopped after 0 of 5 records: interrupted\n"
