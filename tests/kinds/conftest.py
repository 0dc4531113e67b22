"""Shared by the kind tests: captured API JSON (fixtures/api, the same objects read from two
servers, sides "a" and "b"), the records export builds from it, and items as compared."""

from __future__ import annotations

from pathlib import Path

import orjson

from pfx.ids import Index, portable
from pfx.jsontypes import JSON, JSONObject
from pfx.keying import build_records, key_items
from pfx.kinds.base import Kind
from pfx.model import Record, SecretsMode
from pfx.secrets import Sealer

API = Path(__file__).resolve().parents[2] / "fixtures" / "api"

Raw = dict[str, list[JSONObject]]


def captured(name: str) -> dict[str, list[JSONObject]]:
    """The captured items of fixtures/api/<name>.json, by side."""
    value = orjson.loads((API / f"{name}.json").read_bytes())
    assert isinstance(value, dict)
    return value


def built(raw: Raw, kind: str, mode: SecretsMode = "withheld") -> dict[tuple[str, ...], Record]:
    """The records of `kind` that export builds from `raw`, by key (nothing may be skipped)."""
    records, skipped = build_records(raw, Sealer(mode))
    assert not skipped
    return {r.key: r for r in records if r.kind == kind}


def portable_items(raw: Raw, kind: str) -> dict[tuple[str, ...], JSON]:
    """Each item of `kind` in `raw` as it compares across servers: kept data, ids as
    natural-key tokens."""
    index = Index()
    keyed = key_items(raw, index, [])
    tokens = index.tokens()
    return {key: portable(k.kept(item), tokens) for k, key, item in keyed if k.name == kind}


def keyed(
    raw: Raw, kind: Kind, others: list[JSONObject]
) -> tuple[dict[tuple[str, ...], Record], Index, dict[tuple[str, ...], JSONObject]]:
    """The records of `kind` export builds from `raw` over an index that already holds
    `others` (captured `{kind, key, id}` of what they refer to); that index; the raw items."""
    index = Index()
    for other in others:
        index.add(str(other["kind"]), tuple(other["key"]), str(other["id"]))  # type: ignore[arg-type]
    items = {key: item for k, key, item in key_items(raw, index, []) if k is kind}
    records = {
        key: Record(
            kind=kind.name,
            key=key,
            id=str(item["id"]),
            data=kind.kept(item),
            refs=kind.refs(item, index),
        )
        for key, item in items.items()
    }
    return records, index, items
