"""Work pools and their queues as setup requests, pure: each pool with every setting in one
create (`prefect work-pool create` knows only some worker types), block documents in its base
job template and result storage looked up by name on the target; each pool's default queue
set, never a second one added.
"""

from __future__ import annotations

import copy

from pfx.ids import find_ids
from pfx.jsontypes import JSON, JSONObject
from pfx.model import Record
from pfx.render.blocks import block_lookups
from pfx.render.model import Names, Omission
from pfx.render.requests import Lookup, Request, url


def pool_requests(records: list[Record], names: Names, omissions: list[Omission]) -> list[Request]:
    """Each pool's create, then its queues (the default one first)."""
    requests: list[Request] = []
    queues: dict[str, list[Record]] = {}
    for record in records:
        if record.kind == "work-queue":
            queues.setdefault(record.key[0], []).append(record)
    for record in records:
        if record.kind != "work-pool":
            continue
        requests.append(_pool(record, names, omissions))
        for queue in sorted(queues.get(record.key[0], []), key=_queue_order):
            requests.append(_queue(queue))
    return requests


def _pool(record: Record, names: Names, omissions: list[Omission]) -> Request:
    data = record.data
    name = record.key[0]
    body: JSONObject = {"name": name}
    for field in ("type", "description", "is_paused", "concurrency_limit"):
        if data.get(field) is not None:
            body[field] = copy.deepcopy(data[field])
    template = data.get("base_job_template")
    body["base_job_template"] = copy.deepcopy(template) if isinstance(template, dict) else {}
    refs = {ref.id.lower(): ref for ref in record.refs if ref.id and ref.kind == "block-document"}
    ids = block_lookups(body["base_job_template"], refs, ("base_job_template",))
    storage = data.get("storage_configuration")
    if isinstance(storage, dict) and any(v is not None for v in storage.values()):
        body["storage_configuration"] = copy.deepcopy(storage)
        block = storage.get("default_result_storage_block_id")
        if isinstance(block, str) and block.lower() in refs:
            at = ("storage_configuration", "default_result_storage_block_id")
            ids.append(Lookup(at, "block-document", refs[block.lower()].key))
    looked_up = set()
    for lookup in ids:
        looked_up.add(str(_value_at(body, lookup.at)).lower())
    left = [i for i in find_ids(body) if i not in looked_up]
    if left:
        what = ", ".join(dict.fromkeys(names.labels.get(i, i) for i in left))
        omissions.append(
            Omission(
                record.kind, record.key, "base_job_template", f"ids of no rendered block: {what}"
            )
        )
    exists = url("work_pools", name)
    return Request(record.label, "POST", "/work_pools/", body, exists, ids=ids)


def _value_at(body: JSONObject, at: tuple[str | int, ...]) -> JSON:
    node: JSON = body
    for step in at:
        if isinstance(node, dict) and isinstance(step, str):
            node = node.get(step)
        elif isinstance(node, list) and isinstance(step, int) and step < len(node):
            node = node[step]
        else:
            return None
    return node


def _queue_order(record: Record) -> tuple[int, int]:
    default = any(ref.path == "default_queue_id" for ref in record.refs)
    priority = record.data.get("priority")
    return (0 if default else 1, priority if isinstance(priority, int) else 0)


def _queue(record: Record) -> Request:
    data = record.data
    pool, name = record.key
    default = any(ref.path == "default_queue_id" for ref in record.refs)
    settings: JSONObject = {
        k: copy.deepcopy(data[k])
        for k in ("description", "is_paused", "concurrency_limit", "priority")
        if k in data
    }
    if default:
        # Every pool comes with its default queue (named `default`): set it, never add one.
        if name != "default":
            settings["name"] = name
        path = url("work_pools", pool, "queues", "default")
        return Request(record.label, "PATCH", path, settings)
    path, exists = url("work_pools", pool, "queues"), url("work_pools", pool, "queues", name)
    return Request(record.label, "POST", path, {"name": name, **settings}, exists)
