"""Work pools from captured 3.8.8 API JSON: key, kept data, block refs, calls, comparison."""

from __future__ import annotations

from pfx.ids import Index, replace_ids
from pfx.kinds import work_pool
from pfx.kinds.base import Destination
from pfx.model import Record
from tests.kinds.conftest import built, captured, portable_items

POOLS = captured("work-pool")
QUEUES = captured("work-queue")
DOCS = captured("block-document")
KIND = work_pool.KIND


def raw(side: str) -> dict[str, list[dict[str, object]]]:
    return {"block-document": DOCS[side], "work-pool": POOLS[side], "work-queue": QUEUES[side]}


def records(side: str = "a") -> dict[tuple[str, ...], Record]:
    return built(raw(side), KIND.name, "plaintext")


def item(name: str, side: str = "a") -> dict:
    return next(i for i in POOLS[side] if i["name"] == name)


def doc_id(name: str, side: str = "a") -> str:
    return str(next(i for i in DOCS[side] if i["name"] == name)["id"])


def test_key_is_name() -> None:
    """A work pool is keyed by its name."""
    assert set(records()) == {("proc-pool",), ("k8s-pool",), ("push-pool",), ("prio-pool",)}


def test_kept_drops_server_state() -> None:
    """Kept data has no id, timestamps, status or active slots."""
    data = records()[("proc-pool",)].data
    assert set(data) == {
        "name", "description", "type", "base_job_template", "is_paused", "concurrency_limit",
        "storage_configuration", "default_queue_id",
    }  # fmt: skip
    assert data["description"] == "Process pool" and data["concurrency_limit"] == 5


def test_refs_name_result_storage_and_template_blocks() -> None:
    """Refs: the result-storage block and every $ref block inside the base job template."""
    refs = records()[("proc-pool",)].refs
    assert {(r.kind, r.key, r.id, r.path) for r in refs} == {
        (
            "block-document",
            ("local-file-system", "results-store"),
            doc_id("results-store"),
            "storage_configuration.default_result_storage_block_id",
        ),
        (
            "block-document",
            ("secret", "db-password"),
            doc_id("db-password"),
            "base_job_template.variables.properties.db_secret.default",
        ),
    }
    assert records()[("k8s-pool",)].refs == []


def test_dangling_block_id_is_still_a_ref() -> None:
    """A block id the source does not know becomes a `<missing>` ref, not a silent loss."""
    refs = KIND.refs(item("proc-pool"), Index())
    assert {r.key[0] for r in refs} == {"<missing>"}


def test_create_body_remaps_block_ids() -> None:
    """Create POSTs WorkPoolCreate fields with every block id rewritten."""
    record = records()[("proc-pool",)]
    new_store, new_secret = (
        "99999999-0000-0000-0000-000000000001",
        "99999999-0000-0000-0000-000000000002",
    )
    data = replace_ids(
        record.data, {doc_id("results-store"): new_store, doc_id("db-password"): new_secret}
    )
    call = KIND.create(record, data)
    assert (call.method, call.path) == ("POST", "/work_pools/")
    body = call.body
    assert isinstance(body, dict)
    assert set(body) == {"name", "type", *work_pool.UPDATABLE}
    assert body["storage_configuration"]["default_result_storage_block_id"] == new_store
    default = body["base_job_template"]["variables"]["properties"]["db_secret"]["default"]
    assert default == {"$ref": {"block_document_id": new_secret}}


def test_update_patches_by_name() -> None:
    """Update PATCHes the updatable fields at /work_pools/{name}; the type cannot change."""
    record = records()[("k8s-pool",)]
    (call,) = KIND.update(record, record.data, item("k8s-pool", "b"))
    assert (call.method, call.path) == ("PATCH", "/work_pools/k8s-pool")
    assert call.body == {k: record.data[k] for k in work_pool.UPDATABLE}
    assert call.body["is_paused"] is True


def test_push_and_managed_pools_are_left_to_the_destination() -> None:
    """Push and managed pools are attempted anywhere, with a caveat where they cannot run."""
    push = records()[("push-pool",)]
    assert KIND.unsupported(push, Destination()) is None
    assert KIND.caveat(push, Destination()) is not None
    assert KIND.caveat(push, Destination(cloud=True)) is None
    managed = Record(kind="work-pool", key=("m",), data={"name": "m", "type": "prefect:managed"})
    assert KIND.unsupported(managed, Destination()) is None
    assert KIND.caveat(managed, Destination()) is not None
    k8s = records()[("k8s-pool",)]
    assert KIND.unsupported(k8s, Destination()) is None
    assert KIND.caveat(k8s, Destination()) is None


def test_two_servers_compare_equal() -> None:
    """The same pools captured on two servers are equal after portable()."""
    sides = {side: portable_items(raw(side), KIND.name) for side in "ab"}
    assert sides["a"] == sides["b"]
    # The default queue id became a token naming the queue, the same on both servers.
    assert sides["a"][("proc-pool",)]["default_queue_id"] == "<work-queue:proc-pool/default>"
