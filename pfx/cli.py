"""The `pfx` command line: a thin click layer over the library.

Every command calls one library function inside `boundary.fail_cleanly`, the only place an
exception becomes output. The commands around a move (diff, cutover, render) live in
cli_workflows.py.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from pfx import __version__
from pfx.boundary import fail_cleanly
from pfx.bundlearg import BUNDLE
from pfx.pace import CEILING

if TYPE_CHECKING:
    from pfx.mapping import EnvMap

F = TypeVar("F", bound=Callable[..., Any])
SECRETS_CHOICES = {"withhold": "withheld", "encrypt": "encrypted", "plaintext": "plaintext"}


def passphrase_option(purpose: str) -> Callable[[F], F]:
    """--passphrase-file, shared by export and import."""
    return click.option(
        "--passphrase-file",
        type=click.Path(path_type=Path, dir_okay=False),
        help=f"File holding the passphrase {purpose} (else PFX_PASSPHRASE, else a prompt).",
    )


def concurrency_option(text: str, default: int = 8) -> Callable[[F], F]:
    """--concurrency, shared by export and import."""
    return click.option(
        "--concurrency", type=click.IntRange(1, 64), default=default, show_default=True, help=text
    )


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


def _debug(ctx: click.Context) -> bool:
    return bool(ctx.obj and ctx.obj.get("debug"))


@cli.command(epilog=SELECTORS_HELP)
@click.option("-p", "--profile", help="Prefect profile to read (default: the active one).")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path),
    help="Bundle file to write (written to a temporary name, then renamed).",
)
@click.option(
    "--secrets",
    "secrets",
    type=click.Choice(list(SECRETS_CHOICES)),
    default="withhold",
    show_default=True,
    help="How secret block values travel.",
)
@passphrase_option("for --secrets encrypt")
@concurrency_option("Most requests in flight at once against the source API.")
@selector_options
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
@click.pass_context
def export(
    ctx: click.Context,
    profile: str | None,
    output: Path,
    secrets: str,
    passphrase_file: Path | None,
    concurrency: int,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    quiet: bool,
    as_json: bool,
) -> None:
    """Read every resource of a profile into one bundle file (needs only the source API).

    With --include/--exclude, a partial bundle: the selected records and what they need;
    its manifest records the selectors (`pfx inspect` shows them).
    """
    with fail_cleanly(_debug(ctx)):
        from pfx import output as out
        from pfx.exporting import export_bundle
        from pfx.passphrase import read_passphrase

        out.check_writable(output)
        mode = SECRETS_CHOICES[secrets]
        passphrase = read_passphrase(passphrase_file, confirm=True) if mode == "encrypted" else None
        if mode == "plaintext" and not quiet:
            click.echo(
                "pfx: warning: secret values will be written in clear to the bundle", err=True
            )
        progress = None if (quiet or as_json) else out.export_progress()
        result = export_bundle(
            output,
            profile,
            secrets=mode,  # type: ignore[arg-type]
            passphrase=passphrase,
            progress=progress,
            concurrency=concurrency,
            include=include,
            exclude=exclude,
        )
        if as_json:
            click.echo(out.export_json(result))
        elif not quiet:
            click.echo(out.export_text(result))


@cli.command()
@click.argument("bundle", type=BUNDLE)
@click.option("--json", "as_json", is_flag=True, help="Print the manifest summary as JSON.")
@click.pass_context
def inspect(ctx: click.Context, bundle: Path, as_json: bool) -> None:
    """Show what a bundle holds: format, source, counts per kind, secrets (no server)."""
    with fail_cleanly(_debug(ctx)):
        from pfx import output as out
        from pfx.bundlefile import read_manifest

        manifest = read_manifest(bundle)
        click.echo(out.inspect_json(manifest) if as_json else out.inspect_text(bundle, manifest))


@cli.command()
@click.argument("bundle", type=BUNDLE)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing; the exit code tells.")
@click.pass_context
def verify(ctx: click.Context, bundle: Path, quiet: bool) -> None:
    """Check a bundle's integrity and invariants; exit 0 only if it is intact (no server)."""
    with fail_cleanly(_debug(ctx)):
        from pfx.bundlefile import verify_bundle

        manifest = verify_bundle(bundle)
        if not quiet:
            click.echo(
                f"ok: {bundle}: {len(manifest.hashes)} records intact "
                f"(format {manifest.version[0]}.{manifest.version[1]}, "
                f"digest {manifest.digest[:16]})"
            )


