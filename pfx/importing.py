"""The import pipeline: verify the bundle, read the destination once, plan, replay, report.

Needs only the destination API. Writes nothing before the bundle, its secrets and the plan
are known good; the replay (replay.py) and the dry run (outcomes.predict) follow the same
outcome rules. Every stop (error, Ctrl-C, dead destination) still yields a report.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from pfx.api import Api
from pfx.bundle import Bundle
from pfx.bundlefile import read_bundle
from pfx.errors import ConflictError, PfxError
from pfx.exporting import read_everything
from pfx.graph import Graph, build_graph
from pfx.jsontypes import JSON, JSONObject
from pfx.kinds.base import Destination
from pfx.openapi import read_accepts
from pfx.outcomes import Ledger, predict
from pfx.pace import CEILING
from pfx.plan import Plan, Policy, build_inventory, plan_import
from pfx.prefect_types import prefect_block_types
from pfx.profiles import Target, resolve
from pfx.promotion import Prepared, Promotion, check_available, held_states, pick, prepare
from pfx.replay import Progress, Replay
from pfx.report import Outcome, Report
from pfx.secretsfile import SecretValues, gather_secrets
from pfx.tested import Untested, untested

PassphraseSource = Callable[[], str]


@dataclass
class ImportResult:
    """The plan an import made and, unless it was a dry run, the report of what happened."""

    plan: Plan
    report: Report
    # What selection, map and standby did to the bundle's records before planning.
    prepared: Prepared | None = None


def import_bundle(
    path: Path,
    profile: str | None = None,
    *,
    on_conflict: Policy = "skip",
    dry_run: bool = False,
    passphrase: PassphraseSource | None = None,
    secrets_file: Path | None = None,
    concurrency: int = CEILING,
    progress: Progress | None = None,
    accept_losses: bool = False,
    promotion: Promotion | None = None,
) -> ImportResult:
    """Import the bundle at `path` into `profile`'s server (see module doc); `promotion`
    selects, maps and holds back records first (pfx.promotion)."""
    promotion = promotion or Promotion()
    bundle, picked = pick(read_bundle(path), promotion)
    secrets = gather_secrets(
        bundle, passphrase=passphrase, secrets_file=secrets_file, decrypt=not dry_run
    )
    prepared = prepare(bundle.records, promotion, picked)
    bundle = Bundle(bundle.manifest, prepared.records, bundle.problems)
    graph = build_graph(bundle.records)
    graph.sorter()  # a cycle is an error before anything is written
    target = resolve(profile)
    run = _Run(
        bundle, str(path), graph, secrets, target, on_conflict, dry_run, concurrency, progress
    )
    run.accept_losses = accept_losses
    run.prepared = prepared
    try:
        return anyio.run(_import, run)
    except (Exception, KeyboardInterrupt) as e:
        first = _first_error(e)
        raise _stopped(run, first) from first


def _first_error(error: BaseException) -> BaseException:
    """The error behind a task group's exception group (our own errors first)."""
    if isinstance(error, BaseExceptionGroup):
        leaves = [_first_error(e) for e in error.exceptions]
        return next((e for e in leaves if isinstance(e, PfxError)), leaves[0])
    return error


async def _import(run: _Run) -> ImportResult:
    started = time.monotonic()
    async with Api(run.target, concurrency=run.concurrency) as api:
        run.api = api
        version, document, raw = await _read_destination(api)
        inventory = build_inventory(raw)
        has = {(kind, key) for kind, items in inventory.items.items() for key in items}
        check_available(run.prepared.picked, has)
        server = f"Prefect {version}" if version else "the destination"
        run.untested = untested(version)
        destination = Destination(
            cloud=run.target.cloud,
            server_version=version,
            block_types=frozenset(k[0] for k in inventory.items.get("block-type", {})),
            prefect_block_types=prefect_block_types(),
            accepts=read_accepts(document, server) if document is not None else None,
        )
        plan = plan_import(
            run.bundle.records,
            run.graph,
            inventory,
            policy=run.policy,
            destination=destination,
            missing_secrets=run.secrets.missing,
        )
        run.ledger = Ledger(plan, run.graph)
        if run.policy == "fail" and plan.conflicts():
            lines = [f"{r.label} ({', '.join(a.fields)})" for r, a in plan.conflicts()]
            raise ConflictError(
                f"{len(lines)} records differ on the destination, nothing written: "
                + "; ".join(lines)
            )
        stopped = None
        if run.dry_run:
            outcomes = predict(plan, run.graph)
        else:
            replay = Replay(api, run.ledger, inventory, run.secrets, run.progress)
            await replay.run()
            stopped = replay.stopped
            outcomes = run.ledger.close(f"not attempted: the run stopped ({stopped})")
        report = run.report(outcomes, time.monotonic() - started, stopped)
    return ImportResult(plan, report, run.prepared)


