"""Reading back what an import wrote, compared as the plan compares (pfx.comparison): the
record whose create answer was lost, found by natural key (kinds without unique names: by name
and content, a copy nobody has claimed); every updated record, which must now hold the
bundle's values or is failed, naming the fields that still differ; and the automations another
run created at the same time as this one (pfx.twins decides which copies stay).
"""

from __future__ import annotations

from collections.abc import Sequence

from pfx import retry
from pfx.comparison import Inventory, bundle_index, differing, pair, portable_shape
from pfx.errors import ApiError
from pfx.ids import Index
from pfx.jsontypes import JSONObject
from pfx.kinds import automation, kind_named
from pfx.kinds.base import Call, Kind
from pfx.losses import without
from pfx.model import Record
from pfx.outcomes import Ledger
from pfx.server.api import Api
from pfx.server.reading import read_kind
from pfx.twins import staying

TWIN = "another run made it at the same time; its copy stays, this run's copy was deleted"


class ReadBack:
    """Reads the destination for one run's records (see module doc). `ids` is the run's own
    source -> destination id map, shared with the replay that fills it."""

    def __init__(self, api: Api, ledger: Ledger, inventory: Inventory, ids: dict[str, str]):
        self.api = api
        self.ledger = ledger
        self.records: Sequence[Record] = ledger.records
        self.inventory = inventory
        self.ids = ids
        self._tokens: dict[str, str] | None = None

    async def find(self, i: int) -> JSONObject | None:
        """Record `i` as the destination holds it now, or None (after a lost answer)."""
        kind = kind_named(self.records[i].kind)
        # Offset pages shift under this run's own concurrent creates: a record missed by one
        # read is looked for once more before it counts as absent.
        for _ in range(2):
            items = await read_kind(self.api, kind, [self.records[i].key[0]])
            found = self._match(i, kind, items, self._index())
            if found is not None:
                return found
        return None

    def shapes(self, i: int, item: JSONObject) -> tuple[JSONObject, JSONObject]:
        """Record `i` and the destination's `item` in the portable shapes the plan compares
        (pfx.plan.replan: another run made it meanwhile)."""
        kind = kind_named(self.records[i].kind)
        theirs = portable_shape(kind.kept(item), self._index().tokens())
        return self._ours(i), theirs

    async def holds(self, i: int) -> bool:
        """Whether the destination now holds record `i` as the bundle says (its late
        references refused as duplicates: another run set them meanwhile)."""
        found = await self.find(i)
        if found is None:
            return False
        mine, theirs = self.shapes(i, found)
        return not differing(kind_named(self.records[i].kind), unlisted(mine, found), theirs)

    async def settle_twins(self) -> None:
        """Automations this run created that another run created too, at once: this run's
        copies that do not stay (pfx.twins) are deleted, and their records take a staying
        copy, `unchanged`. Compared as created, before late references are set (automation
        ids left out), so copies of both runs compare however far each has got."""
        kind = automation.KIND
        outcomes = self.ledger.outcomes
        mine = {
            i: o.destination_id
            for i, o in outcomes.items()
            if o.kind == kind.name and o.status == "created" and o.destination_id
        }
        if not mine:
            return
        items = await read_kind(self.api, kind)
        tokens = self._index().tokens()
        early = kind.early or (lambda shape: shape)
        shapes = {
            str(item.get("id")): early(portable_shape(kind.kept(item), tokens)) for item in items
        }
        ours = [j for j, r in enumerate(self.records) if r.kind == kind.name]
        done: set[int] = set()
        for i in sorted(mine):
            if i in done:
                continue
            shape = early(self._ours(i))
            name = self.records[i].data.get("name")
            group = [
                j
                for j in ours
                if self.records[j].data.get("name") == name
                and not differing(kind, shape, early(self._ours(j)))
            ]
            done.update(group)
            copies = [
                (str(item.get("created", "")), str(item.get("id")))
                for item in items
                if item.get("name") == name
                and not differing(kind, unlisted(shape, item), shapes[str(item.get("id"))])
            ]
            held = {
                str(o.destination_id)
                for j in group
                if j not in mine and (o := outcomes.get(j)) is not None and o.destination_id
            }
            mine_here = {j: mine[j] for j in group if j in mine}
            for j, other in staying(mine_here, copies, held, len(group)).items():
                await self._give_up_copy(j, other)

    async def _give_up_copy(self, i: int, other: str) -> None:
        """Delete this run's copy of automation `i` and take `other`, a copy that stays."""
        result = self.ledger.outcomes[i]
        try:
            await retry.repeat(self.api, Call("DELETE", f"/automations/{result.destination_id}"))
        except ApiError as e:
            note = f"another run made a copy at the same time, and deleting this one failed: {e}"
            self.ledger.outcomes[i] = result.model_copy(update={"reason": note})
            return
        self.ledger.outcomes[i] = result.model_copy(
            update={"status": "unchanged", "destination_id": other, "reason": TWIN}
        )
        record = self.records[i]
        if record.id:
            self.ids[record.id] = other

    async def verify_updates(self) -> None:
        """Read every updated record back: "updated" only if the server now holds the bundle's
        values; otherwise failed, naming the fields that still differ."""
        outcomes = self.ledger.outcomes
        by_kind: dict[str, list[int]] = {}
        for i, o in outcomes.items():
            if o.status == "updated":
                by_kind.setdefault(self.records[i].kind, []).append(i)
        index = self._index()
        theirs_tokens = index.tokens()
        for name, members in by_kind.items():
            kind = kind_named(name)
            items = await read_kind(self.api, kind, {self.records[i].key[0] for i in members})
            for i in members:
                item = self._updated_item(i, kind, items, index)
                if item is None:
                    fields = ["(gone)"]
                else:
                    theirs = portable_shape(kind.kept(item), theirs_tokens)
                    fields = differing(kind, unlisted(self._ours(i), item), theirs)
                if fields:
                    outcomes[i] = outcomes[i].model_copy(
                        update={
                            "status": "failed",
                            "fields": fields,
                            "reason": "updated, but the destination still differs in "
                            + ", ".join(fields),
                        }
                    )

    def _ours(self, i: int) -> JSONObject:
        """Record `i` as compared: portable, its named losses left out (the destination
        cannot hold them: not differences)."""
        if self._tokens is None:
            self._tokens = bundle_index(self.records).tokens()
        lost = self.ledger.plan.actions[i].losses
        return portable_shape(without(self.records[i].data, lost), self._tokens)

    def _index(self) -> Index:
        """The destination's ids by natural key: what was there, and what this run made."""
        known = self.inventory.index
        index = Index(by_id=dict(known.by_id), keys=set(known.keys), items=dict(known.items))
        for o in self.ledger.outcomes.values():
            if o.destination_id:
                index.add(o.kind, o.key, o.destination_id)
        return index

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
        ours = self._ours(i)
        shapes = [ours, kind.early(ours)] if kind.early else [ours]
        theirs_tokens = index.tokens()
        candidates = [
            item
            for item in items
            if str(item.get("id", "")).lower() not in claimed
            and item.get("name") == record.data.get("name")
        ]

        def equal(_: int, item: JSONObject) -> bool:
            theirs = portable_shape(kind.kept(item), theirs_tokens)
            return any(not differing(kind, unlisted(shape, item), theirs) for shape in shapes)

        pairs, _, _ = pair([i], candidates, equal, by_order=False)
        return pairs[0][1] if pairs else None

    def _updated_item(
        self, i: int, kind: Kind, items: list[JSONObject], index: Index
    ) -> JSONObject | None:
        dest_id = self.ledger.plan.actions[i].dest_id
        for item in items:
            if dest_id and item.get("id") == dest_id:
                return item
        return self._match(i, kind, items, index)


def unlisted(ours: JSONObject, item: JSONObject) -> JSONObject:
    """`ours` without the top-level fields the server's listing never returns (an
    automation's `owner_resource`, which the read phase recovers by other requests): a
    read-back cannot compare what it cannot see."""
    return {k: v for k, v in ours.items() if k in item}