@cli.command("import", epilog=SELECTORS_HELP)
@click.argument("bundle", type=BUNDLE)
@click.option("-p", "--profile", help="Prefect profile to write to (default: the active one).")
@click.option("--dry-run", is_flag=True, help="Print the plan; write nothing.")
@click.option(
    "--on-conflict",
    type=click.Choice(["skip", "update", "fail"]),
    default="skip",
    show_default=True,
    help="Records that exist with different content: keep the destination's (skip), "
    "overwrite it (update), or refuse to import anything (fail).",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the full report as JSON to this file.",
)
@click.option(
    "--secrets-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="JSON file supplying withheld secret values (see `pfx secrets template`).",
)
@click.option(
    "--accept-losses",
    is_flag=True,
    help="Count records that arrive with named losses (fields the destination cannot hold, "
    "listed by --dry-run) as complete: exit 0 instead of 5.",
)
@passphrase_option("of an encrypted bundle")
@concurrency_option(
    "Ceiling of concurrent writes; the actual number adapts to the server.", default=CEILING
)
@selector_options
@click.option(
    "--map",
    "map_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="TOML map applied before planning: renames, variable values, patches (README).",
)
@click.option(
    "--standby",
    is_flag=True,
    help="Arrive held back: deployments paused, automations disabled; the --report records "
    "what to turn on with `pfx cutover`.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors and the summary line.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@click.pass_context
def import_(
    ctx: click.Context,
    bundle: Path,
    profile: str | None,
    dry_run: bool,
    on_conflict: str,
    report_path: Path | None,
    secrets_file: Path | None,
    accept_losses: bool,
    passphrase_file: Path | None,
    concurrency: int,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    map_path: Path | None,
    standby: bool,
    quiet: bool,
    as_json: bool,
) -> None:
    """Plan a bundle against a profile's server and create what is missing (needs only the
    destination API).

    \b
    Exit codes (a CI job can gate on them):
      0  complete: every record created, updated or unchanged
      1  the run stopped: the destination stopped answering or refused the credentials
      2  usage error or a bad bundle; nothing written
      3  complete except records that differ on the destination, kept by --on-conflict skip
      4  records failed, were blocked, unsupported, or lack secret values
      5  records arrived with named losses: fields this destination cannot hold
         (0 with --accept-losses)
      6  --dry-run only: changes would be written (0: nothing would change)
      70 internal error; 130 interrupted
    Precedence: 4 > 5 > 3 > 6 > 0. Every stop still writes --report.
    """
    with fail_cleanly(_debug(ctx)):
        from pfx import output as out
        from pfx.importing import ImportStopped, import_bundle
        from pfx.passphrase import read_passphrase
        from pfx.promotion import Promotion

        if report_path is not None:
            out.check_writable(report_path)
        if standby and report_path is None:
            from pfx.errors import UsageError

            raise UsageError("--standby needs --report FILE (pfx cutover reads it)")
        promotion = Promotion(include, exclude, _read_map(map_path), standby)

        def passphrase() -> str:
            return read_passphrase(passphrase_file)

        progress = None if (quiet or as_json) else out.import_progress()
        try:
            result = import_bundle(
                bundle,
                profile,
                on_conflict=on_conflict,  # type: ignore[arg-type]
                dry_run=dry_run,
                passphrase=passphrase,
                secrets_file=secrets_file,
                concurrency=concurrency,
                progress=progress,
                accept_losses=accept_losses,
                promotion=promotion,
            )
        except ImportStopped as stop:
            if report_path is not None:
                out.write_report(report_path, stop.report)
            raise
        if report_path is not None:
            out.write_report(report_path, result.report)
        if not (quiet or as_json) and result.prepared is not None:
            notes = out.promotion_text(result.prepared)
            if notes:
                click.echo(notes)
        if as_json:
            click.echo(result.report.model_dump_json())
        elif dry_run:
            click.echo(out.plan_text(result.plan, result.report))
        else:
            click.echo(out.report_text(result.report, quiet=quiet))
        sys.exit(result.report.exit_code)


def _read_map(path: Path | None) -> EnvMap | None:
    """The parsed --map file, or None."""
    if path is None:
        return None
    from pfx.errors import UsageError
    from pfx.mapping import parse_mapping

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot read map {path}: {e.strerror or e}") from None
    return parse_mapping(text, str(path))


@cli.group()
def secrets() -> None:
    """Work with the secret values of a bundle."""


@secrets.command("template")
@click.argument("bundle", type=BUNDLE)
@click.pass_context
def secrets_template(ctx: click.Context, bundle: Path) -> None:
    """Print a secrets file listing every withheld value (as null) to fill in for import."""
    with fail_cleanly(_debug(ctx.find_root())):
        import orjson

        from pfx.bundlefile import read_bundle
        from pfx.secretsfile import template

        click.echo(orjson.dumps(template(read_bundle(bundle)), option=orjson.OPT_INDENT_2))


# The commands around a move (diff, cutover, render) and the backup commands (backup,
# snapshots, log, check, forget) live in their own modules; importing them registers them.
from pfx import cli_backups, cli_workflows  # noqa: E402, F401


def main() -> None:
    cli(prog_name="pfx")


if __name__ == "__main__":
    main()
