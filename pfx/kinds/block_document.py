"""Block documents: keyed by (block type slug, name), anonymous ones included.

Nested blocks stay references: the server inlines a referenced document's data into `data`
and names it in `block_document_references`; the bundle keeps `{"$ref": {"block_document_id"}}`.
Documents compare by the cross-release rules of pfx.sameness in its masked mode (a kind with
secret paths): a withheld or masked secret value cannot be compared and counts as the same.
"""

from __future__ import annotations

from pfx.ids import Index
from pfx.jsontypes import JSON, JSONObject
from pfx.kinds.base import Call, Kind, Listing, Shape, delete_by_id
from pfx.model import Record, Ref

KIND_NAME = "block-document"

# Body fields of BlockDocumentCreate; everything else in the server JSON is derived.
CREATE_FIELDS = ("name", "data", "block_schema_id", "block_type_id", "is_anonymous")


def _key(data: JSONObject, index: Index) -> tuple[str, ...]:
    return (block_type_slug(data, index), str(data["name"]))


def block_type_slug(data: JSONObject, index: Index) -> str:
    """The slug of the document's block type: from the index, else the embedded copy."""
    found = index.lookup(data.get("block_type_id"))
    if found and found[0] == "block-type":
        return found[1][0]
    embedded = data.get("block_type")
    if isinstance(embedded, dict) and isinstance(embedded.get("slug"), str):
        return str(embedded["slug"])
    raise ValueError(f"block document {data.get('name')!r} names no block type")


def references(data: JSONObject) -> dict[str, str]:
    """Field name -> id of the block document nested (by reference) under that field."""
    out: dict[str, str] = {}
    refs = data.get("block_document_references")
    if not isinstance(refs, dict):
        return out
    for name, entry in refs.items():
        doc = entry.get("block_document") if isinstance(entry, dict) else None
        if isinstance(doc, dict) and isinstance(doc.get("id"), str):
            out[name] = str(doc["id"])
    return out


def _keep(data: JSONObject) -> JSONObject:
    # The server answers with each nested document's data inlined (secrets included when
    # asked); keep the reference in the form a create sends instead, so the nested
    # document stays one record and its id is rewritten at import.
    body = data.get("data")
    inner: JSONObject = dict(body) if isinstance(body, dict) else {}
    for name, ref_id in references(data).items():
        inner[name] = {"$ref": {"block_document_id": ref_id}}
    embedded = data.get("block_type")
    kept: JSONObject = {k: data.get(k) for k in CREATE_FIELDS}
    kept["data"] = inner
    # A readable name for the type; the id is what import rewrites.
    if isinstance(embedded, dict) and "slug" in embedded:
        kept["block_type_slug"] = embedded["slug"]
    return kept


def _refs(data: JSONObject, index: Index) -> list[Ref]:
    refs: list[Ref] = []
    for field, default_kind in (
        ("block_type_id", "block-type"),
        ("block_schema_id", "block-schema"),
    ):
        value = data.get(field)
        if isinstance(value, str):
            refs.append(_ref(index, value, default_kind, field))
    for name, ref_id in sorted(references(data).items()):
        refs.append(_ref(index, ref_id, KIND_NAME, f"data.{name}"))
    return refs


def _ref(index: Index, id_: str, default_kind: str, path: str) -> Ref:
    kind, key = index.lookup(id_) or (default_kind, ("<missing>", id_))
    return Ref(kind=kind, key=key, id=id_, path=path)


def _secret_paths(data: JSONObject) -> list[str]:
    # Paths into the record's data, like `data.password` or `data.extra.*`. Secret fields
    # of a nested (referenced) block belong to that block's own record, so paths that go
    # through a reference field are left out.
    schema = data.get("block_schema")
    fields = schema.get("fields") if isinstance(schema, dict) else None
    secret = fields.get("secret_fields") if isinstance(fields, dict) else None
    if not isinstance(secret, list):
        return []
    nested = set(references(data))
    values = data.get("data")
    paths = {_concrete(p, values) for p in secret if isinstance(p, str) and p}
    # The schema's paths are relative to the document's `data`; the record's are not.
    return sorted(f"data.{p}" for p in paths if p.split(".", 1)[0] not in nested)


def _concrete(path: str, values: JSON) -> str:
    """`a.*` stays a wildcard over a dict; over anything else it becomes `a`.

    Read without secrets, the server masks a wildcard secret field that is not a dict (a
    null one too) as one string; that string must be treated as a secret, not as data.
    """
    prefix, star, _ = path.partition(".*")
    if not star:
        return path
    node = values
    for part in prefix.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return path if node is None or isinstance(node, dict) else prefix


def _create(record: Record, data: JSONObject) -> Call:
    return Call("POST", "/block_documents/", {k: data.get(k) for k in CREATE_FIELDS})


def _update(record: Record, data: JSONObject, dest: JSONObject) -> list[Call]:
    # merge_existing_data=False replaces the data (and the nested references) wholesale;
    # the block type of a document cannot change, its schema can (same type only).
    body: JSONObject = {
        "data": data.get("data"),
        "block_schema_id": data.get("block_schema_id"),
        "merge_existing_data": False,
    }
    return [Call("PATCH", f"/block_documents/{dest['id']}", body)]


KIND = Kind(
    name=KIND_NAME,
    # The filter's default hides anonymous documents; `is_anonymous: null` lifts it.
    # Sorting by (type, name) gives stable pages: names repeat across block types.
    listing=Listing(
        "/block_documents/filter",
        {"block_documents": {"is_anonymous": None}, "sort": "BLOCK_TYPE_AND_NAME_ASC"},
        secret_body={"include_secrets": True},
        count_path="/block_documents/count",
    ),
    server_fields=frozenset({"id", "created", "updated"}),
    key=_key,
    create=_create,
    update=_update,
    # key: (type slug, name).
    shape=Shape(key=2, fields={"name": "str", "data": "object"}),
    refs=_refs,
    keep=_keep,
    secret_paths=_secret_paths,
    delete=delete_by_id("/block_documents/"),
)
