"""Flows: keyed by name. `POST /flows/` returns the existing flow, so create is also a lookup."""

from __future__ import annotations

from pfx.ids import Index
from pfx.jsontypes import JSONObject
from pfx.kinds.base import Call, Kind, Listing, Shape, delete_by_id
from pfx.model import Record


def _key(data: JSONObject, _index: Index) -> tuple[str, ...]:
    return (str(data["name"]),)


def _create(record: Record, data: JSONObject) -> Call:
    return Call("POST", "/flows/", {k: data[k] for k in ("name", "tags", "labels") if k in data})


def _update(record: Record, data: JSONObject, dest: JSONObject) -> list[Call]:
    # Only tags are updatable (FlowUpdate); labels are set at creation only.
    return [Call("PATCH", f"/flows/{dest['id']}", {"tags": data.get("tags", [])})]


KIND = Kind(
    name="flow",
    listing=Listing("/flows/filter", {"sort": "NAME_ASC"}, count_path="/flows/count"),
    server_fields=frozenset({"id", "created", "updated"}),
    key=_key,
    create=_create,
    update=_update,
    # create sends the name.
    shape=Shape(key=1, fields={"name": "str"}),
    immutable=frozenset({"labels"}),
    # Prefect deletes the flow's runs with it (and would its deployments: prune deletes those
    # first, or keeps the flow while one stays).
    delete=delete_by_id("/flows/"),
)
