"""The import pipeline: verify the bundle, read the destination once, plan, replay, report.

Needs only the destination API. Writes nothing before the bundle, its secrets and the plan
are known good; replays creates in dependency order with adaptive concurrency, and a failure
blocks only what depends on it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from pfx.api import Api
from pfx.bundle import Bundle
from pfx.bundlefile import read_bundle
from pfx.errors import ApiError, ConflictError, PfxError
from pfx.exporting import read_everything
from pfx.graph import Graph, build_graph
from pfx.ids import replace_ids
from pfx.jsontypes import JSON, JSONObject
from pfx.kinds import kind_named
from pfx.kinds.base import Call, Destination
from pfx.model import Record
from pfx.plan import Action, Plan, Policy, build_inventory, plan_import
from pfx.profiles import Target, resolve
from pfx.report import Outcome, Report, Status
from pfx.secrets import set_path
from pfx.secretsfile import SecretValues, gather_secrets

Progress = Callable[[int, int], None]
PassphraseSource = Callable[[], str]
PRESENT = frozenset({"create", "unchanged", "update", "finish", "skip"})


@dataclass
class ImportResult:
    """The plan an import made and, unless it was a dry run, the report of what happened."""

    plan: Plan
    report: Report


def import_bundle(
    path: Path,
    profile: str | None = None,
    *,
    on_conflict: Policy = "skip",
    dry_run: bool = False,
    passphrase: PassphraseSource | None = None,
    secrets_file: Path | None = None,
    concurrency: int = 8,
    progress: Progress | None = None,
) -> ImportResult:
    """Import the bundle at `path` into `profile`'s server (see module doc)."""
    bundle = read_bundle(path)
    secrets = gather_secrets(
        bundle, passphrase=passphrase, secrets_file=secrets_file, decrypt=not dry_run
    )
    graph = build_graph(bundle.records)
    graph.sorter()  # a cycle is an error before anything is written
    target = resolve(profile)
    return anyio.run(
        _import,
        bundle,
        str(path),
        graph,
        secrets,
        target,
        on_conflict,
        dry_run,
        concurrency,
        progress,
    )


async def _import(
    bundle: Bundle,
    name: str,
    graph: Graph,
    secrets: SecretValues,
    target: Target,
    policy: Policy,
    dry_run: bool,
    concurrency: int,
    progress: Progress | None,
) -> ImportResult:
    started = time.monotonic()
    async with Api(target, concurrency=concurrency) as api:
        await api.server_version()
        raw = await read_everything(api, include_secrets=False)
        inventory = build_inventory(raw)
        destination = Destination(
            cloud=target.cloud,
            block_types=frozenset(k[0] for k in inventory.items.get("block-type", {})),
        )
        plan = plan_import(
            bundle.records,
            graph,
            inventory,
            policy=policy,
            destination=destination,
            missing_secrets=secrets.missing,
        )
        if policy == "fail" and plan.conflicts():
            lines = [f"{r.label} ({', '.join(a.fields)})" for r, a in plan.conflicts()]
            raise ConflictError(
                f"{len(lines)} records differ on the destination, nothing written: "
                + "; ".join(lines)
            )
        if dry_run:
            outcomes = [_planned(r, a) for r, a in zip(plan.records, plan.actions, strict=True)]
        else:
            outcomes = await Replay(api, bundle.records, graph, plan, secrets, progress).run()
        report = Report(
            bundle=name,
            destination=target.public_url,
            dry_run=dry_run,
            on_conflict=policy,
            outcomes=outcomes,
            requests=api.stats.requests,
            seconds=round(time.monotonic() - started, 3),
        )
    return ImportResult(plan, report)


def _planned(record: Record, action: Action) -> Outcome:
    """A dry run's outcome for a record: what would happen, nothing done."""
    status_of: dict[str, Status] = {
        "create": "created",
        "update": "updated",
        "finish": "updated",
        "unchanged": "unchanged",
    }
    if action.verb in status_of:
        return Outcome(
            kind=record.kind,
            key=record.key,
            status=status_of[action.verb],
            fields=action.fields,
            reason="dry run: would be " + status_of[action.verb],
        )
    return _settled(record, action)


def _settled(record: Record, action: Action) -> Outcome:
    """The outcome of a record whose action needs no write."""
    dest_id = action.dest_id
    if action.verb == "unchanged":
        return _out(record, "unchanged", destination_id=dest_id)
    if action.verb == "skip":
        return _out(
            record,
            "skipped",
            code="differs",
            fields=action.fields,
            reason="exists on the destination with different "
            f"{', '.join(action.fields)}; kept (use --on-conflict update)",
            destination_id=dest_id,
        )
    if action.verb == "unsupported":
        return _out(record, "skipped", code="unsupported", reason=action.reason)
    if action.verb == "needs-secrets":
        return _out(
            record,
            "skipped",
            code="needs-secrets",
            missing_secrets=action.missing_secrets,
            reason="needs secret values: " + ", ".join(action.missing_secrets),
            destination_id=dest_id,
        )
    raise AssertionError(action.verb)


def _out(record: Record, status: Status, **extra: Any) -> Outcome:
    return Outcome(kind=record.kind, key=record.key, status=status, **extra)


