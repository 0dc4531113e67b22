"""Global concurrency limits from captured 3.8.8 API JSON: ownership, key, kept data, calls."""

from __future__ import annotations

from pfx.kinds import concurrency_limit
from pfx.model import Record
from tests.kinds.conftest import built, captured, portable_items

FIXTURE = captured("global-concurrency-limit")
KIND = concurrency_limit.KIND


def records(side: str) -> dict[tuple[str, ...], Record]:
    return built({KIND.name: FIXTURE[side]}, KIND.name)


def test_only_named_limits_are_own() -> None:
    """`deployment:<id>` and `tag:<tag>` limits are left to their deployment and tag records."""
    assert set(records("a")) == {("db-pool",), ("paused-limit",)}
    names = {str(item["name"]) for item in FIXTURE["a"]}
    assert any(n.startswith("deployment:") for n in names)
    assert any(n.startswith("tag:") for n in names)


def test_kept_holds_settings_without_runtime_state() -> None:
    """Kept data is name, limit, active and decay; slots in use and ids are dropped."""
    data = records("a")
    assert data[("db-pool",)].data == {
        "name": "db-pool",
        "limit": 5,
        "active": True,
        "slot_decay_per_second": 0.5,
    }
    assert data[("paused-limit",)].data["active"] is False


def test_refs_are_empty() -> None:
    """A global limit depends on nothing."""
    assert all(r.refs == [] for r in records("a").values())


def test_create_posts_v2_limit_with_every_setting() -> None:
    """Create POSTs ConcurrencyLimitV2Create with active and slot decay, which v1 cannot carry."""
    record = records("a")[("paused-limit",)]
    call = KIND.create(record, record.data)
    assert (call.method, call.path) == ("POST", "/v2/concurrency_limits/")
    assert call.body == {
        "name": "paused-limit",
        "limit": 2,
        "active": False,
        "slot_decay_per_second": 0.0,
    }


def test_update_patches_settings_by_destination_id() -> None:
    """Update PATCHes the destination limit by its id with the record's settings."""
    record = records("a")[("db-pool",)]
    dest = next(i for i in FIXTURE["b"] if i["name"] == "db-pool")
    (call,) = KIND.update(record, record.data, dest)
    assert (call.method, call.path) == ("PATCH", f"/v2/concurrency_limits/{dest['id']}")
    assert call.body == {"limit": 5, "active": True, "slot_decay_per_second": 0.5}


def test_same_limits_on_two_servers_compare_equal() -> None:
    """The same limits captured from two servers have equal portable kept data."""
    a, b = (portable_items({KIND.name: FIXTURE[side]}, KIND.name) for side in "ab")
    assert a == b
