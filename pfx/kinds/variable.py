"""Variables: keyed by name; the value may be any JSON. The server answers 409 on a duplicate."""

from __future__ import annotations

from pfx.ids import Index
from pfx.jsontypes import JSONObject
from pfx.kinds.base import Call, Kind, Listing, Shape, delete_by_id
from pfx.model import Record


def _key(data: JSONObject, _index: Index) -> tuple[str, ...]:
    return (str(data["name"]),)


def _body(data: JSONObject) -> JSONObject:
    return {"name": data["name"], "value": data.get("value"), "tags": data.get("tags", [])}


def _create(record: Record, data: JSONObject) -> Call:
    return Call("POST", "/variables/", _body(data))


def _update(record: Record, data: JSONObject, dest: JSONObject) -> list[Call]:
    return [Call("PATCH", f"/variables/{dest['id']}", _body(data))]


KIND = Kind(
    name="variable",
    listing=Listing("/variables/filter", {"sort": "NAME_ASC"}, count_path="/variables/count"),
    server_fields=frozenset({"id", "created", "updated"}),
    key=_key,
    create=_create,
    update=_update,
    # create sends the name.
    shape=Shape(key=1, fields={"name": "str"}),
    delete=delete_by_id("/variables/"),
)
