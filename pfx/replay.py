"""Running an import plan against the destination: each record once its dependencies are
settled, failures blocking only their dependents, outcomes by the rules of outcomes.py.

Truth over optimism: a create whose answer was lost is read back by natural key before it is
ever sent again; idempotent calls (PATCH, PUT, DELETE, GET) are simply repeated; every
updated record is read back at the end and must hold the bundle's values; a destination
that stops answering ends the run at once, the rest `not-attempted`.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio
from anyio.streams.memory import MemoryObjectSendStream

from pfx.errors import ApiError, PfxError, Unreachable, WriteUnknown
from pfx.ids import Index, replace_ids
from pfx.jsontypes import JSON, JSONObject
from pfx.kinds import kind_named
from pfx.kinds.base import Call, Kind
from pfx.losses import fitted, without
from pfx.model import Ref
from pfx.outcomes import Ledger, api_failure, late_failure, outcome, written
from pfx.plan import Inventory, bundle_index, differing, portable_shape
from pfx.secrets import set_path
from pfx.secretsfile import SecretValues
from pfx.server.api import Api

Progress = Callable[[int, int], None]
IDEMPOTENT = frozenset({"GET", "PUT", "PATCH", "DELETE"})
# Times an idempotent call is repeated after its answer was lost.
REPEATS = 3
LOST = "the server's answer to the create was lost; found it on the destination"


class Replay:
    """Runs a plan (see module doc); outcomes accumulate in `ledger`, also when it stops."""

    def __init__(
        self,
        api: Api,
        ledger: Ledger,
        inventory: Inventory,
        secrets: SecretValues,
        progress: Progress | None,
    ) -> None:
        self.api = api
        self.ledger = ledger
        self.plan = ledger.plan
        self.records = ledger.records
        self.graph = ledger.graph
        self.inventory = inventory
        self.secrets = secrets
        self.progress = progress
        self.ids: dict[str, str] = dict(self.plan.ids)
        self.accepts = self.plan.accepts
        # Why the run stopped early (the destination stopped answering), or None.
        self.stopped: str | None = None
        self._ours_tokens: dict[str, str] | None = None
        # Records whose late references were set (or found impossible) already.
        self._late_done: set[int] = set()

    async def run(self) -> None:
        sorter = self.graph.sorter()
        send, receive = anyio.create_memory_object_stream[int](len(self.records) + 1)
        pending = 0
        async with anyio.create_task_group() as tg:
            self._group = tg
            while sorter.is_active():
                for i in sorter.get_ready():
                    if self.ledger.settle_now(i):
                        sorter.done(i)
                        self._tick()
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
                self._tick()
        if self.stopped is None:
            await self._late()
        if self.stopped is None:
            await self._verify_updates()

    def _tick(self) -> None:
        if self.progress:
            self.progress(len(self.ledger.outcomes), len(self.records))

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
                dest_id, note = await self._create(i, kind, data)
                if dest_id and record.id:
                    self.ids[record.id] = dest_id
                self.ledger.settle(i, written(record, action, dest_id, note))
                if self._only_self_late(i):
                    # Its own schedules and limit follow the create at once, in parallel
                    # with other writes, instead of queueing for the end of the run.
                    await self._set_late(i)
            else:
                assert action.dest is not None
                # `finish` completes an interrupted create: kinds with late refs finish in
                # _late; the others (a pool's default queue) by their update.
                if action.verb == "update" or kind.late is None:
                    for call in fitted(kind.update(record, data, action.dest), self.accepts):
                        await self._repeatable(call)
                self.ledger.settle(i, written(record, action, None))
        except Unreachable as e:
            self._stop(e)
        except ApiError as e:
            self.ledger.settle(i, api_failure(record, e.status, str(e)))
        except PfxError as e:
            self.ledger.settle(i, outcome(record, "failed", reason=str(e)))
        finally:
            done.send_nowait(i)

    async def _create(self, i: int, kind: Kind, data: JSONObject) -> tuple[str | None, str]:
        """Run a record's create calls; (destination id, note)."""
        calls = fitted(kind.create(self.records[i], data), self.accepts)
        dest_id: str | None = None
        note = ""
        for n, call in enumerate(calls):
            if n == 0 and call.method == "POST":
                response, note = await self._first_create(i, call)
            else:
                response = await self._repeatable(call)
            if isinstance(response, dict):
                dest_id = kind.created_id(response) or dest_id
        return dest_id, note

    async def _first_create(self, i: int, call: Call) -> tuple[JSON, str]:
        """The creating POST: on a lost answer, read back first and send again only if absent.

        Also retried on 409s that a server race makes for objects that do not exist: Prefect
        3.8 on PostgreSQL answers the first concurrent block-document creates with 409 "Data
        integrity conflict"; the same create a moment later succeeds.
        """
        for attempt in range(3):
            try:
                return await self.api.call(call), ""
            except WriteUnknown:
                found = await self._find(i)
                if found is not None:
                    return found, LOST
                if attempt == 2:
                    raise
            except ApiError as e:
                if e.status != 409 or "integrity" not in str(e).lower() or attempt == 2:
                    raise
                await anyio.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    async def _repeatable(self, call: Call) -> JSON:
        """An idempotent call, repeated when its answer was lost; others run once."""
        for attempt in range(REPEATS):
            try:
                return await self.api.call(call)
            except WriteUnknown:
                if call.method not in IDEMPOTENT or attempt == REPEATS - 1:
                    raise
            except ApiError as e:
                # A repeated DELETE whose first answer was lost finds nothing left.
                if call.method == "DELETE" and e.status == 404 and attempt > 0:
                    return None
                raise
        raise AssertionError("unreachable")

    def _data(self, i: int) -> JSONObject:
        """The record's data with destination ids and secret values in place."""
        record = self.records[i]
        data = replace_ids(record.data, self.ids)
        assert isinstance(data, dict)
        for path, value in self.secrets.values.get(i, {}).items():
            data = set_path(data, path, value)
        return data

    # --- reading back ------------------------------------------------------------------------

    def _dest_index(self) -> Index:
        """The destination's ids by natural key: what was there, and what this run made."""
        index = Index(
            by_id=dict(self.inventory.index.by_id),
            keys=set(self.inventory.index.keys),
            items=dict(self.inventory.index.items),
        )
        for o in self.ledger.outcomes.values():
            if o.destination_id:
                index.add(o.kind, o.key, o.destination_id)
        return index

    def _tokens(self) -> dict[str, str]:
        if self._ours_tokens is None:
            self._ours_tokens = bundle_index(self.records).tokens()
        return self._ours_tokens

    async def _read_kind(self, kind: Kind, pools: set[str]) -> list[JSONObject]:
        # Other writes of this run go on meanwhile: the count cannot be checked (the record
        # sought was written before the read started, so the pages hold it).
        items: list[JSONObject] = []
        if kind.listing.per is None:
            items = await self.api.list_all(kind.listing, counted=False)
        for pool in sorted(pools) if kind.listing.per is not None else ():
            items += await self.api.list_all(kind.listing.under(pool), counted=False)
        return kind.gather(items) if kind.gather is not None else items

    def _match(
        self, i: int, kind: Kind, items: list[JSONObject], index: Index
    ) -> JSONObject | None:
        """The destination item that is record `i`: by natural key, or for kinds without
        unique names by name and content (a copy nobody has claimed)."""
        record = self.records[i]
        if kind.unique_key:
            for item in items:
                try:
                    if kind.own(item) and kind.key(item, index) == record.key:
                        return item
                except (KeyError, TypeError, ValueError):
                    continue
            return None
        claimed = set(self.ids.values()) | set(index.by_id)
        lost = self.plan.actions[i].losses
        ours = portable_shape(without(record.data, lost), self._tokens())
        shapes = [ours, kind.early(ours)] if kind.early else [ours]
        theirs_tokens = index.tokens()
        for item in items:
            ident = str(item.get("id", "")).lower()
            if ident in claimed or item.get("name") != record.data.get("name"):
                continue
            theirs = portable_shape(kind.kept(item), theirs_tokens)
            if any(not differing(kind, unlisted(shape, item), theirs) for shape in shapes):
                return item
        return None

    async def _find(self, i: int) -> JSONObject | None:
        """Record `i` as the destination holds it now, or None (after a lost answer)."""
        kind = kind_named(self.records[i].kind)
        # Offset pages shift under this run's own concurrent creates: a record missed by one
        # read is looked for once more before it counts as absent.
        for _ in range(2):
            items = await self._read_kind(kind, {self.records[i].key[0]})
            found = self._match(i, kind, items, self._dest_index())
            if found is not None:
                return found
        return None

    async def _verify_updates(self) -> None:
        """Read every updated record back: "updated" only if the server now holds the bundle's
        values; otherwise failed, naming the fields that still differ."""
        updated = [i for i, o in self.ledger.outcomes.items() if o.status == "updated"]
        by_kind: dict[str, list[int]] = {}
        for i in updated:
            by_kind.setdefault(self.records[i].kind, []).append(i)
        index = self._dest_index()
        theirs_tokens = index.tokens()
        for name, members in by_kind.items():
            kind = kind_named(name)
            items = await self._read_kind(kind, {self.records[i].key[0] for i in members})
            for i in members:
                record, old = self.records[i], self.ledger.outcomes[i]
                item = self._dest_item(i, kind, items, index)
                # Named losses are not differences: the destination cannot hold them.
                lost = self.plan.actions[i].losses
                ours = portable_shape(without(record.data, lost), self._tokens())
                if item is None:
                    fields = ["(gone)"]
                else:
                    # Secret values compare as the kind says (masked values count as equal).
                    theirs = portable_shape(kind.kept(item), theirs_tokens)
                    fields = differing(kind, unlisted(ours, item), theirs)
                if fields:
                    self.ledger.outcomes[i] = old.model_copy(
                        update={
                            "status": "failed",
                            "fields": fields,
                            "reason": "updated, but the destination still differs in "
                            + ", ".join(fields),
                        }
                    )

    def _dest_item(
        self, i: int, kind: Kind, items: list[JSONObject], index: Index
    ) -> JSONObject | None:
        dest_id = self.plan.actions[i].dest_id
        for item in items:
            if dest_id and item.get("id") == dest_id:
                return item
        return self._match(i, kind, items, index)

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
                late = kind.late(record, self._data(i), result.destination_id)
                for call in fitted(late, self.accepts):
                    await self._repeatable(call)
        except Unreachable:
            raise
        except ApiError as e:
            why = f"created, but setting its references failed: {e}"
        if why:
            self.ledger.outcomes[i] = result.model_copy(update={"status": "failed", "reason": why})


def unlisted(ours: JSONObject, item: JSONObject) -> JSONObject:
    """`ours` without the top-level fields the server's listing never returns (an
    automation's `owner_resource`, which export recovers by other requests): a read-back
    cannot compare what it cannot see."""
    return {k: v for k, v in ours.items() if k in item}
