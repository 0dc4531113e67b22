"""Tag concurrency limits from captured 3.8.8 API JSON: read as v2 `tag:` limits, written so."""

from __future__ import annotations

from pfx.ids import Index
from pfx.keying import build_records
from pfx.kinds import concurrency_limit, tag_limit
from pfx.kinds.base import Destination
from pfx.model import Record
from pfx.secrets import Sealer
from tests.kinds.conftest import built, captured, portable_items

FIXTURE = captured("tag-concurrency-limit")
KIND = tag_limit.KIND


def records(side: str) -> dict[tuple[str, ...], Record]:
    # Both kinds read the same v2 listing; build them together, as export does.
    raw = {KIND.name: FIXTURE[side], concurrency_limit.KIND.name: FIXTURE[side]}
    return built(raw, KIND.name)


def test_key_is_tag_and_no_limit_is_counted_twice() -> None:
    """Each `tag:<tag>` v2 limit is one tag record, and no global-limit record shares its id."""
    raw = {KIND.name: FIXTURE["a"], concurrency_limit.KIND.name: FIXTURE["a"]}
    records, _ = build_records(raw, Sealer("withheld"))
    assert {r.key for r in records if r.kind == KIND.name} == {("etl",), ("gpu",)}
    ids = [r.id for r in records]
    assert len(ids) == len(set(ids))


def test_v2_listing_covers_the_v1_listing() -> None:
    """Every tag limit the v1 endpoint reports is a `tag:` v2 limit with the same id."""
    v2 = {i["id"]: i for i in FIXTURE["a"]}
    for item in FIXTURE["v1_filter_a"]:
        assert v2[item["id"]]["name"] == f"tag:{item['tag']}"
        assert v2[item["id"]]["limit"] == item["concurrency_limit"]


def test_kept_is_v1_shape_plus_active_and_decay() -> None:
    """Kept data is tag and concurrency_limit, plus the active flag and decay a tag limit obeys."""
    assert records("a")[("gpu",)].data == {
        "tag": "gpu",
        "concurrency_limit": 1,
        "active": False,
        "slot_decay_per_second": 1.5,
    }


def test_v1_shaped_item_keeps_alike() -> None:
    """An item from the v1 endpoint keys and keeps like its v2 twin (defaults for v2 settings)."""
    item = next(i for i in FIXTURE["v1_filter_a"] if i["tag"] == "etl")
    assert KIND.key(item, Index()) == ("etl",)
    assert KIND.kept(item) == records("a")[("etl",)].data


def test_create_posts_v2_tag_limit() -> None:
    """Create POSTs a v2 limit named `tag:<tag>` (409 on a duplicate, unlike the v1 upsert)."""
    record = records("a")[("gpu",)]
    call = KIND.create(record, record.data)
    assert (call.method, call.path) == ("POST", "/v2/concurrency_limits/")
    assert call.body == {
        "name": "tag:gpu",
        "limit": 1,
        "active": False,
        "slot_decay_per_second": 1.5,
    }


def test_update_patches_v2_limit() -> None:
    """Update PATCHes the destination's `tag:` limit by id."""
    record = records("a")[("etl",)]
    dest = next(i for i in FIXTURE["b"] if i["name"] == "tag:etl")
    (call,) = KIND.update(record, record.data, dest)
    assert (call.method, call.path) == ("PATCH", f"/v2/concurrency_limits/{dest['id']}")
    assert call.body == {"limit": 4, "active": True, "slot_decay_per_second": 0.0}


def test_unsupported_before_tag_limits_became_global_limits() -> None:
    """Destinations older than 3.4.19 keep tag limits apart, so the record is not written there."""
    record = records("a")[("etl",)]
    assert KIND.unsupported(record, Destination(server_version="3.4.18"))
    assert KIND.unsupported(record, Destination(server_version="2.20.3"))
    assert KIND.unsupported(record, Destination(server_version="3.8.8")) is None
    assert KIND.unsupported(record, Destination()) is None


def test_same_tag_limits_on_two_servers_compare_equal() -> None:
    """The same tag limits captured from two servers have equal portable kept data."""
    a, b = (portable_items({KIND.name: FIXTURE[side]}, KIND.name) for side in "ab")
    assert a == b
