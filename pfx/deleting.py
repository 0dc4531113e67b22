"""Carrying out the deletions pfx.prune decides: level by level (what uses a record goes
first), each through its kind's own call (Kind.delete), a lost answer read back and never
blindly repeated (pfx.retry.delete). Before any deletion, the last state of what will be
deleted is kept in a bundle beside the report, from which `pfx import` (or `pfx cutover
--rollback`) restores it, secrets as the imported bundle's mode allows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import anyio

from pfx import bundle, bundlefile, retry
from pfx.comparison import Inventory
from pfx.errors import ApiError, PfxError, Unreachable
from pfx.jsontypes import JSONObject
from pfx.kinds import kind_named
from pfx.model import External, Partial, Record, SecretsMode, Source
from pfx.prune import Ident, Pruning, Verdict, deleted_outcome, kept_outcome
from pfx.report import Outcome
from pfx.secrets import Sealer, seal_record
from pfx.select import external_refs
from pfx.server.api import Api
from pfx.server.prunereads import Stops, read_documents, read_stops
from pfx.server.reading import read_kind

__all__ = ["Deleting", "deleted_path", "keep_deleted"]


def deleted_path(report: Path) -> Path:
    """Where the records a run deletes are kept: beside its report (`r.json` ->
    `r.deleted.pfx`)."""
    return report.with_name(report.stem + ".deleted.pfx")


@dataclass
class Deleting:
    """One run's deletions and their outcomes so far (also when the run stops)."""

    pruning: Pruning
    inventory: Inventory
    stops: Stops = field(default_factory=Stops)
    outcomes: dict[Ident, Outcome] = field(default_factory=dict)
    # Why the run stopped before every deletion was tried (the destination stopped answering).
    stopped: str | None = None

    async def read_stops(self, api: Api) -> None:
        """What stops with the deletions: deployments' last runs, flows' runs."""

        def ids(kind: str) -> list[str]:
            found = (v.record.id for v in self.pruning.deletions if v.record.kind == kind)
            return [i for i in found if i]

        self.stops = await read_stops(api, ids("deployment"), ids("flow"))

    def described(self, outcome: Outcome) -> Outcome:
        """`outcome` with what stops with its record (read by `read_stops`)."""
        ident = outcome.destination_id or ""
        return outcome.model_copy(
            update={
                "last_run": self.stops.last_runs.get(ident),
                "flow_runs": self.stops.flow_runs.get(ident),
            }
        )

    def close(self, why: str) -> list[Outcome]:
        """Every deletion's outcome (`not-attempted`, with `why`, where it has none), then
        every kept record."""
        out: list[Outcome] = []
        for v in self.pruning.deletions:
            done = self.outcomes.get(v.ident)
            if done is None:
                r = v.record
                done = Outcome(kind=r.kind, key=r.key, status="not-attempted", reason=why)
            out.append(self.described(done))
        return out + [kept_outcome(v) for v in self.pruning.kept]

    async def run(self, api: Api) -> None:
        """Every deletion, a level at a time; stops (setting `stopped`) when the destination
        stops answering."""
        levels = sorted({v.level for v in self.pruning.deletions})
        for level in levels:
            async with anyio.create_task_group() as tg:
                for verdict in self.pruning.deletions:
                    if verdict.level == level:
                        tg.start_soon(self._delete, api, verdict, tg.cancel_scope)
            if self.stopped:
                return

    async def _delete(self, api: Api, verdict: Verdict, scope: anyio.CancelScope) -> None:
        r = verdict.record
        waiting = [i for i in verdict.after if self.outcomes.get(i, _NONE).status != "deleted"]
        if waiting:
            first = f"{waiting[0][0]} {'/'.join(waiting[0][1])}"
            self.outcomes[verdict.ident] = Outcome(
                kind=r.kind,
                key=r.key,
                status="blocked",
                blocked_by=first,
                reason=f"{first} was not deleted and still uses it: not deleted",
                destination_id=r.id,
            )
            return
        if verdict.with_pool:  # the pool's deletion took it along
            self.outcomes[verdict.ident] = deleted_outcome(verdict)
            return
        kind = kind_named(r.kind)
        item = self.inventory.get(r.kind, r.key) or {}
        assert kind.delete is not None
        try:
            note = await retry.delete(api, kind.delete(item), lambda: _present(api, r))
        except Unreachable as e:
            self.stopped = self.stopped or str(e)
            scope.cancel()
            return
        except (ApiError, PfxError) as e:
            self.outcomes[verdict.ident] = Outcome(
                kind=r.kind, key=r.key, status="failed", reason=str(e), destination_id=r.id
            )
            return
        self.outcomes[verdict.ident] = deleted_outcome(verdict, note)


_NONE = Outcome(kind="", key=(), status="not-attempted")


async def _present(api: Api, record: Record) -> bool:
    """Whether the destination still holds `record` (after a delete whose answer was lost):
    by id, or for a kind without ids (a server setting) by its content."""
    kind = kind_named(record.kind)
    items = await read_kind(api, kind, [record.key[0]])
    if record.id:
        return any(str(item.get("id", "")).lower() == record.id.lower() for item in items)
    return any(kind.own(item) and kind.kept(item) == record.data for item in items)


# --- the deleted records' last state ---------------------------------------------------------


async def keep_deleted(
    path: Path,
    api: Api,
    pruning: Pruning,
    inventory: Inventory,
    source: Source,
    mode: SecretsMode,
    passphrase: str | None,
) -> Path | None:
    """Write the last state of `pruning`'s deletions to the bundle at `path` (atomically),
    before any is deleted: block documents' secret values encrypted under `passphrase`
    (`mode` encrypted), in clear (plaintext) or withheld, as the imported bundle holds
    its own. None (nothing written) when nothing is deleted."""
    deletions = pruning.deletions
    if not deletions:
        return None
    documents = [v.record.id for v in deletions if v.record.kind == "block-document"]
    clear: dict[str, JSONObject] = {}
    if mode != "withheld" and documents:
        read = await read_documents(api, [i for i in documents if i])
        clear = {str(item.get("id")): item for item in read}
    sealer = Sealer.create(mode, passphrase if mode == "encrypted" else None)
    records = [_kept(v, inventory, clear, sealer) for v in deletions]
    external = [External(kind=r.kind, key=r.key) for r in external_refs(records)]
    selection = Partial(include=[_selector(r) for r in records], external=external)
    created = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    lines = bundle.encode(
        records,
        source=source,
        created=created,
        secrets=sealer.summary(records),
        selection=selection,
        keys=sealer.keys,
    )
    bundlefile.write_lines(path, lines)
    return path


def _kept(
    verdict: Verdict, inventory: Inventory, clear: dict[str, JSONObject], sealer: Sealer
) -> Record:
    """A deletion as a bundle record (its item in clear where it was read so)."""
    record = verdict.record
    kind = kind_named(record.kind)
    if kind.secret_paths is None:
        return record
    item = clear.get(record.id or "") or inventory.get(record.kind, record.key) or {}
    record = record.model_copy(update={"data": kind.kept(item)})
    return seal_record(record, item, kind.secret_paths(item), sealer)


def _selector(record: Record) -> str:
    """A selector that picks exactly this record (glob characters escaped)."""
    key = re.sub(r"([*?\[])", r"[\1]", "/".join(record.key))
    return f"{record.kind}:{key}"
