"""Block schemas: keyed by (checksum, version), since one checksum can carry several versions;
a destination schema with the same checksum is the same schema whatever its version string.

A schema is content-addressed and immutable: POST returns the existing one (200) when the
destination has it, so create is also a lookup and there is nothing to update.
"""

from __future__ import annotations

from pfx.ids import Index
from pfx.jsontypes import JSON, JSONObject
from pfx.kinds.base import Call, Kind, Listing, Shape, delete_by_id
from pfx.model import Record, Ref

KIND_NAME = "block-schema"


def _key(data: JSONObject, _index: Index) -> tuple[str, ...]:
    return (str(data["checksum"]), str(data["version"]))


def _keep(data: JSONObject) -> JSONObject:
    # The embedded block type is a copy of another record; block_type_id names it.
    kept = {k: v for k, v in data.items() if k != "block_type"}
    # Capabilities are a set that servers list in their own registration order.
    capabilities = data.get("capabilities")
    if isinstance(capabilities, list):
        kept["capabilities"] = sorted(capabilities, key=str)
    return kept


def _refs(data: JSONObject, index: Index) -> list[Ref]:
    refs: list[Ref] = []
    type_id = data.get("block_type_id")
    if isinstance(type_id, str):
        kind, key = index.lookup(type_id) or ("block-type", ("<missing>", type_id))
        refs.append(Ref(kind=kind, key=key, id=type_id, path="block_type_id"))
    for name, entry in nested_references(data.get("fields")):
        path = f"fields.block_schema_references.{name}"
        slug = entry.get("block_type_slug")
        if isinstance(slug, str):
            # The server refuses (409) a schema whose nested block type it does not know.
            refs.append(Ref(kind="block-type", key=(slug,), path=path))
        checksum = entry.get("block_schema_checksum")
        if isinstance(checksum, str):
            # The nested schema is found by checksum alone; the server can also build it
            # from the parent's definitions, so an absent one does not block.
            found = schema_key(index, checksum)
            refs.append(
                Ref(kind=KIND_NAME, key=found or (checksum,), path=path, soft=found is None)
            )
    return refs


def nested_references(fields: JSON) -> list[tuple[str, JSONObject]]:
    """(field name, {block_schema_checksum, block_type_slug}) for each nested block field.

    A field typed as a union of blocks holds a list of such entries.
    """
    if not isinstance(fields, dict):
        return []
    refs = fields.get("block_schema_references")
    if not isinstance(refs, dict):
        return []
    out: list[tuple[str, JSONObject]] = []
    for name, value in refs.items():
        entries = value if isinstance(value, list) else [value]
        out.extend((name, e) for e in entries if isinstance(e, dict))
    return out


def schema_key(index: Index, checksum: str) -> tuple[str, ...] | None:
    """The key of a schema with this checksum (any version), or None."""
    found = sorted(key for kind, key in index.keys if kind == KIND_NAME and key[0] == checksum)
    return found[-1] if found else None


def _create(record: Record, data: JSONObject) -> Call:
    body: JSONObject = {
        "fields": data.get("fields", {}),
        "block_type_id": data["block_type_id"],
        "capabilities": data.get("capabilities", []),
        "version": data["version"],
    }
    return Call("POST", "/block_schemas/", body)


def _update(record: Record, data: JSONObject, dest: JSONObject) -> list[Call]:
    # Same key means same checksum means same fields: there is nothing to change.
    return []


KIND = Kind(
    name=KIND_NAME,
    listing=Listing("/block_schemas/filter"),
    server_fields=frozenset({"id", "created", "updated"}),
    key=_key,
    create=_create,
    update=_update,
    # key: (checksum, version); create sends block_type_id and version.
    shape=Shape(key=2, fields={"block_type_id": "str", "version": "str"}),
    refs=_refs,
    keep=_keep,
    # Each release registers its system schemas with its own version string, same checksum:
    # a schema the destination has by checksum is reused, never created again.
    match_key=lambda key: key[:1],
    ignored=frozenset({"version"}),
    delete=delete_by_id("/block_schemas/"),
)
