"""Work queues from captured 3.8.8 API JSON: key, kept data, refs (pool, default-first
ordering), create as POST or as PATCH of the pool's default queue, comparison."""

from __future__ import annotations

from pfx.ids import replace_ids
from pfx.kinds import work_queue
from pfx.model import Record
from tests.kinds.conftest import built, captured, portable_items

POOLS = captured("work-pool")
QUEUES = captured("work-queue")
KIND = work_queue.KIND


def raw(side: str) -> dict[str, list[dict[str, object]]]:
    return {"work-pool": POOLS[side], "work-queue": QUEUES[side]}


def records(side: str = "a") -> dict[tuple[str, ...], Record]:
    return built(raw(side), KIND.name, "plaintext")


def pool_id(name: str, side: str = "a") -> str:
    return str(next(i for i in POOLS[side] if i["name"] == name)["id"])


def test_listing_returns_every_pools_queues_with_defaults() -> None:
    """/work_queues/filter lists the queues of all pools, each pool's default included."""
    keys = set(records())
    assert {k for k in keys if k[1] == "default"} == {(p["name"], "default") for p in POOLS["a"]}
    assert ("proc-pool", "urgent") in keys and ("k8s-pool", "gpu") in keys


def test_kept_drops_server_state() -> None:
    """Kept data has no id, timestamps, status, last_polled or active slots."""
    data = records()[("proc-pool", "urgent")].data
    assert set(data) == {
        "name", "description", "is_paused", "concurrency_limit", "priority", "work_pool_id",
        "work_pool_name", "filter",
    }  # fmt: skip
    assert (data["priority"], data["concurrency_limit"], data["description"]) == (1, 2, "first")


def test_refs_pool_and_default_queue_first() -> None:
    """A queue refs its pool by id; a non-default queue is ordered after the pool's default."""
    urgent = records()[("proc-pool", "urgent")]
    assert [(r.kind, r.key, r.id, r.soft) for r in urgent.refs] == [
        ("work-pool", ("proc-pool",), pool_id("proc-pool"), False),
        ("work-queue", ("proc-pool", "default"), None, True),
    ]
    default = records()[("proc-pool", "default")]
    assert [(r.kind, r.key, r.path) for r in default.refs] == [
        ("work-pool", ("proc-pool",), "work_pool_id"),
        ("work-pool", ("proc-pool",), "default_queue_id"),
    ]


def test_create_posts_to_the_pool() -> None:
    """A queue is created with its settings and priority under its pool's name."""
    record = records()[("proc-pool", "slow")]
    data = replace_ids(record.data, {pool_id("proc-pool"): "99999999-0000-0000-0000-000000000001"})
    [call] = KIND.create(record, data)
    assert (call.method, call.path) == ("POST", "/work_pools/proc-pool/queues")
    assert call.body == {
        "name": "slow",
        "description": "",
        "is_paused": True,
        "concurrency_limit": None,
        "priority": 5,
    }


def test_create_of_default_queue_patches_it() -> None:
    """The default queue exists with its new pool: create PATCHes it instead of a POST (409)."""
    record = records()[("proc-pool", "default")]
    call, read = KIND.create(record, record.data)
    assert (call.method, call.path) == ("PATCH", "/work_pools/proc-pool/queues/default")
    assert (read.method, read.path) == ("GET", "/work_pools/proc-pool/queues/default")
    assert call.body == {
        "name": "default",
        "description": "changed default",
        "is_paused": False,
        "concurrency_limit": 3,
        "priority": 2,
    }


def test_update_always_sends_is_paused() -> None:
    """WorkQueueUpdate defaults is_paused to false, so an update always states it."""
    record = records()[("proc-pool", "slow")]
    (call,) = KIND.update(record, record.data, {"id": "x"})
    assert (call.method, call.path) == ("PATCH", "/work_pools/proc-pool/queues/slow")
    assert call.body["is_paused"] is True


def test_two_servers_compare_equal() -> None:
    """The same queues captured on two servers are equal after portable(), priorities too."""
    sides = {side: portable_items(raw(side), KIND.name) for side in "ab"}
    assert sides["a"] == sides["b"]
    assert sides["a"][("prio-pool", "default")]["priority"] == 3
