"""Saved searches and the server's default result storage (kinds of format 1.3)."""

from __future__ import annotations

from functools import partial
from typing import Any

import anyio
import pytest

from pfx.errors import ApiError
from pfx.ids import Index
from pfx.jsontypes import JSONObject
from pfx.kinds import result_storage, saved_search
from pfx.kinds.base import Call, Listing
from pfx.model import Record, Ref, Skipped
from pfx.server.reading import read_server
from pfx.watching import Watcher

FLOW = "0b0c5e2a-6f4e-4b8e-9d7a-3c1f2e4d5a6b"
RUN = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
BLOCK = "11111111-2222-4333-8444-555555555555"


def search(*values: str) -> JSONObject:
    return {
        "name": "etl runs",
        "filters": [
            {
                "object": "flowRun",
                "property": "flow",
                "type": "",
                "operation": "",
                "value": [*values],
            }
        ],
    }


def test_saved_search_refers_to_the_records_its_filters_name() -> None:
    """Ids of records the source has become refs (import rewrites them); others stay."""
    index = Index()
    index.add("flow", ("etl",), FLOW)
    refs = saved_search.KIND.refs(search(FLOW, RUN, FLOW), index)
    assert refs == [Ref(kind="flow", key=("etl",), id=FLOW, path="filters")]


def test_saved_search_is_put_by_name_for_create_and_update() -> None:
    """`PUT /saved_searches/` replaces by name: create and update are the same call."""
    data = search(FLOW)
    record = Record(kind="saved-search", key=("etl runs",), data=data)
    put = Call("PUT", "/saved_searches/", {"name": "etl runs", "filters": data["filters"]})
    assert saved_search.KIND.create(record, data) == put
    assert saved_search.KIND.update(record, data, {"id": "x"}) == [put]
    assert saved_search.KIND.endpoint == "/saved_searches/"


def test_default_storage_is_a_singleton_only_when_set() -> None:
    """Nothing set (null) is no item; a set block is one `default` record referring to it."""
    kind = result_storage.KIND
    assert not kind.own({"default_result_storage_block_id": None})
    data: JSONObject = {"default_result_storage_block_id": BLOCK}
    assert kind.own(data) and kind.key(data, Index()) == ("default",)
    index = Index()
    index.add("block-document", ("s3-bucket", "results"), BLOCK)
    assert kind.refs(data, index) == [
        Ref(
            kind="block-document",
            key=("s3-bucket", "results"),
            id=BLOCK,
            path="default_result_storage_block_id",
        )
    ]
    # A block the source does not list: a ref that blocks the record rather than dangle.
    assert kind.refs(data, Index())[0].key == ("<missing>", BLOCK)
    record = Record(kind=kind.name, key=("default",), data=data)
    assert kind.create(record, data) == Call("PUT", "/admin/storage", data)
    assert kind.endpoint == "/admin/storage"


class FakeApi:
    """Answers every listing with nothing, except `fails` (path -> HTTP status): fault
    injection for how export reads kinds only some releases have."""

    def __init__(self, fails: dict[str, int]) -> None:
        self.fails = fails

    watcher = Watcher()

    async def list_all(
        self, listing: Listing, *, counted: bool = True, seen: object = None
    ) -> list[JSONObject]:
        status = self.fails.get(listing.path)
        if status is not None:
            raise ApiError(f"answered {listing.path} with HTTP {status}", status)
        return []

    async def server_version(self) -> str:
        return "3.8.8"

    async def api_version(self) -> str:
        return "0.8.4"


def read(fails: dict[str, int], named: list[Skipped] | None) -> dict[str, list[JSONObject]]:
    """The read phase over FakeApi; unreadable kinds go to `named` when it is given (export)."""
    api: Any = FakeApi(fails)
    read = anyio.run(partial(read_server, api, name_unreadable=named is not None))
    if named is not None:
        named += read.skipped
    return read.raw


def test_a_release_without_the_kind_has_none_and_other_failures_are_named() -> None:
    """404/405 on a kind only some releases have: none there. A 500: named in `skipped` at
    export (`unreadable`), raised elsewhere (import must not plan against a half-read
    destination). A kind every release has: always raised."""
    named: list[Skipped] = []
    raw = read({"/admin/storage": 404, "/saved_searches/filter": 405}, named)
    assert raw["default-result-storage"] == [] and raw["saved-search"] == [] and not named
    read({"/admin/storage": 500}, named)
    assert [(s.kind, s.key) for s in named] == [("default-result-storage", ("*",))]
    assert "HTTP 500" in named[0].reason
    for fails, named_in in (({"/admin/storage": 500}, None), ({"/variables/filter": 404}, [])):
        with pytest.raises(BaseExceptionGroup) as raised:
            read(fails, named_in)
        assert raised.group_contains(ApiError)
