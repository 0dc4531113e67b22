"""The destination's write floor: the least time it needs to accept a bundle's records.

Pushes exactly the writes pfx would make into a fresh destination, by the most direct route:
one keep-alive httpx client, a fixed number of requests in flight, the records in dependency
order, each built by the kind's own `create()` (and `late()`) with ids remapped. No plan, no
inventory of the destination beyond the block types and schemas a fresh server registers
itself (their ids are needed to remap references; reading them is inside the timed span),
no retries but those that 503/429 answers force (short backoff, no Retry-After sleeps).

What pfx would not write on a fresh destination is skipped the same way: system block types
and schemas (present), kinds the destination cannot hold (push and managed pools off Cloud)
and every record that depends on something skipped.
"""

from __future__ import annotations

import asyncio
import graphlib
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from pfx.bundlefile import read_bundle
from pfx.graph import Graph, build_graph
from pfx.ids import replace_ids
from pfx.kinds import kind_named
from pfx.kinds.base import Call, Destination
from pfx.model import Record
from pfx.secrets import set_path
from pfx.secretsfile import SecretValues, gather_secrets

RETRY = frozenset({429, 502, 503, 504})
MAX_ATTEMPTS = 30
PAGE = 200


@dataclass
class Prepared:
    """The bundle decoded, decrypted and ordered once, outside every timed run."""

    records: list[Record]
    graph: Graph
    secrets: SecretValues


@dataclass
class FloorRun:
    """One push of the bundle at one concurrency level."""

    concurrency: int
    seconds: float
    requests: int = 0
    retries: int = 0
    # Requests resent because the server had closed the keep-alive connection.
    dropped: int = 0
    # Block document creates resent after losing the fresh server's encryption-key race.
    key_races: int = 0
    created: int = 0
    present: int = 0
    skipped: int = 0
    failed: int = 0
    # Not written because something they depend on failed.
    blocked: int = 0
    # Seconds from the start at which each record's create was answered, in order.
    done_at: list[float] = field(default_factory=list)
    # Stopped early: it was clearly slower than the run it was compared with (see push).
    aborted: bool = False
    by_status: dict[int, int] = field(default_factory=dict)
    # What a fresh OSS destination cannot hold (unsupported, or depending on such), by kind.
    skipped_by_kind: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "concurrency": self.concurrency,
            "seconds": round(self.seconds, 3),
            "requests": self.requests,
            "retries": self.retries,
            "dropped_connections": self.dropped,
            "key_races": self.key_races,
            "created": self.created,
            "already_present": self.present,
            "skipped": self.skipped,
            "failed": self.failed,
            "blocked": self.blocked,
            "aborted": self.aborted,
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "skipped_by_kind": self.skipped_by_kind,
            "errors": self.errors[:5],
            "load_1m": round(os.getloadavg()[0], 2),
        }


def prepare(bundle_path: Path, passphrase: str) -> Prepared:
    """Read and decrypt the bundle, build its graph (not timed)."""
    bundle = read_bundle(bundle_path)
    secrets = gather_secrets(bundle, passphrase=lambda: passphrase, environ={})
    # Decoded once, up front: the floor's clock must not pay for decoding.
    return Prepared(list(bundle.records), build_graph(bundle.records), secrets)


def push(
    prepared: Prepared, url: str, concurrency: int, *, beat: FloorRun | None = None
) -> FloorRun:
    """Create every record pfx would create on the fresh server at `url` (see module doc).

    With `beat`, a run that is clearly slower than it is stopped early (`aborted`): when
    its first fifth of the creates took half again as long as in `beat`, or when, two thirds
    in, the creates since half-way took a fifth longer than the same creates in `beat`.
    Losing levels of the search for the best concurrency then cost less than a full run.
    """
    return asyncio.run(_Push(prepared, url, concurrency, beat).run())


class _Slower(Exception):
    """The run fell behind the run it has to beat."""


def _first_key_race(call: Call, response: httpx.Response) -> bool:
    """409 from the server's own unique key on its `configuration` table (see _request)."""
    return (
        response.status_code == 409
        and call.path.startswith("/block_documents")
        and "Data integrity conflict" in response.text
    )


