"""The backup commands: `backup`, `snapshots`, `log`, `check` and `forget` (thin, like
commands.py). Imported by pfx.cli, which registers them on its group (pfx.cli.group). The
library is pfx.repository.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from pfx.boundary import fail_cleanly
from pfx.cli.group import (
    SECRETS_CHOICES,
    SELECTORS_HELP,
    cli,
    concurrency_option,
    debug,
    passphrase_option,
    quiet_option,
    selector_options,
    server_options,
)

F = TypeVar("F", bound=Callable[..., Any])

REPO_HELP = (
    "The repository: a directory, file://..., s3://bucket/prefix, gs://..., az://... "
    "(one per server; credentials as the store's own tools find them)."
)


def repo_option(f: F) -> F:
    return click.option("--repo", "repository", required=True, metavar="URL", help=REPO_HELP)(f)


def keep_options(f: F) -> F:
    """--keep-last/-hourly/-daily/-weekly/-monthly (restic's forget rules)."""
    for name, what in reversed(
        [
            ("last", "the N newest snapshots"),
            ("hourly", "the newest snapshot of each of the last N hours that have one"),
            ("daily", "the newest snapshot of each of the last N days that have one"),
            ("weekly", "the newest snapshot of each of the last N ISO weeks that have one"),
            ("monthly", "the newest snapshot of each of the last N months that have one"),
        ]
    ):
        f = click.option(
            f"--keep-{name}", type=click.IntRange(0), default=0, metavar="N", help=f"Keep {what}."
        )(f)
    return f


RETENTION_HELP = """
\b
Retention (restic's `forget` rules, UTC calendar periods): each --keep-* rule keeps the
newest snapshot of each of its last N periods that have one; a snapshot kept by any rule
stays; the newest snapshot is always kept; without --keep-* every snapshot is kept.
"""


@cli.command(epilog=RETENTION_HELP + SELECTORS_HELP)
@click.option("-p", "--profile", help="Prefect profile to back up (default: the active one).")
@repo_option
@click.option(
    "--secrets",
    type=click.Choice(list(SECRETS_CHOICES)),
    default=None,
    help="How secret block values are kept [default: encrypt with a passphrase, else withhold].",
)
@passphrase_option("to encrypt secret values with")
@keep_options
@click.option(
    "--dry-run",
    is_flag=True,
    help="Export and compare, say what would be written and "
    "forgotten; write nothing to the repository.",
)
@concurrency_option("Most requests in flight at once against the source API.")
@selector_options
@server_options
@quiet_option
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
@click.pass_context
def backup(
    ctx: click.Context,
    profile: str | None,
    repository: str,
    secrets: str | None,
    passphrase_file: Path | None,
    dry_run: bool,
    concurrency: int,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    as_json: bool,
    keep_last: int,
    keep_hourly: int,
    keep_daily: int,
    keep_weekly: int,
    keep_monthly: int,
    verbose: bool,
    max_rate: int | None,
    quiet: bool,
) -> None:
    """Back up a server into a snapshot repository, then apply the retention policy.

    \b
      pfx backup -p prod --repo s3://backups/prefect-prod --keep-daily 7 --keep-weekly 4
      pfx backup -p prod --repo /var/backups/prefect --keep-last 24

    The first backup creates the repository. A server unchanged since the newest snapshot
    (same records; secret values compared by a keyed fingerprint, never by ciphertext)
    writes no bundle: "unchanged since <id>". Secret values are encrypted when a passphrase
    is at hand (--passphrase-file or PFX_PASSPHRASE), else withheld (said on every run).

    \b
    Exit codes: 0 done; 2 usage error; 69 the server or the repository could not be used.
    """
    with fail_cleanly(debug(ctx)):
        import os

        from pfx.cli.progress import conducting
        from pfx.passphrase import read_passphrase
        from pfx.repository.backing import backup as run_backup
        from pfx.repository.retention import Policy
        from pfx.repository.text import backup_json, backup_text

        mode = SECRETS_CHOICES[secrets] if secrets else None
        passphrase: str | None = None
        if mode == "encrypted" or passphrase_file is not None:
            passphrase = read_passphrase(passphrase_file, confirm=True)
        elif mode is None:
            passphrase = os.environ.get("PFX_PASSPHRASE") or None
        with conducting(quiet=quiet, verbose=verbose, max_rate=max_rate) as conduct:
            result = run_backup(
                repository,
                profile,
                secrets=mode,  # type: ignore[arg-type]
                passphrase=passphrase,
                policy=Policy(keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly),
                include=include,
                exclude=exclude,
                dry_run=dry_run,
                concurrency=concurrency,
                conduct=conduct,
            )
        for note in result.notes:
            click.echo(f"pfx: note: {note}", err=True)
        if as_json:
            click.echo(backup_json(result))
        elif not quiet:
            click.echo(backup_text(result))


@cli.command()
@repo_option
@click.option("--json", "as_json", is_flag=True, help="A JSON list of snapshot objects.")
@click.pass_context
def snapshots(ctx: click.Context, repository: str, as_json: bool) -> None:
    """List a repository's snapshots: id, time, source, release, records per kind, records
    changed since the previous snapshot, size (--json: objects with `id`, `time`, ...).

    A snapshot is named elsewhere as REPO@latest, REPO@<id prefix> or REPO@<ISO time> (the
    newest at or before it; without an offset, UTC): pfx inspect / verify / diff / import /
    render / secrets template take them wherever they take a bundle file.
    """
    with fail_cleanly(debug(ctx)):
        from pfx.repository.repo import open_repository
        from pfx.repository.text import snapshots_json, snapshots_text

        repo = open_repository(repository)
        listing = repo.listing()
        click.echo(snapshots_json(listing) if as_json else snapshots_text(repo.url, listing))


@cli.command("log")
@repo_option
@click.argument("selector", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the history as JSON.")
@click.pass_context
def log_(ctx: click.Context, repository: str, selector: str | None, as_json: bool) -> None:
    """The history of a record (or of every record SELECTOR picks) across the snapshots:
    where it appeared, changed (which fields, old -> new) or disappeared.

    \b
      pfx log --repo s3://backups/prefect 'deployment:etl/daily'
      pfx log --repo /var/backups/prefect kind:automation

    SELECTOR is KIND:GLOB (the natural key joined with '/') or kind:KIND; none: every record.
    """
    with fail_cleanly(debug(ctx)):
        from pfx.repository.logbook import record_history
        from pfx.repository.text import history_json, history_text

        history = record_history(repository, selector)
        click.echo(history_json(history) if as_json else history_text(history))


@cli.command("check")
@repo_option
@click.option(
    "--repair",
    is_flag=True,
    help="Rebuild the index from the bundles (index bundles without an entry, drop entries of "
    "forgotten snapshots) and remove leftovers of interrupted writes; never deletes a bundle.",
)
@passphrase_option("to fingerprint encrypted values of bundles --repair indexes")
@click.pass_context
def check(ctx: click.Context, repository: str, repair: bool, passphrase_file: Path | None) -> None:
    """Read every snapshot back in full and check it against the index; name each problem.

    \b
    Exit codes: 0 every snapshot intact and indexed; 4 problems (each named); 69 the
    repository failed; 2 usage error.
    """
    with fail_cleanly(debug(ctx)):
        import os

        from pfx.passphrase import read_passphrase
        from pfx.repository.checking import check_repository
        from pfx.repository.text import check_text

        env = os.environ.get("PFX_PASSPHRASE")
        passphrase = read_passphrase(passphrase_file) if passphrase_file else env
        result = check_repository(repository, repair=repair, passphrase=passphrase or None)
        click.echo(check_text(result))
        sys.exit(result.exit_code)


@cli.command(epilog=RETENTION_HELP)
@repo_option
@keep_options
@click.option("--dry-run", is_flag=True, help="Say what would be forgotten; delete nothing.")
@click.pass_context
def forget(
    ctx: click.Context,
    repository: str,
    dry_run: bool,
    keep_last: int,
    keep_hourly: int,
    keep_daily: int,
    keep_weekly: int,
    keep_monthly: int,
) -> None:
    """Apply a retention policy to a repository without backing up (pfx backup applies it on
    every run); the newest snapshot is always kept."""
    with fail_cleanly(debug(ctx)):
        from pfx.repository.backing import forget as run_forget
        from pfx.repository.retention import Policy
        from pfx.repository.text import retention_lines

        policy = Policy(keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly)
        retention = run_forget(repository, policy, dry_run=dry_run)
        click.echo("\n".join(retention_lines(retention)))
