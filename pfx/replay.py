"""Running an import plan against the destination: each record once its dependencies are
settled, failures blocking only their dependents, outcomes by the rules of outcomes.py.

The scheduling is this module's; when a write is sent again is pfx.retry's (a create whose
answer was lost is read back, never blindly resent); reading back is pfx.readback's (every
updated record must hold the bundle's values at the end). A destination that stops
answering ends the run at once, the rest `not-attempted`.
"""

from __future__ import annotations

from functools import partial

import anyio
from anyio.streams.memory import MemoryObjectSendStream

from pfx import retry
from pfx.comparison import Inventory
from pfx.errors import ApiError, PfxError, Unreachable
from pfx.ids import replace_ids
from pfx.jsontypes import JSON, JSONObject
from pfx.kinds import kind_named
from pfx.kinds.base import Call, Kind
from pfx.losses import fitted
from pfx.model import Ref
from pfx.outcomes import (
    WRITES,
    Ledger,
    api_failure,
    late_failure,
    meanwhile_conflict,
    outcome,
    settled,
    written,
)
from pfx.plan import replan
from pfx.readback import ReadBack
from pfx.secrets import set_path
from pfx.secretsfile import SecretValues
from pfx.server.api import Api


class Replay:
    """Runs a plan (see module doc); outcomes accumulate in `ledger`, also when it stops."""

    def __init__(
        self,
        api: Api,
        ledger: Ledger,
        inventory: Inventory,
        secrets: SecretValues,
    ) -> None:
        self.api = api
        self.ledger = ledger
        self.plan = ledger.plan
        self.records = ledger.records
        self.graph = ledger.graph
        self.secrets = secrets
        self.ids: dict[str, str] = dict(self.plan.ids)
        self.accepts = self.plan.accepts
        self.readback = ReadBack(api, ledger, inventory, self.ids)
        # Why the run stopped early (the destination stopped answering), or None.
        self.stopped: str | None = None
        # Records whose late references were set (or found impossible) already.
        self._late_done: set[int] = set()

    async def run(self) -> None:
        self.api.watcher.phase("writing")
        sorter = self.graph.sorter()
        send, receive = anyio.create_memory_object_stream[int](len(self.records) + 1)
        pending = 0
        async with anyio.create_task_group() as tg:
            self._group = tg
            while sorter.is_active():
                for i in sorter.get_ready():
                    if self.ledger.settle_now(i):
                        sorter.done(i)
                        self._tick(i)
                    else:
                        pending += 1
                        tg.start_soon(self._write, i, send)
                if not sorter.is_active():
                    break
                if pending == 0:
                    continue
                done = await receive.receive()
                pending -= 1
                sorter.done(done)
                self._tick(done)
        if self.stopped is None:
            # Before late references: those of a copy that does not stay are never set.
            await self.readback.settle_twins()
        if self.stopped is None:
            await self._late()
        if self.stopped is None:
            self.api.watcher.phase("checking")
            await self.readback.verify_updates()

    def _tick(self, i: int) -> None:
        self.api.watcher.settled(self.records[i].kind, len(self.ledger.outcomes), len(self.records))

    def _stop(self, error: Unreachable) -> None:
        if self.stopped is None:
            self.stopped = str(error)
        self._group.cancel_scope.cancel()

    async def _write(self, i: int, done: MemoryObjectSendStream[int]) -> None:
        record, action = self.records[i], self.plan.actions[i]
        kind = kind_named(record.kind)
        try:
            data = self._data(i)
            if action.verb == "create":
                dest_id, note, meanwhile = await self._create(i, kind, data)
                if meanwhile is None:
                    if dest_id and record.id:
                        self.ids[record.id] = dest_id
                    self.ledger.settle(i, written(record, action, dest_id, note))
                    if self._only_self_late(i):
                        # Its own schedules and limit follow the create at once, in parallel
                        # with other writes, instead of queueing for the end of the run.
                        await self._set_late(i)
                    return
                # Another run made it meanwhile: planned again as if it had been there.
                mine, theirs = self.readback.shapes(i, meanwhile)
                action = replan(self.plan, self.graph, i, meanwhile, mine, theirs)
                action.reason = action.reason or note
                if action.dest_id and record.id:
                    self.ids[record.id] = action.dest_id
            if action.verb == "conflict":
                self.ledger.settle(i, meanwhile_conflict(record, action))
            elif action.verb not in WRITES:
                self.ledger.settle(i, settled(record, action))
            else:
                assert action.dest is not None
                # `finish` completes an interrupted create: kinds with late refs finish in
                # _late; the others (a pool's default queue) by their update.
                if action.verb == "update" or kind.late is None:
                    for call in fitted(kind.update(record, data, action.dest), self.accepts):
                        await retry.repeat(self.api, call)
                self.ledger.settle(i, written(record, action, None))
        except Unreachable as e:
            self._stop(e)
        except ApiError as e:
            self.ledger.settle(i, api_failure(record, e.status, str(e)))
        except PfxError as e:
            self.ledger.settle(i, outcome(record, "failed", reason=str(e)))
        finally:
            done.send_nowait(i)

    async def _create(
        self, i: int, kind: Kind, data: JSONObject
    ) -> tuple[str | None, str, JSONObject | None]:
        """Run a record's create calls: (destination id, note, None), or with the item that
        another run made meanwhile as the third (its first call refused as a duplicate; the
        other calls are then not sent)."""
        calls = fitted(kind.create(self.records[i], data), self.accepts)
        dest_id: str | None = None
        note = ""
        for n, call in enumerate(calls):
            response: JSON
            if n == 0 and call.method == "POST":
                made = await retry.create(self.api, call, partial(self.readback.find, i))
                if made.meanwhile and isinstance(made.answer, dict):
                    return None, made.note, made.answer
                response, note = made.answer, made.note
            else:
                response = await retry.repeat(self.api, call)
            if isinstance(response, dict):
                dest_id = kind.created_id(response) or dest_id
        return dest_id, note, None

    def _data(self, i: int) -> JSONObject:
        """The record's data with destination ids and secret values in place."""
        record = self.records[i]
        data = replace_ids(record.data, self.ids)
        assert isinstance(data, dict)
        for path, value in self.secrets.values.get(i, {}).items():
            data = set_path(data, path, value)
        return data

    # --- late references ---------------------------------------------------------------------

    async def _late(self) -> None:
        """Set references that could only be set once every record existed."""
        for i in sorted(self.graph.late):
            if i in self._late_done:
                continue
            try:
                await self._set_late(i)
            except Unreachable as e:
                self.stopped = str(e)
                return

    def _only_self_late(self, i: int) -> bool:
        """Whether record `i`'s late refs all point at itself (a deployment's schedules and
        own limit): they can be set right after its create, not at the end of the run."""
        refs = self.graph.late.get(i)
        own = self.records[i].id
        return bool(refs) and own is not None and all(r.id == own for r in refs or ())

    async def _set_late(self, i: int) -> None:
        """Set record `i`'s late references, or fail it naming why (Unreachable propagates)."""
        self._late_done.add(i)
        result = self.ledger.outcomes.get(i)
        if result is None or result.status not in ("created", "updated"):
            return
        if not result.destination_id:
            return
        record = self.records[i]
        kind = kind_named(record.kind)

        def known(ref: Ref) -> bool:
            return (ref.id or "") in self.ids

        why = late_failure(self.graph.late.get(i, []), known)
        if why is None and kind.late is None:
            why = "created, but this kind cannot set late references"
        try:
            if why is None:
                assert kind.late is not None
                late: list[Call] = kind.late(record, self._data(i), result.destination_id)
                for call in fitted(late, self.accepts):
                    await retry.repeat(self.api, call)
        except Unreachable:
            raise
        except ApiError as e:
            why = f"created, but setting its references failed: {e}"
            # Refused as a duplicate: another run importing at the same time set them.
            if e.status == 409 and await self.readback.holds(i):
                why = None
        if why:
            self.ledger.outcomes[i] = result.model_copy(update={"status": "failed", "reason": why})
