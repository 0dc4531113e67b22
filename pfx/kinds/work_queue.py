"""Work queues: keyed by (pool name, queue name); a pool's `default` queue comes with the pool.

Creating a queue with a priority shifts the pool's other queues out of its way, so the
default queue is set first and the others then land on free priorities (see _refs).
"""

from __future__ import annotations

from urllib.parse import quote

from pfx.ids import Index
from pfx.jsontypes import JSONObject
from pfx.kinds.base import Call, Kind, Listing, Shape, delete_by_id
from pfx.model import Record, Ref

KIND_NAME = "work-queue"
# The name the server gives the queue it creates with every pool.
DEFAULT = "default"
SETTINGS = ("description", "is_paused", "concurrency_limit", "priority")
DEFAULT_MARK = "default_queue_id"
# The settings the server gives the default queue it makes with a pool (models/workers.py).
PRISTINE: JSONObject = {
    "description": "The work pool's default queue.",
    "is_paused": False,
    "concurrency_limit": None,
    "priority": 1,
}


def _key(data: JSONObject, index: Index) -> tuple[str, ...]:
    pool = data.get("work_pool_name")
    if not isinstance(pool, str):
        found = index.lookup(data.get("work_pool_id"))
        if not found:
            raise ValueError(f"work queue {data.get('name')!r} names no work pool")
        pool = found[1][0]
    return (pool, str(data["name"]))


def _refs(data: JSONObject, index: Index) -> list[Ref]:
    pool_name, _ = _key(data, index)
    pool_id = data.get("work_pool_id")
    refs = [Ref(kind="work-pool", key=(pool_name,), path="work_pool_name")]
    if isinstance(pool_id, str):
        kind, key = index.lookup(pool_id) or ("work-pool", ("<missing>", pool_id))
        refs = [Ref(kind=kind, key=key, id=pool_id, path="work_pool_id")]
    pool = index.item(pool_id) or {}
    default_id = pool.get("default_queue_id")
    if default_id is not None and default_id == data.get("id"):
        # The pool says this queue is its default (it may have been renamed): the marker ref
        # makes create() set the destination pool's default queue instead of adding one.
        refs.append(Ref(kind="work-pool", key=(pool_name,), path=DEFAULT_MARK))
    else:
        # Priorities are unique per pool and a create at a taken priority pushes the holder
        # (and its neighbours) down. The pool's default queue starts at 1 on the destination:
        # once it is moved to its own priority, every other queue's priority is free.
        found = index.lookup(default_id)
        default_key = found[1] if found else (pool_name, DEFAULT)
        refs.append(Ref(kind=KIND_NAME, key=default_key, path="priority", soft=True))
    return refs


def is_default(record: Record) -> bool:
    """Whether the record is its pool's default queue (marked at export; older: by name)."""
    return any(r.path == DEFAULT_MARK for r in record.refs) or record.key[1] == DEFAULT


def _settings(data: JSONObject) -> JSONObject:
    # WorkQueueUpdate defaults is_paused to False: always send it, or a PATCH unpauses.
    body: JSONObject = {k: data.get(k) for k in SETTINGS}
    body["is_paused"] = bool(data.get("is_paused"))
    if data.get("filter") is not None:
        body["filter"] = data["filter"]
    return body


def _queue_path(record: Record) -> str:
    pool, name = record.key[0], record.key[1]
    return f"/work_pools/{quote(pool, safe='')}/queues/{quote(name, safe='')}"


def _create(record: Record, data: JSONObject) -> list[Call]:
    if is_default(record):
        # The pool's creation made this queue, named `default`: set it (and its name), do not
        # POST a second one. The PATCH answers 204 without a body; the GET gives the id.
        pool = quote(record.key[0], safe="")
        body = {"name": data["name"], **_settings(data)}
        return [
            Call("PATCH", f"/work_pools/{pool}/queues/{DEFAULT}", body),
            Call("GET", _queue_path(record)),
        ]
    pool = quote(record.key[0], safe="")
    return [Call("POST", f"/work_pools/{pool}/queues", {"name": data["name"], **_settings(data)})]


def _update(record: Record, data: JSONObject, dest: JSONObject) -> list[Call]:
    return [Call("PATCH", _queue_path(record), _settings(data))]


def _early(data: JSONObject) -> JSONObject:
    """A default queue as its pool's creation leaves it, before import configures it: an
    import stopped between the two finishes it on the next run, whatever the policy."""
    if data.get("name") != DEFAULT:
        return data
    return data | PRISTINE


KIND = Kind(
    name=KIND_NAME,
    # Per pool: the global /work_queues/filter sorts by name alone, which repeats across pools,
    # so its offset pages are not stable past 200 queues; a pool's queues sort by priority,
    # which is unique within the pool. Each pool's default queue is included.
    listing=Listing("/work_pools/{name}/queues/filter", per="work-pool"),
    # status follows polling, last_polled is a worker's heartbeat, active_slots running flows.
    server_fields=frozenset({"id", "created", "updated", "status", "last_polled", "active_slots"}),
    key=_key,
    create=_create,
    update=_update,
    # key: (pool, name), both in the queue's URL; create sends the name.
    shape=Shape(key=2, fields={"name": "str", "concurrency_limit": "int?", "priority": "int?"}),
    refs=_refs,
    early=_early,
    # A pool's default queue goes only with its pool (the server refuses to delete it).
    delete=delete_by_id("/work_queues/"),
)