class Replay:
    """Runs a plan: each record once its dependencies are settled, failures blocking dependents."""

    def __init__(
        self,
        api: Api,
        records: Sequence[Record],
        graph: Graph,
        plan: Plan,
        secrets: SecretValues,
        progress: Progress | None,
    ) -> None:
        self.api = api
        self.records = records
        self.graph = graph
        self.plan = plan
        self.secrets = secrets
        self.progress = progress
        self.ids: dict[str, str] = dict(plan.ids)
        self.outcomes: dict[int, Outcome] = {}
        # Ordinals that exist on the destination once settled: their dependents may proceed.
        self.present: set[int] = set()

    async def run(self) -> list[Outcome]:
        sorter = self.graph.sorter()
        send, receive = anyio.create_memory_object_stream[int](len(self.records) + 1)
        pending = 0
        async with anyio.create_task_group() as tg:
            while sorter.is_active():
                for i in sorter.get_ready():
                    if self._settle_now(i):
                        sorter.done(i)
                        self._tick()
                    else:
                        pending += 1
                        tg.start_soon(self._write, i, send.clone())
                if not sorter.is_active():
                    break
                if pending == 0:
                    continue
                done = await receive.receive()
                pending -= 1
                sorter.done(done)
                self._tick()
        await self._late()
        return [self.outcomes[i] for i in range(len(self.records))]

    def _tick(self) -> None:
        if self.progress:
            self.progress(len(self.outcomes), len(self.records))

    def _blocker(self, i: int) -> str | None:
        for j in sorted(self.graph.deps.get(i, ())):
            if j not in self.present:
                dep = self.outcomes.get(j)
                why = f" ({dep.status})" if dep else ""
                return f"{self.records[j].label}{why}"
        return self.plan.unresolved.get(i)

    def _settle_now(self, i: int) -> bool:
        """Settle records that need no write; True if settled."""
        record, action = self.records[i], self.plan.actions[i]
        if action.verb in ("create", "update", "finish"):
            blocker = self._blocker(i)
            if blocker is None:
                return False
            self.outcomes[i] = Outcome(
                kind=record.kind,
                key=record.key,
                status="blocked",
                blocked_by=blocker,
                reason=f"depends on {blocker}, which is not on the destination",
            )
            return True
        self.outcomes[i] = _settled(record, action)
        if action.verb in PRESENT:
            self.present.add(i)
        return True

    async def _write(self, i: int, done: anyio.abc.ObjectSendStream[int]) -> None:
        record, action = self.records[i], self.plan.actions[i]
        kind = kind_named(record.kind)
        try:
            data = self._data(i)
            if action.verb == "create":
                calls = kind.create(record, data)
                dest_id = None
                for n, call in enumerate(calls if isinstance(calls, list) else [calls]):
                    response = (
                        await self._first_write(call) if n == 0 else await self.api.call(call)
                    )
                    if isinstance(response, dict):
                        dest_id = kind.created_id(response) or dest_id
                if dest_id and record.id:
                    self.ids[record.id] = dest_id
                self.outcomes[i] = _out(record, status="created", destination_id=dest_id)
            else:
                assert action.dest is not None
                if action.verb == "update":
                    for call in kind.update(record, data, action.dest):
                        await self.api.call(call)
                self.outcomes[i] = _out(
                    record, status="updated", fields=action.fields, destination_id=action.dest_id
                )
            self.present.add(i)
        except ApiError as e:
            self.outcomes[i] = _api_outcome(record, e)
            if action.verb != "create":
                self.present.add(i)  # it exists, in its old form; dependents can still use it
        except PfxError as e:
            self.outcomes[i] = _out(record, status="failed", reason=str(e))
        finally:
            async with done:
                await done.send(i)

    async def _first_write(self, call: Call) -> JSON:
        """A create, retried on 409s that a server race makes for objects that do not exist.

        Prefect 3.8 on PostgreSQL answers the first concurrent block-document creates with
        409 "Data integrity conflict" (its encryption key row is inserted by both); the same
        create a moment later succeeds. A real duplicate keeps answering 409 and fails.
        """
        for attempt in range(3):
            try:
                return await self.api.call(call)
            except ApiError as e:
                if e.status != 409 or "integrity" not in str(e).lower() or attempt == 2:
                    raise
                await anyio.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    def _data(self, i: int) -> JSONObject:
        """The record's data with destination ids and secret values in place."""
        record = self.records[i]
        data = replace_ids(record.data, self.ids)
        assert isinstance(data, dict)
        for path, value in self.secrets.values.get(i, {}).items():
            data = set_path(data, path, value)
        return data

    async def _late(self) -> None:
        """Set references that could only be set once every record existed."""
        for i, refs in sorted(self.graph.late.items()):
            outcome = self.outcomes[i]
            if outcome.status not in ("created", "updated") or not outcome.destination_id:
                continue
            record = self.records[i]
            kind = kind_named(record.kind)
            missing = [r for r in refs if r.id and r.id not in self.ids]
            if missing or kind.late is None:
                names = ", ".join(f"{r.kind} {'/'.join(r.key)}" for r in missing)
                self.outcomes[i] = outcome.model_copy(
                    update={
                        "status": "failed",
                        "reason": f"created, but its references to {names} "
                        "could not be set: they are not on the destination",
                    }
                )
                continue
            try:
                for call in kind.late(record, self._data(i), outcome.destination_id):
                    await self.api.call(call)
            except ApiError as e:
                self.outcomes[i] = outcome.model_copy(
                    update={
                        "status": "failed",
                        "reason": f"created, but setting its references failed: {e}",
                    }
                )


def _api_outcome(record: Record, error: ApiError) -> Outcome:
    """Per-record API answers become outcomes: permissions and plan limits are skips."""
    text = str(error)
    if error.status == 403:
        return _out(
            record,
            "skipped",
            code="not-permitted",
            reason=f"the destination does not permit it: {text}",
        )
    if error.status in (402, 403, 422) and "limit" in text.lower():
        return _out(record, status="skipped", code="limit-reached", reason=text)
    if error.status == 409:
        text = f"already exists on the destination (created meanwhile by someone else?): {text}"
    return _out(record, status="failed", reason=text)
