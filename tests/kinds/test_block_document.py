"""Block documents from captured 3.8.8 API JSON: keys (anonymous too), nested references kept
as references, secret paths, create/update calls, and comparison with masked secrets."""

from __future__ import annotations

import json

from pfx.comparison import differing
from pfx.ids import replace_ids
from pfx.kinds import block_document
from pfx.model import Record
from pfx.secrets import MASK
from tests.kinds.conftest import built, captured, portable_items

TYPES = captured("block-type")
SCHEMAS = captured("block-schema")
DOCS = captured("block-document")
KIND = block_document.KIND
NEW = "99999999-9999-9999-9999-"


def raw(side: str, docs: str | None = None) -> dict[str, list[dict[str, object]]]:
    server = side[0]
    return {
        "block-type": TYPES[server],
        "block-schema": SCHEMAS[server],
        "block-document": DOCS[docs or side],
    }


def records(side: str = "a", mode: str = "plaintext", docs: str | None = None) -> dict:
    return built(raw(side, docs), KIND.name, mode)


def named(records_: dict, name: str) -> Record:
    return next(r for k, r in records_.items() if k[1] == name)


def item(name: str, side: str = "a") -> dict:
    return next(i for i in DOCS[side] if i["name"] == name)


def test_listing_includes_anonymous_and_secrets() -> None:
    """The listing lifts the filter's anonymous default and asks for secrets when exporting."""
    assert KIND.listing.body["block_documents"] == {"is_anonymous": None}
    assert KIND.listing.secret_body == {"include_secrets": True}
    assert any(i["is_anonymous"] for i in DOCS["a"])


def test_keys_are_type_slug_and_name() -> None:
    """Keys are (block type slug, name); anonymous documents keep their server-made name."""
    keys = set(records())
    assert ("secret", "db-password") in keys
    assert ("pfx-conn", "conn-named-ref") in keys
    anon = [k for k in keys if k[1].startswith("anonymous-")]
    assert {k[0] for k in anon} == {"local-file-system", "pfx-creds"}


def test_kept_drops_embedded_copies() -> None:
    """Kept data holds the create fields plus the type slug, not the embedded type/schema."""
    data = named(records(), "db-password").data
    assert set(data) == {
        "name", "data", "block_schema_id", "block_type_id", "is_anonymous", "block_type_slug",
    }  # fmt: skip
    assert data["block_type_slug"] == "secret"
    assert data["block_schema_id"] == item("db-password")["block_schema_id"]


def test_nested_block_stays_a_reference() -> None:
    """A nested block the server inlines is kept as a $ref to its own record, with a Ref."""
    record = named(records(), "conn-named-ref")
    child = item("alice-creds")
    assert record.data["data"]["creds"] == {"$ref": {"block_document_id": child["id"]}}
    assert record.data["data"]["host"] == "db.example.com"
    nested = [r for r in record.refs if r.path == "data.creds"]
    assert [(r.kind, r.key, r.id) for r in nested] == [
        ("block-document", ("pfx-creds", "alice-creds"), child["id"])
    ]


def test_anonymous_nested_block_is_a_record_and_a_reference() -> None:
    """A parent may reference an anonymous document; both are records, linked by a Ref."""
    recs = records()
    parent = named(recs, "conn-anon-ref")
    (ref,) = [r for r in parent.refs if r.path == "data.creds"]
    assert ref.key[1].startswith("anonymous-") and ref.key in recs
    assert recs[ref.key].data["is_anonymous"] is True


def test_inlined_nested_data_stays_data() -> None:
    """A nested block saved inline (not as a document) is plain data, no reference."""
    record = named(records(), "conn-inline")
    assert record.data["data"]["creds"]["username"] == "bob"
    assert not [r for r in record.refs if r.kind == "block-document"]


def test_refs_name_type_and_schema_with_ids() -> None:
    """Refs carry the block type and schema with their source ids."""
    record = named(records(), "db-password")
    src = item("db-password")
    kinds = {(r.kind, r.id, r.path) for r in record.refs}
    assert kinds == {
        ("block-type", src["block_type_id"], "block_type_id"),
        ("block-schema", src["block_schema_id"], "block_schema_id"),
    }


def test_secret_paths_exclude_referenced_blocks() -> None:
    """Secret paths come from the schema; those through a nested reference are left out."""
    assert KIND.secret_paths is not None
    assert KIND.secret_paths(item("db-password")) == ["data.value"]
    assert KIND.secret_paths(item("alice-creds")) == ["data.extra.*", "data.password"]
    assert KIND.secret_paths(item("conn-named-ref")) == []
    assert KIND.secret_paths(item("conn-inline")) == ["data.creds.extra.*", "data.creds.password"]


def test_withheld_secrets_are_masked_and_listed() -> None:
    """With secrets withheld, every secret value is masked and its path listed."""
    recs = records(mode="withheld")
    creds = named(recs, "alice-creds")
    assert creds.secrets is not None
    assert creds.secrets.fields == ["data.extra.api_key", "data.extra.region", "data.password"]
    assert creds.data["data"]["password"] == MASK
    assert creds.data["data"]["extra"] == {"api_key": MASK, "region": MASK}
    hook = named(recs, "my-hook")
    assert hook.secrets is not None
    assert hook.secrets.fields == ["data.headers.X-Token", "data.url"]
    json_secret = named(recs, "json-secret")
    assert json_secret.data["data"]["value"] == MASK


