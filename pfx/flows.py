"""Backups that run themselves: `pfx.flows:backup`, a Prefect flow to deploy on a schedule.

Deployed on the user's own Prefect (prefect.yaml `entrypoint: pfx.flows:backup`, or
`backup.deploy(...)`; README "Backups"), so backups get Prefect's schedules, logs, retries and
failure notifications. It runs `pfx backup` in the flow run's process: by default of the
server the flow runs on (the worker gives its runs PREFECT_API_URL and PREFECT_API_KEY), or
of a profile, or of an API URL with its key in a Secret block; the passphrase comes from a
Secret block. A failed backup fails the run (and forgets nothing).
"""

from __future__ import annotations

from typing import Literal

from prefect import flow, get_run_logger

from pfx.jsontypes import JSONObject
from pfx.profiles import Target, resolve

SECRETS = {"withhold": "withheld", "encrypt": "encrypted", "plaintext": "plaintext"}


def _secret(name: str) -> str:
    """The value of the Secret block `name` on the server this flow runs on."""
    from prefect.blocks.system import Secret

    # Called from a sync flow, load() returns the block (its type also allows a coroutine).
    block = Secret.load(name)
    return str(block.get())  # type: ignore[union-attr]


@flow(name="pfx-backup", log_prints=False)
def backup(
    repository: str,
    profile: str | None = None,
    api_url: str | None = None,
    api_key_secret: str | None = None,
    passphrase_secret: str | None = None,
    secrets: Literal["withhold", "encrypt", "plaintext"] | None = None,
    keep_last: int = 0,
    keep_hourly: int = 0,
    keep_daily: int = 0,
    keep_weekly: int = 0,
    keep_monthly: int = 0,
    include: list[str] | None = None,
    exclude: list[str] | None = None,
    max_rate: int | None = None,
) -> JSONObject:
    """Back up a Prefect server into a snapshot repository, then apply retention.

    Args:
        repository: where snapshots go: a directory, s3://bucket/prefix, gs://..., az://...
        profile: a Prefect profile of the worker's machine to back up (default: the server
            this flow runs on, unless api_url is given).
        api_url: the API URL of the server to back up instead.
        api_key_secret: name of a Secret block holding the API key for api_url.
        passphrase_secret: name of a Secret block holding the passphrase that encrypts secret
            values (without one they are withheld, and the run log says so).
        secrets: withhold, encrypt or plaintext (default: encrypt with a passphrase).
        keep_last/keep_hourly/keep_daily/keep_weekly/keep_monthly: the retention policy.
        include/exclude: selectors of a partial backup (KIND:GLOB, kind:KIND, tag:TAG).
        max_rate: the most requests a minute to send to the server, evenly paced (Prefect
            Cloud's rate limits are per account, shared with its workers).
    """
    from pfx.repository.backing import backup as run_backup
    from pfx.repository.retention import Policy
    from pfx.repository.text import backup_text, entry_json, retention_json
    from pfx.watching import Conduct

    logger = get_run_logger()
    target: Target | None = None
    if api_url:
        key = _secret(api_key_secret) if api_key_secret else None
        target = Target(url=api_url.rstrip("/"), profile=None, api_key=key)
    elif profile is None:
        target = resolve(None)
    passphrase = _secret(passphrase_secret) if passphrase_secret else None
    result = run_backup(
        repository,
        profile,
        target=target,
        secrets=SECRETS[secrets] if secrets else None,  # type: ignore[arg-type]
        passphrase=passphrase,
        policy=Policy(keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly),
        include=include or (),
        exclude=exclude or (),
        conduct=Conduct(max_rate=max_rate),
    )
    for note in result.notes:
        logger.warning(note)
    logger.info(backup_text(result))
    return {
        "repository": result.repository,
        "unchanged": result.unchanged,
        "snapshot": entry_json(result.entry),
        "retention": retention_json(result.retention),
    }
