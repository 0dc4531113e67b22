"""Saved searches: the UI's named flow-run filters, keyed by name. Every release since 2.x has
them; `PUT /saved_searches/` creates or, by name, replaces (so create and update are one call).

A filter's value may hold ids (the UI saves flow and deployment ids); ids of records the
source has become refs, so import rewrites them. Other ids are left as they are.
"""

from __future__ import annotations

from pfx.ids import Index, find_ids
from pfx.jsontypes import JSONObject
from pfx.kinds.base import Call, Kind, Listing, Shape, delete_by_id
from pfx.model import Record, Ref

PATH = "/saved_searches/"


def _key(data: JSONObject, _index: Index) -> tuple[str, ...]:
    return (str(data["name"]),)


def _put(data: JSONObject) -> Call:
    return Call("PUT", PATH, {"name": data["name"], "filters": data.get("filters") or []})


def _create(record: Record, data: JSONObject) -> Call:
    return _put(data)


def _update(record: Record, data: JSONObject, dest: JSONObject) -> list[Call]:
    return [_put(data)]


def _refs(data: JSONObject, index: Index) -> list[Ref]:
    refs: list[Ref] = []
    for ident in find_ids(data.get("filters")):
        found = index.lookup(ident)
        if found is None:
            continue  # a flow run, or something deleted: nothing any bundle holds
        ref = Ref(kind=found[0], key=found[1], id=ident, path="filters")
        if ref not in refs:
            refs.append(ref)
    return refs


KIND = Kind(
    name="saved-search",
    listing=Listing("/saved_searches/filter"),
    server_fields=frozenset({"id", "created", "updated"}),
    key=_key,
    create=_create,
    update=_update,
    # PUT sends the name and the filters.
    shape=Shape(key=1, fields={"name": "str", "filters": "array?"}),
    refs=_refs,
    endpoint=PATH,
    since="0.2",
    delete=delete_by_id(PATH),
)
