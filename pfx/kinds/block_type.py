"""Block types: keyed by slug, with their metadata. Protected (system) types belong to the
destination's Prefect: they always compare as unchanged and import never writes them.
"""

from __future__ import annotations

from pfx.ids import Index
from pfx.jsontypes import JSONObject
from pfx.kinds.base import Call, Destination, Kind, Listing, Shape
from pfx.model import Record

# What BlockTypeUpdate accepts; name and slug are fixed at creation.
METADATA = ("logo_url", "documentation_url", "description", "code_example")


def _key(data: JSONObject, _index: Index) -> tuple[str, ...]:
    return (str(data["slug"]),)


def _create(record: Record, data: JSONObject) -> Call:
    body: JSONObject = {"name": data["name"], "slug": data["slug"]}
    body |= {k: data.get(k) for k in METADATA}
    return Call("POST", "/block_types/", body)


def _update(record: Record, data: JSONObject, dest: JSONObject) -> list[Call]:
    # The API accepts a PATCH of a protected type (3.8.8 answers 204 and changes it), but
    # the system types' metadata is the destination server's own: leave it alone.
    if dest.get("is_protected") or data.get("is_protected"):
        return []
    return [Call("PATCH", f"/block_types/{dest['id']}", {k: data.get(k) for k in METADATA})]


def _compare(bundle: JSONObject, dest: JSONObject) -> list[str]:
    # Protected types are registered by each server from its own Prefect release, so their
    # metadata differs between versions without anyone having changed it: never a conflict.
    if bundle.get("is_protected") or dest.get("is_protected"):
        return []
    fields = sorted(set(bundle) | set(dest))
    return [f for f in fields if bundle.get(f) != dest.get(f)]


def _unsupported(record: Record, destination: Destination) -> str | None:
    if str(record.data.get("name", "")).lower().startswith("prefect"):
        return "block type names beginning with 'Prefect' are reserved by the server"
    return None


KIND = Kind(
    name="block-type",
    listing=Listing("/block_types/filter"),
    server_fields=frozenset({"id", "created", "updated"}),
    key=_key,
    create=_create,
    update=_update,
    # create sends name and slug.
    shape=Shape(key=1, fields={"name": "str", "slug": "str"}),
    unsupported=_unsupported,
    compare=_compare,
    immutable=frozenset({"name"}),
)
