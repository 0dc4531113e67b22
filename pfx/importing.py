"""The import pipeline: verify the bundle, read the destination once, plan, replay, report.

Needs only the destination API. Writes nothing before the bundle, its secrets and the plan
are known good; the replay (replay.py) and the dry run (outcomes.predict) follow the same
outcome rules. Every stop (error, Ctrl-C, dead destination) still yields a report.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pfx.boundary import first_error, stop_of
from pfx.bundle import Bundle
from pfx.bundlefile import read_bundle
from pfx.comparison import build_inventory
from pfx.errors import ConflictError, PfxError
from pfx.graph import Graph, build_graph
from pfx.interrupts import run_interruptibly
from pfx.outcomes import Ledger, predict
from pfx.plan import Plan, Policy, plan_import, written_by
from pfx.profiles import Target, resolve
from pfx.promotion import Prepared, Promotion, check_available, held_states, pick, prepare
from pfx.replay import Replay
from pfx.report import Outcome, Report
from pfx.secretsfile import SecretValues, gather_secrets
from pfx.server.api import Api
from pfx.server.pace import CEILING
from pfx.server.reading import read_server
from pfx.tested import Untested, untested
from pfx.watched import WatchingAutomation, watching_automations
from pfx.watching import Conduct

PassphraseSource = Callable[[], str]

__all__ = ["ImportResult", "ImportStopped", "PassphraseSource", "import_bundle"]


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
    accept_losses: bool = False,
    promotion: Promotion | None = None,
    conduct: Conduct | None = None,
) -> ImportResult:
    """Import the bundle at `path` into `profile`'s server (see module doc); `promotion`
    selects, maps and holds back records first (pfx.promotion); `conduct`: who watches the
    run, and its --max-rate (pfx.watching)."""
    promotion = promotion or Promotion()
    bundle, picked = pick(read_bundle(path), promotion)
    # The dry run checks the passphrase and the secrets file exactly as the run does: a
    # green dry run must not hide a run that fails on them at once.
    secrets = gather_secrets(bundle, passphrase=passphrase, secrets_file=secrets_file)
    prepared = prepare(bundle.records, promotion, picked)
    bundle = Bundle(bundle.manifest, prepared.records, bundle.problems)
    graph = build_graph(bundle.records)
    graph.sorter()  # a cycle is an error before anything is written
    target = resolve(profile)
    run = _Run(bundle, str(path), graph, secrets, target, on_conflict, dry_run, concurrency)
    run.conduct = conduct or Conduct()
    run.accept_losses = accept_losses
    run.prepared = prepared
    try:
        return run_interruptibly(_import, run)
    except (Exception, KeyboardInterrupt, BaseExceptionGroup) as e:
        raise _stopped(run, e) from first_error(e)


async def _import(run: _Run) -> ImportResult:
    started = time.monotonic()
    async with Api(run.target, concurrency=run.concurrency, conduct=run.conduct) as api:
        run.api = api
        # The document decides every payload (pfx.openapi); a server builds it on its first
        # request for it, seconds of its own work that the listings' reads overlap.
        read = await read_server(api, openapi=True, side="destination")
        api.watcher.phase("planning")
        inventory = build_inventory(read.raw)
        has = {(kind, key) for kind, items in inventory.items.items() for key in items}
        check_available(run.prepared.picked, has)
        run.untested = untested(read.server_version)
        destination = read.destination(cloud=run.target.cloud)
        plan = plan_import(
            run.bundle.records,
            run.graph,
            inventory,
            policy=run.policy,
            destination=destination,
            missing_secrets=run.secrets.missing,
        )
        run.watched_by = watching_automations(
            list(inventory.items.get("automation", {}).values()), written_by(plan)
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
            replay = Replay(api, run.ledger, inventory, run.secrets)
            await replay.run()
            stopped = replay.stopped
            outcomes = run.ledger.close(f"not attempted: the run stopped ({stopped})")
        report = run.report(outcomes, time.monotonic() - started, stopped)
    return ImportResult(plan, report, run.prepared)


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
    conduct: Conduct = field(default_factory=Conduct)
    api: Api | None = None
    ledger: Ledger | None = None
    started: float = field(default_factory=time.monotonic)
    # Records with named losses count as complete (the user read the plan).
    accept_losses: bool = False
    prepared: Prepared = field(default_factory=lambda: Prepared([]))
    # The destination's release, when newer than the newest pfx is tested with.
    untested: Untested | None = None
    # The destination's automations that watch what this import writes (pfx.watched).
    watched_by: list[WatchingAutomation] = field(default_factory=list)

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
            watched_by=self.watched_by,
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
    """The one-line stop of a run (by the boundary's rules), with its partial report."""
    stop = stop_of(error)
    why, code = stop.line, stop.code
    report = run.partial(why)
    done = sum(1 for o in report.outcomes if o.status != "not-attempted")
    total = len(report.outcomes)
    return ImportStopped(f"stopped after {done} of {total} records: {why}", report, code)
