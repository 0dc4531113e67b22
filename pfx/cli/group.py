"""The `pfx` command group and the options its commands share; commands.py and workflows.py
register their commands onto `cli`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from pfx import __version__

F = TypeVar("F", bound=Callable[..., Any])


SECRETS_CHOICES = {"withhold": "withheld", "encrypt": "encrypted", "plaintext": "plaintext"}


def passphrase_option(purpose: str, *, prompt: bool = True) -> Callable[[F], F]:
    """--passphrase-file, shared by export, import and diff (which never prompts)."""
    fallback = "else PFX_PASSPHRASE, else a prompt" if prompt else "else PFX_PASSPHRASE"
    return click.option(
        "--passphrase-file",
        type=click.Path(path_type=Path, dir_okay=False),
        help=f"File holding the passphrase {purpose} ({fallback}).",
    )


def concurrency_option(text: str, default: int = 8) -> Callable[[F], F]:
    """--concurrency, shared by export and import."""
    return click.option(
        "--concurrency", type=click.IntRange(1, 64), default=default, show_default=True, help=text
    )


QUIET_HELP = (
    "Print no progress, notices or summary; errors and warnings still go to stderr, and what "
    "was asked for (--json, a bundle or report on stdout) still comes."
)


def quiet_option(f: F) -> F:
    """-q/--quiet, one meaning for every command (QUIET_HELP)."""
    return click.option("-q", "--quiet", is_flag=True, help=QUIET_HELP)(f)


def force_option(what: str) -> Callable[[F], F]:
    """--force, shared by every command that writes a file: replace `what` if it exists."""
    return click.option(
        "--force",
        is_flag=True,
        help=f"Replace {what} if it exists (never a file this command reads, such as the bundle).",
    )


def server_options(f: F) -> F:
    """-v/--verbose and --max-rate, shared by every command that talks to a server."""
    f = click.option(
        "--max-rate",
        type=click.IntRange(min=1),
        metavar="N",
        help="Send at most N requests a minute, evenly paced (Prefect Cloud's rate limits are "
        "per account and shared with its workers: leave them room).",
    )(f)
    return click.option(
        "-v",
        "--verbose",
        is_flag=True,
        help="Log each request on stderr: method, path, status, milliseconds (never headers "
        "or bodies).",
    )(f)


SELECTORS_HELP = """
\b
Selectors (--include picks, --exclude removes; both repeatable; what a picked record
references comes along, listed as "included as a dependency"):
  KIND:GLOB   GLOB over the natural key joined with '/': deployment:etl/prod,
              deployment:etl-*/*, variable:etl_*, work-pool:k8s-*, block-document:s3/*
  kind:KIND   every record of a kind: kind:automation
  tag:TAG     records carrying that tag (deployments, flows, variables, automations)
\b
Kinds: flow, block-type, block-schema, block-document, variable, global-concurrency-limit,
tag-concurrency-limit, work-pool, work-queue, deployment, automation.
An exclusion that leaves a picked record without something it needs is an error naming
both (on import: unless the destination already has it).
"""


def selector_options(f: F) -> F:
    """--include/--exclude, shared by export and import (grammar in SELECTORS_HELP)."""
    f = click.option(
        "--exclude",
        multiple=True,
        metavar="SELECTOR",
        help="Leave out records matching SELECTOR (repeatable; see below).",
    )(f)
    return click.option(
        "--include",
        multiple=True,
        metavar="SELECTOR",
        help="Only records matching SELECTOR, with their dependencies (repeatable).",
    )(f)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pfx")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Move a Prefect 3 environment's configuration through one verifiable bundle file.

    \b
      pfx export -p local -o snap.pfx     read everything from profile `local`
      pfx inspect snap.pfx                what a bundle holds (no server)
      pfx verify snap.pfx                 integrity and invariants (no server)
      pfx import snap.pfx -p cloud        plan and replay into profile `cloud`
      pfx diff snap.pfx -p cloud          what differs, field by field
      pfx cutover report.json -p cloud    turn on what `import --standby` held back
      pfx backup -p prod --repo s3://b/p  a snapshot into a repository, with retention
      pfx import s3://b/p@latest -p prod  any bundle argument also takes REPO@latest|@id|@time
    """
    ctx.obj = {"debug": debug}


def debug(ctx: click.Context) -> bool:
    """Whether the run asked for tracebacks (`pfx --debug ...`)."""
    return bool(ctx.obj and ctx.obj.get("debug"))
