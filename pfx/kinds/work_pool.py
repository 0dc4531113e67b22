"""Work pools: keyed by name. Creating one also creates its `default` queue (see work_queue.py).

Block references: the result-storage block id and `{"$ref": {"block_document_id"}}` values
(variable defaults) inside the base job template.
"""

from __future__ import annotations

from urllib.parse import quote

from pfx.ids import Index
from pfx.jsontypes import JSON, JSONObject
from pfx.kinds.base import Call, Destination, Kind, Listing, Shape
from pfx.model import Record, Ref

# What WorkPoolCreate accepts (besides name and type, fixed at creation: WorkPoolUpdate).
UPDATABLE = (
    "description",
    "is_paused",
    "base_job_template",
    "concurrency_limit",
    "storage_configuration",
)
MANAGED = "prefect:managed"
PUSH_SUFFIX = ":push"


def _key(data: JSONObject, _index: Index) -> tuple[str, ...]:
    return (str(data["name"]),)


def _refs(data: JSONObject, index: Index) -> list[Ref]:
    refs: list[Ref] = []
    storage = data.get("storage_configuration")
    if isinstance(storage, dict):
        block_id = storage.get("default_result_storage_block_id")
        if isinstance(block_id, str):
            path = "storage_configuration.default_result_storage_block_id"
            refs.append(_block_ref(index, block_id, path))
    for path, block_id in block_refs(data.get("base_job_template"), "base_job_template"):
        refs.append(_block_ref(index, block_id, path))
    return refs


def block_refs(value: JSON, path: str) -> list[tuple[str, str]]:
    """(dotted path, block document id) of every `{"$ref": {"block_document_id": id}}`."""
    out: list[tuple[str, str]] = []
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, dict) and isinstance(ref.get("block_document_id"), str):
            out.append((path, str(ref["block_document_id"])))
        for k, v in value.items():
            out.extend(block_refs(v, f"{path}.{k}"))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(block_refs(v, f"{path}.{i}"))
    return out


def _block_ref(index: Index, block_id: str, path: str) -> Ref:
    kind, key = index.lookup(block_id) or ("block-document", ("<missing>", block_id))
    return Ref(kind=kind, key=key, id=block_id, path=path)


def _create(record: Record, data: JSONObject) -> Call:
    body: JSONObject = {"name": data["name"], "type": data["type"]}
    body |= {k: data[k] for k in UPDATABLE if k in data}
    return Call("POST", "/work_pools/", body)


def _update(record: Record, data: JSONObject, dest: JSONObject) -> list[Call]:
    # The type cannot change after creation (WorkPoolUpdate has no `type`).
    body: JSONObject = {k: data.get(k) for k in UPDATABLE if k in data}
    return [Call("PATCH", f"/work_pools/{_path_name(data)}", body)]


def _path_name(data: JSONObject) -> str:
    return quote(str(data["name"]), safe="")


def _delete(item: JSONObject) -> list[Call]:
    # The API deletes a pool by name only; the server deletes its queues with it.
    return [Call("DELETE", f"/work_pools/{_path_name(item)}")]


def _unsupported(record: Record, destination: Destination) -> str | None:
    # Push and managed pools are not refused here: the destination decides (every
    # self-hosted release 3.4-3.8 accepts push pools), and its refusal is the reason.
    name = str(record.data.get("name", ""))
    if name.lower().startswith("prefect"):
        return "work pool names beginning with 'Prefect' are reserved by the server"
    return None


def _caveat(record: Record, destination: Destination) -> str | None:
    pool_type = str(record.data.get("type", ""))
    if destination.cloud:
        return None
    if pool_type.endswith(PUSH_SUFFIX) or pool_type == MANAGED:
        return (
            f"a {pool_type} pool runs flows from Prefect Cloud's own infrastructure; this "
            "server has none, so its deployments' runs will not start here"
        )
    return None


KIND = Kind(
    name="work-pool",
    listing=Listing("/work_pools/filter", {}, count_path="/work_pools/count"),
    # status follows workers' heartbeats, active_slots running flows: both the server's.
    server_fields=frozenset({"id", "created", "updated", "status", "active_slots"}),
    key=_key,
    create=_create,
    update=_update,
    # create sends name and type; URLs name the pool.
    shape=Shape(key=1, fields={"name": "str", "type": "str", "concurrency_limit": "int?"}),
    refs=_refs,
    unsupported=_unsupported,
    caveat=_caveat,
    # The default queue's id names a queue record (a token after portable()); kept so the
    # bundle says which queue is the default, not compared since queues are keyed by name.
    ignored=frozenset({"default_queue_id"}),
    immutable=frozenset({"type"}),
    delete=_delete,
)
