"""Natural keys for server items, and the records built from them, pure: the same keying
for source items (export) and destination items (import's inventory), so both sides name a
resource alike.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

import orjson

from pfx.errors import PfxError, plain
from pfx.ids import Index, portable
from pfx.jsontypes import JSONObject
from pfx.kinds import KINDS
from pfx.kinds.base import Kind
from pfx.model import Record, Skipped
from pfx.secrets import Sealer, seal_record

Keyed = list[tuple[Kind, tuple[str, ...], JSONObject]]


def key_items(raw: dict[str, list[JSONObject]], index: Index, skipped: list[Skipped]) -> Keyed:
    """(kind, natural key, item) for every own item, filling `index` as it goes.

    Kinds are keyed in registry order, each seeing the index of the kinds before it (a
    deployment's key holds its flow's name). Import keys destination items the same way.
    """
    keyed: list[tuple[Kind, tuple[str, ...], JSONObject]] = []
    for kind in KINDS:
        group: list[tuple[Kind, tuple[str, ...], JSONObject]] = []
        for item in raw.get(kind.name, []):
            if not kind.own(item):
                continue
            try:
                key = kind.key(item, index)
            except (KeyError, TypeError, ValueError) as e:
                ident = (str(item.get("id")),)
                skipped.append(Skipped(kind=kind.name, key=ident, reason=f"unreadable: {plain(e)}"))
                continue
            group.append((kind, key, item))
        group = _disambiguate(group, index)
        for _, key, item in group:
            index.add(kind.name, key, item_id(item), item)
        keyed += group
    return keyed


def _disambiguate(
    group: list[tuple[Kind, tuple[str, ...], JSONObject]], index: Index
) -> list[tuple[Kind, tuple[str, ...], JSONObject]]:
    """Give items of a kind without unique names (automations) an ordinal by content.

    Ordinals follow the sorted hash of each item's portable content (ids of earlier kinds as
    natural keys), so the same source gives the same keys on every export.
    """
    if not group or group[0][0].unique_key:
        return group
    by_key: dict[tuple[str, ...], list[tuple[Kind, JSONObject]]] = defaultdict(list)
    for kind, key, item in group:
        by_key[key].append((kind, item))
    # Ids of this kind are not in the index yet (automations name each other): mask them,
    # so the same content ranks the same on every server.
    tokens = index.tokens() | {
        str(item["id"]).lower(): f"<{kind.name}>" for kind, _, item in group if item.get("id")
    }
    out: list[tuple[Kind, tuple[str, ...], JSONObject]] = []
    for key, members in sorted(by_key.items()):
        ranked = sorted(members, key=lambda m: _content_hash(m[0].kept(m[1]), tokens))
        for n, (kind, item) in enumerate(ranked, start=1):
            out.append((kind, (*key, str(n)), item))
    return out


def _content_hash(data: JSONObject, tokens: dict[str, str]) -> str:
    encoded = orjson.dumps(portable(data, tokens), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(encoded).hexdigest()


def item_id(item: JSONObject) -> str | None:
    value = item.get("id")
    return value if isinstance(value, str) else None


def build_records(
    raw: dict[str, list[JSONObject]], sealer: Sealer
) -> tuple[list[Record], list[Skipped]]:
    """Records for every own item, with refs resolved through one index of all items."""
    index = Index()
    skipped: list[Skipped] = []
    keyed = key_items(raw, index, skipped)
    records: list[Record] = []
    for kind, key, item in keyed:
        try:
            record = Record(
                kind=kind.name,
                key=key,
                id=item_id(item),
                data=kind.kept(item),
                refs=kind.refs(item, index),
            )
            if kind.secret_paths is not None:
                record = seal_record(record, item, kind.secret_paths(item), sealer)
        except PfxError:
            raise
        except (KeyError, TypeError, ValueError) as e:
            skipped.append(Skipped(kind=kind.name, key=key, reason=f"unreadable item: {plain(e)}"))
            continue
        records.append(record)
    return records, skipped
