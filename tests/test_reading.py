"""The read phase (pfx.server.reading) over a fake API: which listings each release is read
with (the release quirks by server version), and what a subset of kinds reads."""

from __future__ import annotations

from functools import partial
from typing import Any

import anyio
import pytest

from pfx.errors import ApiError
from pfx.jsontypes import JSONObject
from pfx.kinds import tag_limit
from pfx.kinds.base import Listing
from pfx.notification_policy import LISTING_PATH
from pfx.server.reading import ServerRead, read_server
from pfx.watching import Watcher

V1_TAG: JSONObject = {
    "id": "11111111-1111-1111-1111-111111111111",
    "tag": "etl",
    "concurrency_limit": 2,
}


class FakeApi:
    """Answers every listing with `answers.get(path, [])`, or the status in `fails`; records
    which listings were read."""

    def __init__(
        self,
        version: str | None,
        answers: dict[str, list[JSONObject]] | None = None,
        fails: dict[str, int] | None = None,
    ) -> None:
        self.version = version
        self.answers = answers or {}
        self.fails = fails or {}
        self.read: list[str] = []

    watcher = Watcher()

    async def list_all(
        self, listing: Listing, *, counted: bool = True, seen: object = None
    ) -> list[JSONObject]:
        self.read.append(listing.path)
        if listing.path in self.fails:
            raise ApiError(f"HTTP {self.fails[listing.path]}", self.fails[listing.path])
        return list(self.answers.get(listing.path, []))

    async def server_version(self) -> str | None:
        return self.version

    async def api_version(self) -> str:
        return "0.8.4"


def read(api: FakeApi, **options: Any) -> ServerRead:
    fake: Any = api
    return anyio.run(partial(read_server, fake, **options))


@pytest.mark.parametrize(
    ("version", "v1", "policies"),
    [("2.20.27", True, True), ("3.4.10", True, False), ("3.8.8", False, False), (None, True, True)],
)
def test_each_release_is_read_with_its_quirks(
    version: str | None, v1: bool, policies: bool
) -> None:
    """v1 tag limits are read from 2.x and 3.x before 3.4.19, notification policies from 2.x;
    a server that does not say its release is read both ways. Every caller reads alike."""
    api = FakeApi(version, {tag_limit.V1_LISTING.path: [V1_TAG]})
    result = read(api)
    assert (tag_limit.V1_LISTING.path in api.read) == v1
    assert (LISTING_PATH in api.read) == policies
    tags = [item.get("tag") for item in result.raw[tag_limit.KIND.name]]
    assert tags == (["etl"] if v1 else [])
    assert result.server_version == version


def test_a_server_without_the_v1_table_has_no_v1_tag_limits() -> None:
    """404 on the v1 listing of a server that does not say its release: none there."""
    api = FakeApi(None, fails={tag_limit.V1_LISTING.path: 404})
    assert read(api).raw[tag_limit.KIND.name] == []


def test_a_subset_of_kinds_reads_only_their_listings() -> None:
    """Cutover reads flows, deployments and automations: three listings, no quirk."""
    api = FakeApi("3.8.8")
    result = read(api, kinds=("flow", "deployment", "automation"))
    assert sorted(api.read) == ["/automations/filter", "/deployments/filter", "/flows/filter"]
    assert set(result.raw) == {"flow", "deployment", "automation"}


def test_a_kind_listed_per_parent_brings_its_parent() -> None:
    """Work queues are listed per pool: asking for queues reads the pools first."""
    api = FakeApi("3.8.8", {"/work_pools/filter": [{"name": "p", "id": "x"}]})
    read(api, kinds=("work-queue",))
    assert api.read == ["/work_pools/filter", "/work_pools/p/queues/filter"]