def test_server_masked_null_wildcard_is_a_secret() -> None:
    """Read without secrets, a null wildcard field comes back masked: it is a secret path."""
    masked = next(i for i in DOCS["a_masked"] if i["name"] == "conn-inline")
    assert masked["data"]["creds"]["extra"] == MASK
    assert KIND.secret_paths is not None
    assert "data.creds.extra" in KIND.secret_paths(masked)


def test_create_body_remaps_nested_reference() -> None:
    """Create POSTs BlockDocumentCreate fields, the nested $ref rewritten to the new id."""
    record = named(records(), "conn-named-ref")
    src = item("conn-named-ref")
    child = item("alice-creds")
    idmap = {
        src["block_schema_id"]: NEW + "000000000001",
        src["block_type_id"]: NEW + "000000000002",
        child["id"]: NEW + "000000000003",
    }
    data = replace_ids(record.data, idmap)
    call = KIND.create(record, data)
    assert (call.method, call.path) == ("POST", "/block_documents/")
    assert call.body == {
        "name": "conn-named-ref",
        "data": {
            "host": "db.example.com",
            "port": 5432,
            "options": {"ssl": True},
            "creds": {"$ref": {"block_document_id": NEW + "000000000003"}},
        },
        "block_schema_id": NEW + "000000000001",
        "block_type_id": NEW + "000000000002",
        "is_anonymous": False,
    }


def test_create_keeps_anonymous_name() -> None:
    """An anonymous document is created under its source name, so a re-run finds it."""
    record = next(
        r for k, r in records().items() if k[0] == "local-file-system" and k[1] != "results-store"
    )
    call = KIND.create(record, record.data)
    assert call.body["is_anonymous"] is True
    assert call.body["name"] == record.key[1]


def test_update_replaces_data() -> None:
    """Update PATCHes data and schema with merge_existing_data false."""
    record = named(records(), "alice-creds")
    dest = item("alice-creds", "b")
    (call,) = KIND.update(record, record.data, dest)
    assert (call.method, call.path) == ("PATCH", f"/block_documents/{dest['id']}")
    assert call.body == {
        "data": record.data["data"],
        "block_schema_id": record.data["block_schema_id"],
        "merge_existing_data": False,
    }


def portable_side(side: str, docs: str | None = None) -> dict:
    return portable_items(raw(side, docs), KIND.name)


def test_two_servers_compare_equal() -> None:
    """Named documents captured on two servers compare as unchanged.

    Anonymous documents get a random name on each server, so the independently seeded
    servers hold them (and parents referencing them) under different keys; an import
    keeps the source name, which is what makes a re-import find them.
    """
    a, b = portable_side("a"), portable_side("b")
    shared = [k for k in a if k in b]
    assert len(shared) >= 7
    for key in shared:
        if "anonymous-" in json.dumps(a[key]):
            continue
        assert a[key] == b[key], key
        assert differing(KIND, a[key], b[key]) == [], key


def test_masked_secrets_compare_equal() -> None:
    """A destination read without secrets (server-masked) equals the bundle's clear data."""
    clear, masked = portable_side("a"), portable_side("a", "a_masked")
    assert clear[("pfx-creds", "alice-creds")] != masked[("pfx-creds", "alice-creds")]
    for key in clear:
        assert differing(KIND, clear[key], masked[key]) == [], key
    changed = dict(clear[("secret", "db-password")], name="other")
    assert differing(KIND, changed, masked[("secret", "db-password")]) == ["name"]


def test_documents_compare_masked_by_the_cross_release_rules() -> None:
    """MASK on either side matches any value that is there; beyond that a document compares
    as every record does (pfx.sameness): a key the destination holds unset is no difference,
    one instant is one instant, and True is not 1."""
    data = {"name": "db", "data": {"a": MASK, "b": 1}}
    assert differing(KIND, data, {"name": "db", "data": {"a": {"x": 2}, "b": 1}}) == []
    assert differing(KIND, data, {"name": "db", "data": {"a": 3, "b": 2}}) == ["data"]
    assert differing(KIND, data, {"name": "db", "data": {"b": 1}}) == ["data"]
    url = {"name": "hook", "data": {"url": "x"}}
    assert differing(KIND, url, {"name": "hook", "data": {"url": "x", "timeout": None}}) == []
    assert differing(KIND, url, {"name": "hook", "data": {"url": "x", "timeout": 3}}) == ["data"]
    when = {"name": "t", "data": {"at": "2024-01-15T06:30:00+00:00", "on": True}}
    assert (
        differing(KIND, when, {"name": "t", "data": {"at": "2024-01-15T06:30:00Z", "on": True}})
        == []
    )
    assert differing(
        KIND, when, {"name": "t", "data": {"at": "2024-01-15T06:30:00Z", "on": 1}}
    ) == ["data"]