async def _read_destination(api: Api) -> tuple[str | None, JSON, dict[str, list[JSONObject]]]:
    """The destination's version, OpenAPI document and every item, read at once.

    The document decides every payload (pfx.openapi); a server builds it on its first request
    for it, seconds of its own work that the listings' database reads can overlap.
    """
    version: str | None = None
    document: JSON = None

    async def read_version() -> None:
        nonlocal version
        version = await api.server_version()

    async def read_document() -> None:
        nonlocal document
        document = await api.openapi()

    async with anyio.create_task_group() as tg:
        tg.start_soon(read_version)
        tg.start_soon(read_document)
        raw = await read_everything(api, include_secrets=False)
    return version, document, raw


@dataclass
class _Run:
    """One import's inputs, and what it knows so far (so that any stop can still report)."""

    bundle: Bundle
    name: str
    graph: Graph
    secrets: SecretValues
    target: Target
    policy: Policy
    dry_run: bool
    concurrency: int
    progress: Progress | None
    api: Api | None = None
    ledger: Ledger | None = None
    started: float = field(default_factory=time.monotonic)
    # Records with named losses count as complete (the user read the plan).
    accept_losses: bool = False
    prepared: Prepared = field(default_factory=lambda: Prepared([]))
    # The destination's release, when newer than the newest pfx is tested with.
    untested: Untested | None = None

    def report(self, outcomes: list[Outcome], seconds: float, stopped: str | None) -> Report:
        return Report(
            bundle=self.name,
            destination=self.target.public_url,
            dry_run=self.dry_run,
            on_conflict=self.policy,
            outcomes=outcomes,
            requests=self.api.stats.requests if self.api else 0,
            seconds=round(seconds, 3),
            stopped=stopped,
            accept_losses=self.accept_losses,
            standby=held_states(self.prepared.held, outcomes),
            untested=self.untested,
        )

    def partial(self, why: str) -> Report:
        """The report of a run that stopped: outcomes so far, the rest not attempted."""
        if self.ledger is not None:
            outcomes = self.ledger.close(f"not attempted: {why}")
        else:
            outcomes = [
                Outcome(kind=r.kind, key=r.key, status="not-attempted", reason=why)
                for r in self.bundle.records
            ]
        return self.report(outcomes, time.monotonic() - self.started, why)


class ImportStopped(PfxError):
    """An import ended before every record was settled; `report` says how far it got."""

    def __init__(self, message: str, report: Report, exit_code: int) -> None:
        super().__init__(message)
        self.report = report
        self.exit_code = exit_code


def _stopped(run: _Run, error: BaseException) -> ImportStopped:
    """The one-line stop of a run, with its partial report and exit code."""
    if isinstance(error, KeyboardInterrupt):
        why, code = "interrupted", 130
    elif isinstance(error, PfxError):
        why, code = str(error), error.exit_code
    elif isinstance(error, OSError):
        why, code = f"{error.strerror or error}", 2 if error.errno == errno.ENOSPC else 70
    else:
        why, code = f"internal error: {type(error).__name__}: {error}", 70
    report = run.partial(why)
    done = sum(1 for o in report.outcomes if o.status != "not-attempted")
    total = len(report.outcomes)
    return ImportStopped(f"stopped after {done} of {total} records: {why}", report, code)
