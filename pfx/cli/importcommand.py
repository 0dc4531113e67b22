"""The import command: plan a bundle against a destination and replay it (with --prune,
--standby, --map and the selectors). Registers onto the group of group.py, like commands.py;
the library is pfx.importing.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pfx.boundary import fail_cleanly
from pfx.cli.bundlearg import BUNDLE
from pfx.cli.group import (
    SELECTORS_HELP,
    cli,
    concurrency_option,
    debug,
    force_option,
    passphrase_option,
    quiet_option,
    selector_options,
    server_options,
)
from pfx.errors import UsageError
from pfx.server.pace import CEILING

if TYPE_CHECKING:
    from pfx.mapping import EnvMap


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
    help="Write the full report as JSON to this file (- for stdout; never the bundle).",
)
@force_option("the --report file")
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
@passphrase_option("of an encrypted or sealed bundle (a sealed one is authenticated with it)")
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
@click.option(
    "--prune",
    is_flag=True,
    help="Also delete the destination's records that the bundle does not hold, within its "
    "scope (its kinds, its and --include/--exclude's selection; never the destination's system "
    "types); one still used by something that stays is kept (README: Prune).",
)
@click.option(
    "--prune-max",
    metavar="N|all",
    callback=lambda _ctx, _param, value: _prune_max(value),
    help="Allow --prune up to N deletions in all (or all), instead of refusing to delete more "
    "than half of the destination's records of any kind.",
)
@server_options
@quiet_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@click.pass_context
def import_(
    ctx: click.Context,
    bundle: Path,
    profile: str | None,
    dry_run: bool,
    on_conflict: str,
    report_path: Path | None,
    force: bool,
    secrets_file: Path | None,
    accept_losses: bool,
    passphrase_file: Path | None,
    concurrency: int,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    map_path: Path | None,
    standby: bool,
    prune: bool,
    prune_max: int | str | None,
    verbose: bool,
    max_rate: int | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Plan a bundle against a profile's server and create what is missing (needs only the
    destination API); with --prune, also delete what the bundle does not hold.

    \b
    Exit codes (a CI job can gate on them):
      0  complete: every record created, updated or unchanged
      2  usage error or a bad bundle; nothing written
      3  complete except records that differ on the destination, kept by --on-conflict skip,
         or that --prune kept because something that stays still uses them
      4  records failed, were blocked, unsupported, or lack secret values
      5  records arrived with named losses: fields this destination cannot hold
         (0 with --accept-losses)
      6  --dry-run only: changes would be written (0: nothing would change)
      69 the run stopped: the destination stopped answering or refused the credentials
      70 internal error; 130 interrupted
    Precedence: 4 > 5 > 3 > 6 > 0. Every stop still writes --report.

    BUNDLE - reads the bundle from stdin; --report - writes the report to stdout (the rest
    then goes to stderr).
    """
    with fail_cleanly(debug(ctx)):
        from pfx import output as out
        from pfx.bundlefile import read_manifest
        from pfx.cli.progress import conducting
        from pfx.deleting import deleted_path
        from pfx.files import check_output, is_stdout
        from pfx.importing import ImportStopped, Prune, import_bundle
        from pfx.passphrase import Passphrase
        from pfx.promotion import Promotion

        piped = is_stdout(report_path)
        if piped and as_json:
            raise UsageError("--report - sends the report to stdout, where --json would go too")
        if report_path is not None:
            inputs = [bundle, secrets_file, map_path, passphrase_file]
            check_output(report_path, force=force, inputs=inputs, option="--report")
        if standby and report_path is None:
            raise UsageError("--standby needs --report FILE (pfx cutover reads it)")
        if prune_max is not None and not prune:
            raise UsageError("--prune-max limits --prune: give both")
        pruning = None
        if prune:
            # What --prune deletes is kept in a bundle beside a report file (not beside stdout).
            keep = deleted_path(report_path) if report_path is not None and not piped else None
            if keep is not None and not dry_run:
                check_output(keep, force=force, inputs=inputs, option="--prune's kept deletions")
            pruning = Prune(prune_max, None if dry_run else keep)  # type: ignore[arg-type]
        promotion = Promotion(include, exclude, read_map(map_path), standby)
        passphrase = Passphrase(passphrase_file)
        out.warn_reading(bundle, read_manifest(bundle), passphrase.given())
        try:
            with conducting(quiet=quiet, verbose=verbose, max_rate=max_rate) as conduct:
                result = import_bundle(
                    bundle,
                    profile,
                    on_conflict=on_conflict,  # type: ignore[arg-type]
                    dry_run=dry_run,
                    passphrase=passphrase,
                    secrets_file=secrets_file,
                    concurrency=concurrency,
                    accept_losses=accept_losses,
                    promotion=promotion,
                    prune=pruning,
                    conduct=conduct,
                )
        except ImportStopped as stop:
            if report_path is not None:
                out.write_report(report_path, stop.report)
            raise
        if report_path is not None:
            out.write_report(report_path, result.report)
        code = result.report.exit_code
        if as_json:
            click.echo(result.report.model_dump_json())
        elif quiet:
            # Quiet: nothing but what went wrong (the one summary line says what).
            if code and not dry_run:
                click.echo(out.report_text(result.report, quiet=True), err=True)
        else:
            # With the report on stdout, everything else goes to stderr.
            notes = out.promotion_text(result.prepared) if result.prepared else ""
            if notes:
                click.echo(notes, err=piped)
            text = out.plan_text(result.plan, result.report) if dry_run else None
            click.echo(text or out.report_text(result.report), err=piped)
        sys.exit(code)


def _prune_max(value: str | None) -> int | str | None:
    """--prune-max: a count of deletions (0 or more), or `all`."""
    if value is None or value == "all":
        return value
    if value.isdigit():
        return int(value)
    raise click.BadParameter(f"{value!r}: expected a number of deletions or 'all'")


def read_map(path: Path | None) -> EnvMap | None:
    """The parsed --map file, or None."""
    if path is None:
        return None
    from pfx.errors import UsageError
    from pfx.mapping import parse_mapping

    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as e:
        raise UsageError(f"cannot read map {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise UsageError(f"map {path} is not UTF-8 text (TOML is)") from None
    return parse_mapping(text, str(path))
