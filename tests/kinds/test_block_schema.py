"""Block schemas from captured 3.8.8 API JSON: key, kept data, refs, create call, comparison."""

from __future__ import annotations

from pfx.ids import Index
from pfx.kinds import block_schema
from pfx.model import Record
from tests.kinds.conftest import built, captured, portable_items

TYPES = captured("block-type")
SCHEMAS = captured("block-schema")
KIND = block_schema.KIND


def raw(side: str) -> dict[str, list[dict[str, object]]]:
    return {"block-type": TYPES[side], "block-schema": SCHEMAS[side]}


def records(side: str) -> list[Record]:
    return list(built(raw(side), KIND.name).values())


def by_slug(side: str, slug: str, version: str | None = None) -> Record:
    return next(
        r
        for r in records(side)
        if r.data["fields"]["block_type_slug"] == slug and (version is None or r.key[1] == version)
    )


def test_key_is_checksum_and_version() -> None:
    """One checksum can carry several versions, so the key is (checksum, version)."""
    keys = [r.key for r in records("a")]
    assert len(keys) == len(set(keys))
    checksums = [k[0] for k in keys]
    assert len(checksums) > len(set(checksums))  # snowflake schemas: same checksum, 2 versions
    assert by_slug("a", "secret").key[1] == "3.8.8"


def test_kept_drops_embedded_block_type() -> None:
    """Kept data names its block type by id only; capabilities are sorted."""
    data = by_slug("a", "local-file-system").data
    assert set(data) == {"checksum", "fields", "block_type_id", "capabilities", "version"}
    assert data["capabilities"] == sorted(data["capabilities"])


def test_refs_name_block_type_and_nested_schema() -> None:
    """Refs: the block type by id, and each nested schema (by checksum) and its block type."""
    conn = by_slug("a", "pfx-conn")
    creds = by_slug("a", "pfx-creds")
    assert conn.refs[0].kind == "block-type" and conn.refs[0].key == ("pfx-conn",)
    assert conn.refs[0].id == conn.data["block_type_id"]
    nested = [r for r in conn.refs if r.path == "fields.block_schema_references.creds"]
    assert {(r.kind, r.key, r.id, r.soft) for r in nested} == {
        ("block-type", ("pfx-creds",), None, False),
        ("block-schema", creds.key, None, False),
    }


def test_unknown_nested_schema_is_soft() -> None:
    """A nested schema missing from the source does not block: the server builds it."""
    item = next(i for i in SCHEMAS["a"] if i["block_type"]["slug"] == "pfx-conn")
    index = Index()
    index.add("block-type", ("pfx-conn",), item["block_type_id"])
    refs = KIND.refs(item, index)
    soft = [r for r in refs if r.kind == "block-schema"]
    assert len(soft) == 1 and soft[0].soft and soft[0].key[0].startswith("sha256:")


def test_create_body() -> None:
    """Create POSTs fields, the remapped block type id, capabilities and version."""
    record = by_slug("a", "pfx-conn")
    data = dict(record.data, block_type_id="11111111-1111-1111-1111-111111111111")
    call = KIND.create(record, data)
    assert (call.method, call.path) == ("POST", "/block_schemas/")
    assert call.body == {
        "fields": record.data["fields"],
        "block_type_id": "11111111-1111-1111-1111-111111111111",
        "capabilities": [],
        "version": "non-versioned",
    }


def test_update_does_nothing() -> None:
    """Same key means same checksum means same fields: nothing to update."""
    record = by_slug("a", "secret")
    assert KIND.update(record, record.data, {"id": "x"}) == []


def test_two_servers_compare_equal() -> None:
    """The same schemas captured on two servers are equal after portable()."""
    assert portable_items(raw("a"), KIND.name) == portable_items(raw("b"), KIND.name)
