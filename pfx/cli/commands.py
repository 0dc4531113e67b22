"""The commands that move a bundle: export, inspect, verify and secrets template (import has
its own module, importcommand.py).

Every command calls one library function inside `boundary.fail_cleanly`, the only place an
exception becomes output. The commands around a move (diff, cutover, render) live in
workflows.py; both register onto the group of group.py.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pfx.boundary import fail_cleanly
from pfx.cli.bundlearg import BUNDLE
from pfx.cli.group import (
    SECRETS_CHOICES,
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

if TYPE_CHECKING:
    pass


@cli.command(epilog=SELECTORS_HELP)
@click.option("-p", "--profile", help="Prefect profile to read (default: the active one).")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path),
    help="Bundle file to write (written to a temporary name, then renamed); - for stdout.",
)
@force_option("the bundle file")
@click.option(
    "--secrets",
    "secrets",
    type=click.Choice(list(SECRETS_CHOICES)),
    default="withhold",
    show_default=True,
    help="How secret block values travel.",
)
@passphrase_option(
    "that encrypts secrets (--secrets encrypt) and seals the bundle; with another --secrets, "
    "given by file or PFX_PASSPHRASE only, it seals (authenticates) the bundle"
)
@concurrency_option("Most requests in flight at once against the source API.")
@selector_options
@server_options
@quiet_option
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
@click.pass_context
def export(
    ctx: click.Context,
    profile: str | None,
    output: Path,
    force: bool,
    secrets: str,
    passphrase_file: Path | None,
    concurrency: int,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    verbose: bool,
    max_rate: int | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Read every resource of a profile into one bundle file (needs only the source API).

    With --include/--exclude, a partial bundle: the selected records and what they need;
    its manifest records the selectors (`pfx inspect` shows them). With -o -, the bundle
    goes to stdout and nothing else does (`pfx export -p src -o - | pfx import - -p dst`).
    """
    with fail_cleanly(debug(ctx)):
        from pfx import output as out
        from pfx.cli.progress import conducting
        from pfx.exporting import export_bundle
        from pfx.files import check_output, is_stdout
        from pfx.passphrase import given_passphrase, read_passphrase

        piped = is_stdout(output)
        if piped and as_json:
            raise UsageError("-o - sends the bundle to stdout, where --json would go too")
        if piped and sys.stdout.isatty():
            raise UsageError("-o - would write a binary bundle to a terminal: pipe or redirect it")
        check_output(output, force=force, inputs=[passphrase_file], option="-o")
        mode = SECRETS_CHOICES[secrets]
        passphrase = (
            read_passphrase(passphrase_file, confirm=True)
            if mode == "encrypted"
            else given_passphrase(passphrase_file)
        )
        if mode == "plaintext" and not quiet:
            click.echo(
                "pfx: warning: secret values will be written in clear to the bundle", err=True
            )
        with conducting(quiet=quiet, verbose=verbose, max_rate=max_rate) as conduct:
            result = export_bundle(
                output,
                profile,
                secrets=mode,  # type: ignore[arg-type]
                passphrase=passphrase,
                concurrency=concurrency,
                include=include,
                exclude=exclude,
                conduct=conduct,
            )
        if as_json:
            click.echo(out.export_json(result))
        elif not quiet:
            # With the bundle on stdout, nothing else may go there.
            click.echo(out.export_text(result), err=piped)


@cli.command()
@click.argument("bundle", type=BUNDLE)
@click.option("--json", "as_json", is_flag=True, help="Print the manifest summary as JSON.")
@click.option(
    "--graph",
    is_flag=True,
    help="Print the records' dependency edges as a picture's source (see --format).",
)
@click.option(
    "--format",
    "form",
    type=click.Choice(["dot", "mermaid"]),
    default=None,
    help="The --graph source: Graphviz DOT (default; `| dot -Tsvg > graph.svg`) or a "
    "mermaid flowchart (for Markdown).",
)
@click.pass_context
def inspect(ctx: click.Context, bundle: Path, as_json: bool, graph: bool, form: str | None) -> None:
    """Show what a bundle holds: format, source, counts per kind, secrets (no server).

    \b
      pfx inspect snap.pfx
      pfx inspect snap.pfx --graph | dot -Tsvg > snap.svg
      pfx inspect part.pfx --graph --format mermaid

    With --graph, every record is a node (kind and key) with an edge to each record it
    refers to; in a partial bundle, records included as a dependency are dashed and what it
    needs on the destination dotted.
    """
    with fail_cleanly(debug(ctx)):
        from pfx import output as out
        from pfx.errors import UsageError

        if form is not None and not graph:
            raise UsageError("--format chooses the --graph source: add --graph")
        if graph and as_json:
            raise UsageError("--graph and --json: choose one")
        if graph:
            from pfx.bundlefile import read_bundle
            from pfx.picture import bundle_picture, picture_source

            read = read_bundle(bundle)
            picture = bundle_picture(read.records, read.manifest)
            click.echo(picture_source(picture, "mermaid" if form == "mermaid" else "dot"), nl=False)
            out.warn_reading(bundle, read.manifest)
            return
        from pfx.bundlefile import read_manifest

        manifest = read_manifest(bundle)
        out.warn_reading(bundle, manifest)
        click.echo(out.inspect_json(manifest) if as_json else out.inspect_text(bundle, manifest))


@cli.command()
@click.argument("bundle", type=BUNDLE)
@passphrase_option("the bundle was sealed with: checks its authenticity and secrets", prompt=False)
@quiet_option
@click.pass_context
def verify(ctx: click.Context, bundle: Path, passphrase_file: Path | None, quiet: bool) -> None:
    """Check a bundle's integrity and invariants; exit 0 only if it is intact (no server).

    With its passphrase (--passphrase-file or PFX_PASSPHRASE), a sealed bundle's
    authenticity too, and that every encrypted value decrypts.
    """
    with fail_cleanly(debug(ctx)):
        from pfx import output as out
        from pfx.bundlefile import verify_bundle
        from pfx.passphrase import given_passphrase

        passphrase = given_passphrase(passphrase_file)
        manifest = verify_bundle(bundle, passphrase)
        if not quiet:
            out.warn_reading(bundle, manifest)
            click.echo(out.verify_text(bundle, manifest, checked=passphrase is not None))


@cli.group()
def secrets() -> None:
    """Work with the secret values of a bundle."""


@secrets.command("template")
@click.argument("bundle", type=BUNDLE)
@passphrase_option("the bundle was sealed with: checks its authenticity first", prompt=False)
@click.pass_context
def secrets_template(ctx: click.Context, bundle: Path, passphrase_file: Path | None) -> None:
    """Print a secrets file listing every withheld value (as null) to fill in for import."""
    with fail_cleanly(debug(ctx.find_root())):
        import orjson

        from pfx.authenticity import given_keys
        from pfx.bundlefile import read_bundle
        from pfx.output import warn_reading
        from pfx.passphrase import given_passphrase
        from pfx.secretsfile import template

        read = read_bundle(bundle)
        passphrase = given_passphrase(passphrase_file)
        given_keys(read.manifest, passphrase)
        click.echo(orjson.dumps(template(read), option=orjson.OPT_INDENT_2))
        warn_reading(bundle, read.manifest, passphrase)
