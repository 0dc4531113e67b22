"""The `pfx` command group and the options its commands share; commands.py and workflows.py
register their commands onto `cli`.

Every command also takes `--debug` (before or after its name), and click's own usage errors
(an unknown option, a missing argument) end as every other error does: one `pfx: error:`
line through the error boundary (pfx.boundary), exit 2.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from pfx import __version__
from pfx.boundary import end_with
from pfx.kinds import KINDS

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


def kinds_help(width: int = 88) -> str:
    """Every kind of the registry (pfx.kinds), in bundle order, wrapped for --help."""
    names = ", ".join(kind.name for kind in KINDS) + "."
    return "\n".join(textwrap.wrap(f"Kinds: {names}", width, break_on_hyphens=False))


SELECTORS_HELP = f"""
\b
Selectors (--include picks, --exclude removes; both repeatable; what a picked record
references comes along, listed as "included as a dependency"):
  KIND:GLOB   GLOB over the natural key joined with '/': deployment:etl/prod,
              deployment:etl-*/*, variable:etl_*, work-pool:k8s-*, block-document:s3/*
  kind:KIND   every record of a kind: kind:automation
  tag:TAG     records carrying that tag (deployments, flows, variables, automations)
\b
{kinds_help()}
A selector that matches no record is an error (a typo is not a silent no-op). An exclusion
that leaves a picked record without something it needs is an error naming both (on import:
unless the destination already has it).
"""


def selector_options(f: F) -> F:
    """--include/--exclude, shared by export and import (grammar in SELECTORS_HELP)."""
    f = click.option(
        "--exclude",
        multiple=True,
        metavar="SELECTOR",
        help="Leave out records matching SELECTOR (repeatable; selectors: below).",
    )(f)
    return click.option(
        "--include",
        multiple=True,
        metavar="SELECTOR",
        help="Only records matching SELECTOR, with their dependencies (repeatable).",
    )(f)


DEBUG_HELP = "Show tracebacks instead of one-line errors."


def _set_debug(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """--debug, wherever it was given: the root context's `debug` (see `debug`)."""
    if value:
        root = ctx.find_root()
        root.ensure_object(dict)["debug"] = True


def debug_option() -> click.Option:
    """--debug, taken by the group and by every command (eager: a BUNDLE argument's download
    already knows it)."""
    return click.Option(
        ["--debug"],
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_set_debug,
        help=DEBUG_HELP,
    )


class PfxCommand(click.Command):
    """A pfx command: takes --debug after its name too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.append(debug_option())


# click >= 8.2 raises this for `pfx` without a command (8.1 prints the help itself).
_HELP_ERRORS: tuple[type[click.ClickException], ...] = tuple(
    getattr(click.exceptions, name)
    for name in ("NoArgsIsHelpError",)
    if hasattr(click.exceptions, name)
)


class PfxGroup(click.Group):
    """The pfx group (and its subgroups): commands take --debug; click's usage errors end
    through the error boundary as one `pfx: error:` line (module doc)."""

    command_class = PfxCommand
    group_class = type  # subgroups are PfxGroups too

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.append(debug_option())

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except _HELP_ERRORS as e:
            e.show()  # `pfx` alone, or a group alone: its help, as click shows it
            sys.exit(e.exit_code)
        except (click.ClickException, click.Abort) as e:
            end_with(e)
        sys.exit(code if isinstance(code, int) else 0)


@click.group("pfx", cls=PfxGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pfx")
@click.pass_context
def cli(ctx: click.Context) -> None:
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
    ctx.ensure_object(dict)


def debug(ctx: click.Context) -> bool:
    """Whether the run asked for tracebacks (`pfx --debug ...` or `pfx CMD --debug ...`)."""
    obj = ctx.find_root().obj
    return bool(isinstance(obj, dict) and obj.get("debug"))