class _Push:
    def __init__(
        self, prepared: Prepared, url: str, concurrency: int, beat: FloorRun | None
    ) -> None:
        self.beat = beat.done_at if beat is not None else None
        self.p = prepared
        self.url = url.rstrip("/") + "/"
        self.slots = asyncio.Semaphore(concurrency)
        self.result = FloorRun(concurrency=concurrency, seconds=0.0)
        self.ids: dict[str, str] = {}
        self.dest_ids: dict[int, str] = {}
        self.present: set[int] = set()
        self.undeliverable: set[int] = set()
        self.failed: set[int] = set()
        self.status = Counter[int]()

    async def run(self) -> FloorRun:
        self.started = time.perf_counter()
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(
            base_url=self.url, timeout=httpx.Timeout(120.0), limits=limits
        ) as http:
            self.http = http
            try:
                existing = await self._existing()
                await self._creates(existing)
                await self._late()
            except _Slower:
                self.result.aborted = True
        self.result.seconds = time.perf_counter() - self.started
        self.result.by_status = dict(self.status)
        return self.result

    async def _request(self, call: Call) -> Any:
        content = None if call.body is None else orjson.dumps(call.body)
        headers = {"Content-Type": "application/json"} if content is not None else None
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                response = await self.http.request(
                    call.method, call.path.lstrip("/"), content=content, headers=headers
                )
            except (httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError):
                # The server closed an idle keep-alive connection as we reused it: resend.
                self.result.dropped += 1
                continue
            self.result.requests += 1
            self.status[response.status_code] += 1
            if response.status_code in RETRY and attempt < MAX_ATTEMPTS:
                self.result.retries += 1
                await asyncio.sleep(min(1.0, 0.01 * 2 ** (attempt - 1)))
                continue
            if _first_key_race(call, response) and attempt < 3:
                # A fresh server makes its encryption key on the first block document write;
                # concurrent first writes race for it and all but one get 409. Nothing was
                # written: send again (the key exists now).
                self.result.retries += 1
                self.result.key_races += 1
                continue
            if response.status_code >= 400:
                raise RuntimeError(
                    f"HTTP {response.status_code} on {call.method} {call.path}: "
                    f"{response.text[:200]}"
                )
            return orjson.loads(response.content) if response.content else None
        raise AssertionError("unreachable")

    async def _list(self, path: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        offset = 0
        while True:
            page = await self._request(Call("POST", path, {"offset": offset, "limit": PAGE}))
            items += page
            if len(page) < PAGE:
                return items
            offset += PAGE

    async def _existing(self) -> dict[tuple[str, tuple[str, ...]], str]:
        """(kind, key) -> destination id of what a fresh server already holds."""
        types, schemas = await asyncio.gather(
            self._list("/block_types/filter"), self._list("/block_schemas/filter")
        )
        found: dict[tuple[str, tuple[str, ...]], str] = {
            ("block-type", (t["slug"],)): t["id"] for t in types
        }
        found |= {("block-schema", (s["checksum"], s["version"])): s["id"] for s in schemas}
        return found

    def _data(self, i: int) -> dict[str, Any]:
        record = self.p.records[i]
        data = replace_ids(record.data, self.ids)
        assert isinstance(data, dict)
        for path, value in self.p.secrets.values.get(i, {}).items():
            data = set_path(data, path, value)
        return data

    def _writable(self, i: int, existing: dict[tuple[str, tuple[str, ...]], str]) -> bool:
        """False for records pfx would not write: present, unsupported or blocked."""
        record = self.p.records[i]
        dest_id = existing.get((record.kind, record.key))
        if dest_id is not None:
            if record.id:
                self.ids[record.id] = dest_id
            self.present.add(i)
            self.result.present += 1
            return False
        if kind_named(record.kind).unsupported(record, Destination()):
            self._skip(i)
            return False
        deps = self.p.graph.deps.get(i, ())
        blocked = any(j not in self.present for j in deps)
        undeliverable = any(j in self.undeliverable for j in deps)
        for ref in self.p.graph.outside.get(i, []):
            target = existing.get((ref.kind, ref.key))
            if target is None:
                blocked = True
            elif ref.id:
                self.ids[ref.id] = target
        if undeliverable or (blocked and not any(j in self.failed for j in deps)):
            self._skip(i)
            return False
        if blocked:
            self.failed.add(i)  # blocked by a failure: deliverable, but not delivered
            self.result.blocked += 1
            return False
        return True

    def _skip(self, i: int) -> None:
        """Record `i` cannot exist on this destination (unsupported, or depends on such)."""
        self.undeliverable.add(i)
        self.result.skipped += 1
        kind = self.p.records[i].kind
        self.result.skipped_by_kind[kind] = self.result.skipped_by_kind.get(kind, 0) + 1

    async def _create(self, i: int) -> None:
        async with self.slots:
            record = self.p.records[i]
            kind = kind_named(record.kind)
            calls = kind.create(record, self._data(i))
            dest_id = None
            try:
                for call in calls if isinstance(calls, list) else [calls]:
                    response = await self._request(call)
                    if isinstance(response, dict):
                        dest_id = kind.created_id(response) or dest_id
            except RuntimeError as e:
                self.failed.add(i)
                self.result.failed += 1
                self.result.errors.append(f"{record.label}: {e}")
                return
            if dest_id and record.id:
                self.ids[record.id] = dest_id
            if dest_id:
                self.dest_ids[i] = dest_id
            self.present.add(i)
            self.result.created += 1
            self._progress()

    def _progress(self) -> None:
        elapsed = time.perf_counter() - self.started
        done = self.result.done_at
        done.append(elapsed)
        beat, k = self.beat, len(done)
        if not beat or k > len(beat):
            return
        # Far behind early on (a level drowning in 503s): half again as long for a fifth.
        if k >= len(beat) / 5 and elapsed > 1.5 * beat[k - 1]:
            raise _Slower
        # Behind where it matters: records come in kind order, deployments last, and a level
        # can lose on the cheap early kinds yet win on deployments. Compare the time from
        # half-way to here, once two thirds are done.
        half = len(beat) // 2 - 1
        if k >= 2 * len(beat) / 3 and elapsed - done[half] > 1.2 * (beat[k - 1] - beat[half]):
            raise _Slower

    async def _creates(self, existing: dict[tuple[str, tuple[str, ...]], str]) -> None:
        sorter: graphlib.TopologicalSorter[int] = graphlib.TopologicalSorter()
        for i in range(len(self.p.records)):
            sorter.add(i, *self.p.graph.deps.get(i, ()))
        sorter.prepare()
        running: dict[asyncio.Task[None], int] = {}
        while sorter.is_active():
            for i in sorter.get_ready():
                if self._writable(i, existing):
                    running[asyncio.create_task(self._create(i))] = i
                else:
                    sorter.done(i)
            if not running:
                continue
            done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                sorter.done(running.pop(task))
                try:
                    task.result()
                except _Slower:
                    for other in running:
                        other.cancel()
                    await asyncio.gather(*running, return_exceptions=True)
                    raise

    async def _late(self) -> None:
        """References that can only be set once every record exists, as pfx sets them."""

        async def one(i: int, dest_id: str) -> None:
            record = self.p.records[i]
            kind = kind_named(record.kind)
            assert kind.late is not None
            async with self.slots:
                try:
                    for call in kind.late(record, self._data(i), dest_id):
                        await self._request(call)
                except RuntimeError as e:
                    self.result.failed += 1
                    self.result.errors.append(f"{record.label} (late): {e}")

        await asyncio.gather(
            *(
                one(i, self.dest_ids[i])
                for i in sorted(self.p.graph.late)
                if i in self.dest_ids and kind_named(self.p.records[i].kind).late is not None
            )
        )


# What an export of every kind has to read: (path, body, paged).
SOURCE_LISTINGS: tuple[tuple[str, dict[str, Any], bool], ...] = (
    ("/flows/filter", {}, True),
    ("/deployments/filter", {"sort": "CREATED_DESC"}, True),
    ("/work_pools/filter", {}, True),
    ("/work_queues/filter", {}, True),
    ("/block_types/filter", {}, True),
    ("/block_schemas/filter", {}, True),
    (
        "/block_documents/filter",
        {"include_secrets": True, "block_documents": {"is_anonymous": {"eq_": None}}},
        True,
    ),
    ("/variables/filter", {}, True),
    ("/v2/concurrency_limits/filter", {}, True),
    ("/concurrency_limits/filter", {}, False),
    ("/automations/filter", {}, True),
)


def read_floor(url: str) -> dict[str, Any]:
    """The least time the source needs to serve everything an export reads: each listing
    paged over one keep-alive client, one task per listing (as pfx export reads), nothing
    decoded beyond the page length. Then, timed apart (`owners_seconds`), what export reads
    after the listings: one `related-to` per deployment (automation owners), 8 in flight."""

    async def main() -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=url.rstrip("/") + "/", timeout=120.0) as http:
            requests = 0
            slowest: dict[str, float] = {}
            deployments: list[str] = []
            automations = 0

            async def read(path: str, body: dict[str, Any], paged: bool) -> None:
                nonlocal requests, automations
                offset, started = 0, time.perf_counter()
                while True:
                    page = body | {"offset": offset, "limit": PAGE} if paged else body
                    response = await http.post(path.lstrip("/"), content=orjson.dumps(page))
                    response.raise_for_status()
                    requests += 1
                    items = orjson.loads(response.content)
                    if path == "/deployments/filter":
                        deployments.extend(str(d["id"]) for d in items)
                    automations += len(items) if path == "/automations/filter" else 0
                    if not paged or len(items) < PAGE:
                        break
                    offset += PAGE
                slowest[path] = round(time.perf_counter() - started, 3)

            started = time.perf_counter()
            await asyncio.gather(*(read(*listing) for listing in SOURCE_LISTINGS))
            seconds = time.perf_counter() - started
            gate = asyncio.Semaphore(8)

            async def owner(ident: str) -> None:
                async with gate:
                    path = f"automations/related-to/prefect.deployment.{ident}"
                    (await http.get(path)).raise_for_status()

            started = time.perf_counter()
            # As export: no automation, nothing to look up.
            looked_up = deployments if automations else []
            await asyncio.gather(*(owner(ident) for ident in looked_up))
            owners = time.perf_counter() - started
        return {
            "seconds": round(seconds, 3),
            "requests": requests,
            "by_listing": dict(sorted(slowest.items(), key=lambda kv: -kv[1])),
            "owners_seconds": round(owners, 3),
            "owners_requests": len(looked_up),
        }

    return asyncio.run(main())
