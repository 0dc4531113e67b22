"""Reading back what an import wrote, compared as the plan compares (pfx.comparison): the
record whose create answer was lost, found by natural key (kinds without unique names: by name
and content, a copy nobody has claimed); and every updated record, which must now hold the
bundle's values or is failed, naming the fields that still differ.
"""

from __future__ import annotations

from collections.abc import Sequence

from pfx.comparison import Inventory, bundle_index, differing, pair, portable_shape
from pfx.ids import Index
from pfx.jsontypes import JSONObject
from pfx.kinds import kind_named
from pfx.kinds.base import Kind
from pfx.losses import without
from pfx.model import Record
from pfx.outcomes import Ledger
from pfx.server.api import Api
from pfx.server.reading import read_kind


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
