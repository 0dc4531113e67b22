"""Ids and where they hide: source id -> natural key index, and id rewriting inside JSON.

Ids differ on every server. Records carry source ids; import rewrites every occurrence, also
inside strings such as `prefect.deployment.<uuid>`, through a source -> destination map.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from pfx.jsontypes import JSON, JSONObject

UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


# Kinds whose items are one across servers under the first parts of their key: a block
# schema is its checksum, whatever release's version string it was registered under
# (kinds/block_schema.py reuses a destination's schema by checksum; a block document that
# points at it holds the same schema).
_TOKEN_PARTS = {"block-schema": 1}


@dataclass
class Index:
    """Natural keys by id, and the set of keys present, for every item read from one server."""

    by_id: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    keys: set[tuple[str, tuple[str, ...]]] = field(default_factory=set)
    # The server JSON of each item by id, for refs that need a look at another item (which
    # queue is a pool's default is said by the pool, not by the queue).
    items: dict[str, JSONObject] = field(default_factory=dict)

    def add(
        self, kind: str, key: tuple[str, ...], id_: str | None, item: JSONObject | None = None
    ) -> None:
        self.keys.add((kind, key))
        if id_:
            self.by_id[id_.lower()] = (kind, key)
            if item is not None:
                self.items[id_.lower()] = item

    def item(self, id_: object) -> JSONObject | None:
        """The server JSON of the item with this id, or None."""
        return self.items.get(id_.lower()) if isinstance(id_, str) else None

    def lookup(self, id_: object) -> tuple[str, tuple[str, ...]] | None:
        """(kind, key) of the item with this id, or None."""
        return self.by_id.get(id_.lower()) if isinstance(id_, str) else None

    def has(self, kind: str, key: tuple[str, ...]) -> bool:
        return (kind, key) in self.keys

    def tokens(self) -> dict[str, str]:
        """id -> a server-independent token naming the item, for comparing across servers."""
        return {
            i: f"<{kind}:{'/'.join(key[: _TOKEN_PARTS.get(kind)])}>"
            for i, (kind, key) in self.by_id.items()
        }


def portable(value: JSON, tokens: Mapping[str, str]) -> JSON:
    """`value` with every known id replaced by a token naming its item (see Index.tokens)."""
    return replace_ids(value, tokens)


def find_ids(value: JSON) -> list[str]:
    """Every UUID that occurs in `value`, in strings at any depth, in order of appearance."""
    found: list[str] = []
    _walk(value, found)
    return found


def _walk(value: JSON, found: list[str]) -> None:
    if isinstance(value, str):
        found.extend(m.group(0).lower() for m in UUID.finditer(value))
    elif isinstance(value, list):
        for item in value:
            _walk(item, found)
    elif isinstance(value, dict):
        for item in value.values():
            _walk(item, found)


def replace_ids(value: JSON, mapping: Mapping[str, str]) -> JSON:
    """A copy of `value` with every UUID that `mapping` knows replaced, also inside strings.

    Only ids present in `mapping` change, so parameters that happen to hold unrelated UUIDs
    are left alone.
    """
    if isinstance(value, str):
        if "-" not in value:
            return value
        return UUID.sub(lambda m: mapping.get(m.group(0).lower(), m.group(0)), value)
    if isinstance(value, list):
        return [replace_ids(item, mapping) for item in value]
    if isinstance(value, dict):
        return {k: replace_ids(v, mapping) for k, v in value.items()}
    return value
