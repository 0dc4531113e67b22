"""The commands around a move: `diff`, `cutover` and `render` (thin, like commands.py);
they register onto the group of group.py."""

from __future__ import annotations

import sys
from pathlib import Path

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


@cli.command(epilog=SELECTORS_HELP)
@click.argument("left", type=BUNDLE, required=False)
@click.argument("right", type=BUNDLE, required=False)
@click.option(
    "-p",
    "--profile",
    "--right-profile",
    "profile",
    metavar="PROFILE",
    help="The right side is this profile's live server (then LEFT is the only bundle).",
)
@click.option(
    "--left-profile",
    metavar="PROFILE",
    help="The left side is this profile's live server (then the one bundle is the right).",
)
@click.option("--full", is_flag=True, help="Show every value whole (default: long values are cut).")
@click.option("--json", "as_json", is_flag=True, help="Print the differences as JSON.")
@selector_options
@click.option(
    "--map",
    "map_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="TOML map applied first to the side an import would bring (the bundle; of two "
    "bundles the left), as `pfx import --map` applies it.",
)
@concurrency_option("Most requests in flight at once against a live server.")
@passphrase_option(
    "the bundles were sealed with: checks their authenticity and compares secret values",
    prompt=False,
)
@server_options
@quiet_option
@click.pass_context
def diff(
    ctx: click.Context,
    left: Path | None,
    right: Path | None,
    profile: str | None,
    left_profile: str | None,
    full: bool,
    as_json: bool,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    map_path: Path | None,
    concurrency: int,
    passphrase_file: Path | None,
    verbose: bool,
    max_rate: int | None,
    quiet: bool,
) -> None:
    """What changes from LEFT to RIGHT: each side a bundle or a live server.

    \b
      pfx diff yesterday.pfx today.pfx         two bundles
      pfx diff snap.pfx -p prod                what changed on prod since snap.pfx
      pfx diff --left-profile prod snap.pfx    what importing snap.pfx would change on prod
      pfx diff --left-profile dev -p prod      two live servers
      pfx diff snap.pfx -p prod --map prod.toml --include 'deployment:etl/*'

    Records are matched by natural key (ids never compare) and compared as `pfx import
    --dry-run` compares them. Per record: + added (with its content), - removed (with its
    content), ~ changed (each value old -> new; absent where a side lacks the key); secret
    values are never shown. Between two bundles, a secret's changed mode, and with the
    passphrase (--passphrase-file or PFX_PASSPHRASE) a changed secret value, count as
    changes. Colour on a terminal unless NO_COLOR is set.

    \b
    Exit codes: 0 equal; 1 they differ; 2 usage error or a bad bundle;
    69 a server (or repository) could not be read; 70 internal error.
    """
    with fail_cleanly(debug(ctx)):
        import orjson

        from pfx import output as out
        from pfx.bundlefile import read_manifest
        from pfx.changetext import diff_text
        from pfx.cli.importcommand import read_map
        from pfx.cli.progress import conducting
        from pfx.diffing import diff_sources
        from pfx.errors import UsageError
        from pfx.passphrase import given_passphrase

        bundles = [b for b in (left, right) if b is not None]
        if left_profile is not None:
            if len(bundles) > 1:
                raise UsageError("--left-profile takes the left side: give one bundle at most")
            left, right = None, (bundles[0] if bundles else None)
        envmap = read_map(map_path)
        passphrase = given_passphrase(passphrase_file)
        with conducting(quiet=quiet, verbose=verbose, max_rate=max_rate) as conduct:
            result = diff_sources(
                left,
                right,
                profile,
                left_profile=left_profile,
                concurrency=concurrency,
                passphrase=passphrase,
                include=include,
                exclude=exclude,
                envmap=envmap,
                conduct=conduct,
            )
        for path in bundles:
            out.warn_reading(path, read_manifest(path), passphrase)
        if as_json:
            click.echo(orjson.dumps(result.as_json()).decode())
        else:
            click.echo(diff_text(result, out.diff_style(full=full)))
        sys.exit(0 if result.same else 1)


@cli.command("cutover")
@click.argument("report", type=click.Path(path_type=Path, dir_okay=False))
@click.option("-p", "--profile", help="Prefect profile of the destination the report names.")
@click.option("--rollback", is_flag=True, help="Hold the records back again (standby states).")
@click.option("--dry-run", is_flag=True, help="Print the steps; write nothing.")
@passphrase_option(
    "of the bundle beside the report that keeps what --prune deletes (--rollback restores it)",
    prompt=False,
)
@server_options
@quiet_option
@click.pass_context
def cutover_(
    ctx: click.Context,
    report: Path,
    profile: str | None,
    rollback: bool,
    dry_run: bool,
    passphrase_file: Path | None,
    verbose: bool,
    max_rate: int | None,
    quiet: bool,
) -> None:
    """Turn on what `pfx import --standby --report REPORT` held back: set exactly those
    deployments and automations to the bundle's states (idempotent); with --prune, delete
    what the import deferred (--rollback restores it from the bundle beside the report).

    \b
      pfx import snap.pfx -p cloud --standby --report cutover.json
      pfx cutover cutover.json -p cloud --dry-run    # the steps, nothing written
      pfx cutover cutover.json -p cloud              # unpause / enable as the bundle had
      pfx cutover cutover.json -p cloud --rollback   # pause / disable again

    \b
    Exit codes: 0 done (or nothing to do); 3 a deferred deletion kept (something uses the
    record now); 4 a record is missing on the destination or did not take its state, or a
    deletion or restore failed; 6 dry run with steps to take; 2 usage error; 69 the server
    could not be used.
    """
    with fail_cleanly(debug(ctx)):
        from pfx import output as out
        from pfx.cli.progress import conducting
        from pfx.cutover import cutover
        from pfx.passphrase import Passphrase

        with conducting(quiet=quiet, verbose=verbose, max_rate=max_rate) as conduct:
            result = cutover(
                report,
                profile,
                rollback=rollback,
                dry_run=dry_run,
                passphrase=Passphrase(passphrase_file),
                conduct=conduct,
            )
        if not quiet or (result.exit_code and not dry_run):
            click.echo(out.cutover_text(result), err=quiet)
        sys.exit(result.exit_code)


@cli.command(epilog=SELECTORS_HELP)
@click.argument("bundle", type=BUNDLE, required=False)
@click.option("-p", "--profile", help="Render this profile's live server instead of a bundle.")
@click.option(
    "--to",
    "target",
    type=click.Choice(["prefect-yaml"]),
    default="prefect-yaml",
    show_default=True,
    help="What to render: prefect.yaml, automations.yaml and prefect-setup.sh.",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Directory to write into (created if missing; each file written atomically).",
)
@force_option("files in the directory that pfx did not write, or that were edited since")
@selector_options
@concurrency_option("Most requests in flight at once against a live server.")
@passphrase_option("the bundle was sealed with: checks its authenticity first", prompt=False)
@click.option(
    "--json", "as_json", is_flag=True, help="Print what was written and left out as JSON."
)
@server_options
@quiet_option
@click.pass_context
def render(
    ctx: click.Context,
    bundle: Path | None,
    profile: str | None,
    target: str,
    output: Path,
    force: bool,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    concurrency: int,
    passphrase_file: Path | None,
    as_json: bool,
    verbose: bool,
    max_rate: int | None,
    quiet: bool,
) -> None:
    """Render a bundle (or a live server) as code: prefect.yaml for `prefect deploy`, an
    automations file and a companion file of `prefect` commands; list every field left out.

    \b
      pfx render snap.pfx --to prefect-yaml -o infra/
      pfx render -p prod -o infra/ --include 'deployment:etl-*/*'

    pfx replaces only the files it wrote itself, unchanged since (it records them in
    .pfx-render.json in the directory); other files of those names need --force.
    """
    with fail_cleanly(debug(ctx)):
        import orjson

        from pfx.bundlefile import read_manifest
        from pfx.cli.progress import conducting
        from pfx.passphrase import given_passphrase
        from pfx.render.core import summary_json, summary_text
        from pfx.render.files import render_to

        passphrase = given_passphrase(passphrase_file)
        with conducting(quiet=quiet, verbose=verbose, max_rate=max_rate) as conduct:
            result = render_to(
                output,
                bundle,
                profile,
                include=include,
                exclude=exclude,
                concurrency=concurrency,
                passphrase=passphrase,
                force=force,
                conduct=conduct,
            )
        written = [str(p) for p in result.written]
        if as_json:
            summary = summary_json(result.rendering, written, result.source)
            click.echo(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
        elif not quiet:
            click.echo(summary_text(result.rendering, written, result.source))
        if bundle is not None and profile is None:
            from pfx.output import warn_reading

            warn_reading(bundle, read_manifest(bundle), passphrase)
