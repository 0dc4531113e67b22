"""Block types, schemas and documents as setup requests, pure: each created once, nested
blocks first; ids the API wants (type, schema, nested documents) looked up by key on the
target server, secret values taken from PFX_SECRET__ variables, never written.
"""

from __future__ import annotations

import copy

from pfx.jsontypes import JSON, JSONObject
from pfx.model import Record, Ref
from pfx.render.model import Omission
from pfx.render.requests import At, Lookup, Request, SecretValue, url
from pfx.secrets import MASK, env_name

SECRET = "secret: never written; prefect-setup.sh reads it from the PFX_SECRET__ variable it names"
Records = dict[tuple[str, tuple[str, ...]], Record]


def block_requests(
    records: list[Record], by_key: Records, omissions: list[Omission], notes: list[str]
) -> list[Request]:
    """Requests for every block document (and the types and schemas it needs, when in
    `records`), in dependency order; `notes` gets a line per secret variable to set."""
    requests: list[Request] = []
    done: set[tuple[str, tuple[str, ...]]] = set()

    def visit(record: Record) -> None:
        ident = (record.kind, record.key)
        if ident in done:
            return
        done.add(ident)
        for ref in record.refs:
            target = by_key.get((ref.kind, ref.key))
            if target is not None and not ref.late and target.kind.startswith("block-"):
                visit(target)
        request = _request(record, by_key, omissions, notes)
        if request is not None:
            requests.append(request)

    for record in records:
        if record.kind == "block-document":
            visit(record)
    return requests


def _request(
    record: Record, by_key: Records, omissions: list[Omission], notes: list[str]
) -> Request | None:
    data = record.data
    if record.kind == "block-type":
        if data.get("is_protected"):
            return None  # a server's own type: every server has it
        body = {k: copy.deepcopy(v) for k, v in data.items() if k != "is_protected"}
        exists = url("block_types", "slug", record.key[0])
        return Request(record.label, "POST", "/block_types/", body, unless=exists)
    if record.kind == "block-schema":
        slug = _type_slug(record)
        body = {k: copy.deepcopy(v) for k, v in data.items() if k != "checksum"}
        body["block_type_id"] = f"<block-type {slug}>"
        exists = url("block_schemas", "checksum", str(data.get("checksum")))
        lookup = Lookup(("block_type_id",), "block-type", (slug,))
        return Request(record.label, "POST", "/block_schemas/", body, exists, ids=[lookup])
    if data.get("is_anonymous"):
        omissions.append(
            Omission(record.kind, record.key, "*", "anonymous: made with what references it")
        )
        return None
    return _document(record, omissions, notes)


def _type_slug(record: Record) -> str:
    for ref in record.refs:
        if ref.kind == "block-type":
            return ref.key[0]
    return str(record.data.get("block_type_slug"))


def _document(record: Record, omissions: list[Omission], notes: list[str]) -> Request | None:
    schema = next((r.key[0] for r in record.refs if r.kind == "block-schema"), None)
    if schema is None:
        omissions.append(
            Omission(record.kind, record.key, "*", "names no block schema: not rendered")
        )
        return None
    inner = record.data.get("data")
    body: JSONObject = {
        "name": record.key[1],
        "block_type_id": f"<block-type {record.key[0]}>",
        "block_schema_id": f"<block-schema {schema}>",
        "data": copy.deepcopy(inner) if isinstance(inner, dict) else {},
    }
    ids = [
        Lookup(("block_type_id",), "block-type", (record.key[0],)),
        Lookup(("block_schema_id",), "block-schema", (schema,)),
    ]
    # Nested blocks are references by id: looked up by name, so the target's id is used.
    refs = {ref.id.lower(): ref for ref in record.refs if ref.id and ref.kind == "block-document"}
    ids += block_lookups(body["data"], refs, ("data",))
    secrets: list[SecretValue] = []
    for path in record.secrets.fields if record.secrets else []:
        at = secret_at(body, path)
        if at is None:
            omissions.append(Omission(record.kind, record.key, path, "no such field: not set"))
            continue
        body = _masked(body, at)
        env = env_name(record, path)
        secrets.append(SecretValue(at, env))
        notes.append(f"{record.label}: secret {path.removeprefix('data.')} from ${env}")
        omissions.append(Omission(record.kind, record.key, path, SECRET))
    exists = url("block_types", "slug", record.key[0], "block_documents", "name", record.key[1])
    return Request(
        record.label, "POST", "/block_documents/", body, exists, ids=ids, secrets=secrets
    )


def block_lookups(value: JSON, refs: dict[str, Ref], at: At = ()) -> list[Lookup]:
    """A lookup for every `{"$ref": {"block_document_id": ID}}` in `value` whose ID is the id
    of one of the record's block-document refs (by lower-case id): the path of the ID."""
    out: list[Lookup] = []
    if isinstance(value, dict):
        ref = value.get("$ref")
        target = ref.get("block_document_id") if isinstance(ref, dict) else None
        if isinstance(target, str) and target.lower() in refs:
            key = refs[target.lower()].key
            return [Lookup((*at, "$ref", "block_document_id"), "block-document", key)]
        for k, v in value.items():
            out += block_lookups(v, refs, (*at, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += block_lookups(v, refs, (*at, i))
    return out


def secret_at(body: JSONObject, path: str) -> At | None:
    """The body path of a secret slot's field (`data.password` -> ("data", "password")), or
    None when the body has no value there."""
    at: At = tuple(path.split("."))
    node: JSON = body
    for step in at:
        if not isinstance(node, dict) or step not in node:
            return None
        node = node[step]
    return at


def _masked(body: JSONObject, at: At) -> JSONObject:
    # The body keeps the mask, never a value: a plaintext bundle's value is not written.
    node: JSON = body
    for step in at[:-1]:
        assert isinstance(node, dict) and isinstance(step, str)
        node = node[step]
    assert isinstance(node, dict) and isinstance(at[-1], str)
    node[at[-1]] = MASK
    return body
