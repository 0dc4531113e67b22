"""The server's default result storage (Prefect 3.7+): one setting per server, naming the
block document that flow runs write results to when they name none. A singleton, keyed
`default`; exported only when the server has one set. `PUT /admin/storage` sets it.
"""

from __future__ import annotations

import re

from pfx.ids import Index
from pfx.jsontypes import JSONObject
from pfx.kinds.base import Call, Kind, Listing, Shape
from pfx.model import Record, Ref

PATH = "/admin/storage"
FIELD = "default_result_storage_block_id"


def _since_37(release: str | None) -> bool:
    """Whether a source of this release has the setting (3.7 added it; unknown: not known)."""
    match = re.match(r"(\d+)\.(\d+)", release or "")
    return match is not None and (int(match[1]), int(match[2])) >= (3, 7)


def _key(_data: JSONObject, _index: Index) -> tuple[str, ...]:
    return ("default",)


def _put(data: JSONObject) -> Call:
    return Call("PUT", PATH, {FIELD: data[FIELD]})


def _create(record: Record, data: JSONObject) -> Call:
    return _put(data)


def _update(record: Record, data: JSONObject, dest: JSONObject) -> list[Call]:
    return [_put(data)]


def _refs(data: JSONObject, index: Index) -> list[Ref]:
    ident = data.get(FIELD)
    if not isinstance(ident, str):
        return []
    found = index.lookup(ident)
    # A block document the source does not list (anonymous, or gone): kept as a ref so import
    # reports the setting instead of pointing it at nothing.
    kind, key = found if found is not None else ("block-document", ("<missing>", ident))
    return [Ref(kind=kind, key=key, id=ident, path=FIELD)]


KIND = Kind(
    name="default-result-storage",
    listing=Listing(PATH, paged=False, single=True),
    server_fields=frozenset(),
    key=_key,
    create=_create,
    update=_update,
    # PUT sends the block document's id.
    shape=Shape(key=1, fields={FIELD: "str"}),
    refs=_refs,
    # Nothing set: the server answers {FIELD: null}; no record.
    own=lambda data: isinstance(data.get(FIELD), str),
    created_id=lambda _response: None,
    endpoint=PATH,
    since="0.2",
    # Unsets the server's default (flow runs then write results where they name them).
    delete=lambda _item: [Call("DELETE", PATH)],
    had_by=lambda release, _cloud: _since_37(release),
)
