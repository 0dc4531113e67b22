"""The import pipeline: verify the bundle, read the destination once, plan, replay, report.

Needs only the destination API. Writes nothing before the bundle, its secrets and the plan
are known good; the replay (replay.py) and the dry run (outcomes.predict) follow the same
outcome rules. With `--prune`, what the bundle does not hold is deleted after the replay
(pfx.prune decides, pfx.deleting deletes), or at cutover with `--standby`. Every stop
(error, Ctrl-C, dead destination) still yields a report.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pfx.boundary import first_error, stop_of
from pfx.bundle import Bundle
from pfx.bundlefile import read_bundle
from pfx.comparison import Inventory, build_inventory
from pfx.deleting import Deleting, keep_deleted
from pfx.errors import ConflictError, PfxError, UsageError
from pfx.graph import Graph, build_graph
from pfx.interrupts import run_interruptibly
from pfx.kinds.base import Destination
from pfx.model import Source
from pfx.outcomes import Ledger, predict
from pfx.plan import Plan, Policy, plan_import, written_by
from pfx.profiles import Target, resolve
from pfx.promotion import (
    Prepared,
    Promotion,
    check_available,
    check_matched,
    held_states,
    pick,
    prepare,
)  # fmt: skip
from pfx.prune import Limit, Pruning, destination_records, prune_after, prune_outcomes
from pfx.replay import Replay
from pfx.report import Outcome, Report
from pfx.scope import scope_of
from pfx.secretsfile import SecretValues, gather_secrets
from pfx.select import Selector
from pfx.server.api import Api
from pfx.server.pace import CEILING
from pfx.server.reading import read_server
from pfx.standby import Deferred
from pfx.tested import Untested, untested
from pfx.watched import WatchingAutomation, watching_automations
from pfx.watching import Conduct

PassphraseSource = Callable[[], str]

__all__ = ["ImportResult", "ImportStopped", "PassphraseSource", "Prune", "import_bundle"]


@dataclass(frozen=True)
class Prune:
    """`--prune`: delete what the bundle does not hold, within its scope (pfx.scope).
    `limit`: the guard (pfx.prune.Pruning.refusal); `keep`: where the last state of what is
    deleted is kept first (a bundle; None: not kept)."""

    limit: Limit = None
    keep: Path | None = None


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
    prune: Prune | None = None,
    conduct: Conduct | None = None,
) -> ImportResult:
    """Import the bundle at `path` into `profile`'s server (see module doc); `promotion`
    selects, maps and holds back records first (pfx.promotion); `prune` deletes what the
    bundle does not hold; `conduct`: who watches the run, and its --max-rate (pfx.watching)."""
    promotion = promotion or Promotion()
    bundle, picked, pending = pick(read_bundle(path), promotion, prune=prune is not None)
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
    run.passphrase = passphrase
    run.prepared = prepared
    run.promotion = promotion
    run.prune = prune
    run.pending = pending
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
        if run.pending:
            check_matched(run.pending, destination_records(inventory))
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
        predicted = predict(plan, run.graph)
        if run.prune is not None:
            pruning = run.pruning(inventory, destination, plan, predicted)
            refused = pruning.refusal(run.prune.limit)
            if refused:
                raise UsageError(refused)
            run.deleting = Deleting(pruning, inventory)
            await run.deleting.read_stops(api)
        if run.dry_run:
            outcomes = predicted + run.deletions(note="dry run: would be deleted")
            if run.deleting is not None and run.promotion.standby:
                run.deferred = _deferred(run.deleting.pruning)
        else:
            replay = Replay(api, run.ledger, inventory, run.secrets)
            await replay.run()
            stopped = replay.stopped
            outcomes = run.ledger.close(f"not attempted: the run stopped ({stopped})")
            if run.deleting is not None and stopped is None:
                actual = run.pruning(inventory, destination, plan, outcomes)
                stopped = await _prune(run, api, actual, read.server_version, read.api_version)
                outcomes += run.deletions(f"not attempted: the run stopped ({stopped})")
        report = run.report(outcomes, time.monotonic() - started, stopped)
    return ImportResult(plan, report, run.prepared)


async def _prune(
    run: _Run, api: Api, pruning: Pruning, release: str | None, api_version: str | None
) -> str | None:
    """Keep the last state of what `pruning` deletes (when asked), then delete it, or with
    standby leave it for cutover; why the run stopped, or None."""
    assert run.deleting is not None and run.prune is not None
    run.deleting = Deleting(pruning, run.deleting.inventory, run.deleting.stops)
    if run.prune.keep is not None:
        source = Source(
            url=run.target.public_url,
            profile=run.target.profile,
            server_version=release,
            api_version=api_version,
            cloud=run.target.cloud,
        )
        mode = run.bundle.manifest.secrets.mode
        passphrase = run.passphrase() if mode == "encrypted" and run.passphrase else None
        keep = run.prune.keep
        written = await keep_deleted(
            keep, api, pruning, run.deleting.inventory, source, mode, passphrase
        )
        run.kept_in = written.name if written else None
    if run.promotion.standby:
        run.deferred = _deferred(pruning)
        return None
    await run.deleting.run(api)
    return run.deleting.stopped


def _deferred(pruning: Pruning) -> list[Deferred]:
    """The deletions standby leaves for cutover (a pool's default queue goes with its pool)."""
    return [
        Deferred(kind=v.record.kind, key=v.record.key, id=v.record.id)
        for v in pruning.deletions
        if v.with_pool is None
    ]


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
    promotion: Promotion = field(default_factory=Promotion)
    prune: Prune | None = None
    passphrase: PassphraseSource | None = None
    # --prune: the deletions (predicted, then those after the replay) and their outcomes.
    deleting: Deleting | None = None
    deferred: list[Deferred] = field(default_factory=list)
    kept_in: str | None = None
    # --include/--exclude selectors no bundle record matched (--prune: looked for on the
    # destination once it is read).
    pending: list[tuple[str, Selector]] = field(default_factory=list)

    # The destination's automations that watch what this import writes (pfx.watched).
    watched_by: list[WatchingAutomation] = field(default_factory=list)

    def pruning(
        self, inventory: Inventory, destination: Destination, plan: Plan, outcomes: list[Outcome]
    ) -> Pruning:
        """What --prune deletes and keeps, given the bundle records' outcomes so far."""
        manifest = self.bundle.manifest
        scope = scope_of(manifest, self.promotion.include, self.promotion.exclude)
        return prune_after(plan, outcomes, inventory, scope, destination)

    def deletions(self, why: str = "", note: str = "") -> list[Outcome]:
        """The deletions' outcomes: predicted (`note`), or as the run left them (`why`: the
        reason of those not attempted). Deferred to cutover (standby): only the kept."""
        deleting = self.deleting
        if deleting is None:
            return []
        if note:
            outcomes = prune_outcomes(deleting.pruning, note)
            if self.promotion.standby:
                outcomes = [o for o in outcomes if o.status != "deleted"]
            return [deleting.described(o) for o in outcomes]
        if self.promotion.standby:
            return [o for o in deleting.close(why) if o.status == "kept"]
        return deleting.close(why)

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
            deferred=self.deferred,
            deleted_bundle=self.kept_in,
            watched_by=self.watched_by,
        )

    def partial(self, why: str) -> Report:
        """The report of a run that stopped: outcomes so far, the rest not attempted."""
        if self.ledger is not None:
            outcomes = self.ledger.close(f"not attempted: {why}")
            outcomes += self.deletions(f"not attempted: {why}")
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
