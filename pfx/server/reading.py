"""The read phase: every item of a Prefect server, read concurrently over one Api (a task per
listing, pages in order), with each release's quirks in one named place. Export, `diff -p`,
`render -p`, import's destination read, replay's read-backs and cutover all read here.

Release quirks of reading (the one of writing, 3.8's 409 race, is pfx.retry's):
- `v1_tag_limits`: 2.x and 3.x before 3.4.19 keep tag limits in the v1 table (kinds/tag_limit).
- `recover_owners`: 3.x servers never return an automation's `owner_resource`.
- `notification_policies`: 2.x flow-run notification policies are read as the 3.x automations
  that do the same (pfx.notification_policy).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field

import anyio
import orjson

from pfx.bundle import sort_records
from pfx.errors import ApiError
from pfx.interrupts import run_interruptibly
from pfx.jsontypes import JSON, JSONObject
from pfx.keying import build_records
from pfx.kinds import BY_NAME, KINDS, automation, block_document, deployment, tag_limit
from pfx.kinds.base import Destination, Kind, Listing
from pfx.model import Record, Skipped, Source
from pfx.notification_policy import LISTING_PATH, convert_policies, offered_by
from pfx.openapi import read_accepts
from pfx.prefect_types import prefect_block_types
from pfx.profiles import Target, resolve
from pfx.secrets import Sealer
from pfx.server.api import Api, Seen
from pfx.watching import Conduct


@dataclass
class Live:
    """A live server's records in memory, as an export would write them (secret values
    withheld): the other side of `diff -p` and what `render -p` renders."""

    records: list[Record]
    skipped: list[Skipped]
    source: Source
    # The server as the destination of an import (its OpenAPI read when asked for).
    destination: Destination
    # Every item as read (an import's destination inventory is built from them).
    raw: dict[str, list[JSONObject]] = field(default_factory=dict)


@dataclass
class ServerRead:
    """What the read phase read from one server."""

    # Every item, by kind name, as the kind keys them (Kind.gather applied).
    raw: dict[str, list[JSONObject]] = field(default_factory=dict)
    server_version: str | None = None
    api_version: str | None = None
    # Resources not in `raw`, and why: kinds that could not be read (when they may be named),
    # 2.x notification policies that no automation can express.
    skipped: list[Skipped] = field(default_factory=list)
    # The server's OpenAPI document, when asked for (None: not asked, or not offered).
    document: JSON = None

    def destination(self, *, cloud: bool) -> Destination:
        """What the plan knows of this server as a destination (also `diff -p`'s)."""
        server = f"Prefect {self.server_version}" if self.server_version else "the destination"
        types = self.raw.get("block-type", [])
        return Destination(
            cloud=cloud,
            server_version=self.server_version,
            block_types=frozenset(str(t["slug"]) for t in types if isinstance(t.get("slug"), str)),
            prefect_block_types=prefect_block_types(),
            accepts=read_accepts(self.document, server) if self.document is not None else None,
        )


async def read_server(
    api: Api,
    *,
    secrets: bool = False,
    openapi: bool = False,
    kinds: Collection[str] | None = None,
    name_unreadable: bool = False,
    side: str = "server",
) -> ServerRead:
    """Every item of every kind (or of `kinds` and the parents they are read under), with the
    release quirks of the module doc. `secrets`: read secret values in clear (export as asked);
    `name_unreadable`: a kind only some releases have that fails to read is named in
    `skipped` (export) instead of raising (see `listing_failure`). The api's watcher hears
    the phase `reading <side>` and each kind's items as they are read."""
    api.watcher.phase(f"reading {side}")
    wanted = [kind for kind in KINDS if kinds is None or _needed(kind, kinds)]
    read = ServerRead()
    known = anyio.Event()

    async def versions() -> None:
        read.server_version = await api.server_version()
        read.api_version = await api.api_version()
        known.set()

    async def document() -> None:
        read.document = await api.openapi()

    v1: list[JSONObject] = []
    policies: list[JSONObject] = []

    async def quirks() -> None:
        await known.wait()
        names = {kind.name for kind in wanted}
        if tag_limit.KIND.name in names:
            v1.extend(await v1_tag_limits(api, read.server_version))
        if {automation.KIND.name, block_document.KIND.name} <= names:
            policies.extend(await notification_policies(api, read.server_version))

    async with anyio.create_task_group() as tg:
        tg.start_soon(versions)
        if openapi:
            tg.start_soon(document)
        tg.start_soon(quirks)
        await _read_kinds(api, wanted, read, secrets, name_unreadable)
    if v1:
        name = tag_limit.KIND.name
        read.raw[name] = tag_limit.with_v1(read.raw.get(name, []), v1)
    for kind in wanted:
        if kind.gather is not None and kind.name in read.raw:
            read.raw[kind.name] = kind.gather(read.raw[kind.name])
    await recover_owners(api, read.raw)
    if policies:
        documents = {str(d.get("id")).lower() for d in read.raw.get(block_document.KIND.name, [])}
        converted = convert_policies(policies, documents)
        name = automation.KIND.name
        read.raw[name] = [*read.raw.get(name, []), *converted.automations]
        read.skipped += converted.skipped
    return read


def _needed(kind: Kind, names: Collection[str]) -> bool:
    """Whether `kind` is asked for, or is the parent an asked-for kind is listed under."""
    return kind.name in names or any(BY_NAME[n].listing.per == kind.name for n in names)


async def _read_kinds(
    api: Api,
    kinds: list[Kind],
    read: ServerRead,
    secrets: bool,
    name_unreadable: bool,
) -> None:
    """Each listing once (kinds that share one, global and tag limits, read it once), per
    parent where the kind is listed under one, all at once."""
    shared: dict[bytes, list[Kind]] = defaultdict(list)
    listings: dict[bytes, Listing] = {}
    for kind in kinds:
        listing = kind.listing
        if secrets and listing.secret_body:
            listing = listing.with_body(listing.secret_body)
        ident = orjson.dumps([listing.path, listing.body], option=orjson.OPT_SORT_KEYS)
        shared[ident].append(kind)
        listings[ident] = listing
    done = {kind.name: anyio.Event() for kind in kinds}

    async def one(ident: bytes) -> None:
        listing, sharing = listings[ident], shared[ident]
        label = ", ".join(kind.name for kind in sharing)
        try:
            if listing.per is not None:
                await done[listing.per].wait()
            parents = _names(read.raw.get(listing.per, [])) if listing.per else None
            items = await list_items(api, listing, parents, seen=_tally(api, label))
        except ApiError as e:
            read.skipped += listing_failure(sharing, e, name=name_unreadable)
            items = []
        api.watcher.listed(label, len(items), len(items))
        for kind in sharing:
            read.raw[kind.name] = items
            done[kind.name].set()

    async with anyio.create_task_group() as tg:
        for ident in shared:
            tg.start_soon(one, ident)


def listing_failure(kinds: list[Kind], error: ApiError, *, name: bool) -> list[Skipped]:
    """What a failed listing means, pure: no items where the kinds are ones only some releases
    have (Kind.endpoint) and the server does not (404/405); for another refusal of such a
    kind, a skipped entry each when they may be `name`d; otherwise the error stands (raised).
    A fatal error (no answer, credentials refused) always stands."""
    optional = [kind for kind in kinds if kind.endpoint]
    if not optional or error.fatal or not (error.absent or name):
        raise error
    if error.absent:
        return []
    why = f"could not be read: {error}"
    return [Skipped(kind=kind.name, key=("*",), reason=why) for kind in optional]


def _tally(api: Api, label: str) -> Callable[[str], Seen]:
    """What hears the pages of one listing (under each parent, for a kind listed per
    parent) and tells the watcher their sum; a total only once every part's is known."""
    parts: dict[str, tuple[int, int | None]] = {}

    def part(name: str) -> Seen:
        def seen(done: int, total: int | None) -> None:
            parts[name] = (done, total)
            totals = [t for _, t in parts.values()]
            whole = None if None in totals else sum(t or 0 for t in totals)
            api.watcher.listed(label, sum(d for d, _ in parts.values()), whole)

        return seen

    return part


async def list_items(
    api: Api,
    listing: Listing,
    parents: Iterable[str] | None = None,
    *,
    counted: bool = True,
    seen: Callable[[str], Seen] | None = None,
) -> list[JSONObject]:
    """Every item of one listing; a listing read per parent (Listing.per) is read under each
    of `parents` at once, in the order of their names. `counted`: see Api.list_all; `seen`
    gives what hears each part's pages (by parent name, "" for a listing without parents)."""
    if listing.per is None:
        return await api.list_all(listing, counted=counted, seen=seen("") if seen else None)
    names = sorted(set(parents or ()))
    pages: dict[str, list[JSONObject]] = {}

    async def under(name: str) -> None:
        heard = seen(name) if seen else None
        pages[name] = await api.list_all(listing.under(name), counted=counted, seen=heard)

    async with anyio.create_task_group() as fan:
        for name in names:
            fan.start_soon(under, name)
    return [item for name in names for item in pages[name]]


async def read_kind(api: Api, kind: Kind, parents: Iterable[str] = ()) -> list[JSONObject]:
    """Every item of one kind as the kind keys them (under `parents` for a kind listed per
    parent), read while this run writes: the count cannot be checked (an import reading back
    what it wrote: its own creates change the count meanwhile)."""
    items = await list_items(api, kind.listing, parents, counted=False)
    return kind.gather(items) if kind.gather is not None else items


def _names(items: list[JSONObject]) -> list[str]:
    return [str(item["name"]) for item in items if "name" in item]


def read_live(
    profile: str | None = None,
    *,
    concurrency: int = 8,
    openapi: bool = False,
    conduct: Conduct | None = None,
) -> Live:
    """Every record of `profile`'s server in memory (see Live); `openapi`: also read what
    it accepts, to compare as an import there would (named losses are no difference)."""
    target = resolve(profile)
    return run_interruptibly(_read_live, target, concurrency, openapi, conduct)


def read_records(
    profile: str | None = None, *, concurrency: int = 8, conduct: Conduct | None = None
) -> tuple[list[Record], list[Skipped], Source]:
    """Every record of `profile`'s server in memory, as an export would write them (secret
    values withheld), what was named instead, and where they came from."""
    live = read_live(profile, concurrency=concurrency, conduct=conduct)
    return live.records, live.skipped, live.source


async def _read_live(
    target: Target, concurrency: int, openapi: bool, conduct: Conduct | None
) -> Live:
    async with Api(target, concurrency=concurrency, conduct=conduct) as api:
        read = await read_server(api, openapi=openapi)
    records, skipped = build_records(read.raw, Sealer.create("withheld", None))
    source = Source(
        url=target.public_url,
        profile=target.profile,
        server_version=read.server_version,
        api_version=read.api_version,
    )
    destination = read.destination(cloud=target.cloud)
    return Live(sort_records(records), skipped + read.skipped, source, destination, read.raw)


# --- release quirks ----------------------------------------------------------------------------


async def v1_tag_limits(api: Api, server_version: str | None) -> list[JSONObject]:
    """The v1 tag limits of a server that may keep them there (kinds/tag_limit.reads_v1: an
    older release, or one that does not say which it is); a server without the table has none."""
    if not tag_limit.reads_v1(server_version):
        return []
    try:
        return await api.list_all(tag_limit.V1_LISTING)
    except ApiError as e:
        if e.absent:
            return []
        raise


async def notification_policies(api: Api, server_version: str | None) -> list[JSONObject]:
    """The flow-run notification policies of a server that has them (2.x); a server without
    the endpoint has none."""
    if not offered_by(server_version):
        return []
    try:
        return await api.list_all(Listing(LISTING_PATH))
    except ApiError as e:
        if e.fatal:
            raise
        return []  # 404/405/422: a server without them


async def recover_owners(api: Api, raw: dict[str, list[JSONObject]]) -> None:
    """Set `owner_resource` on automations a deployment owns (3.x servers never return it).

    One GET /automations/related-to/prefect.deployment.<id> per deployment; a relation that
    no run-deployment action explains is ownership (automation.infer_owner). An automation
    related to several deployments that way, or a server without the endpoint, gets none.
    """
    automations = {str(a.get("id")): a for a in raw.get(automation.KIND.name, [])}
    deployments = [str(d.get("id")) for d in raw.get(deployment.KIND.name, [])]
    if not automations or not deployments:
        return
    owners: dict[str, set[str]] = defaultdict(set)
    asked = 0
    # As many lookups at once as the command allows (`--concurrency`): a far-away source
    # pays its round trip once per deployment.
    limiter = anyio.CapacityLimiter(api.pace.ceiling)
    missing = False

    async def related(dep_id: str) -> None:
        nonlocal missing, asked
        async with limiter:
            try:
                found = await api.request(
                    "GET", f"/automations/related-to/prefect.deployment.{dep_id}"
                )
            except ApiError as e:
                if e.fatal:
                    raise
                missing = True
                return
            finally:
                asked += 1
                api.watcher.listed("automation owners", asked, len(deployments))
        for item in found if isinstance(found, list) else []:
            ident = str(item.get("id")) if isinstance(item, dict) else ""
            ours = automations.get(ident)
            owner = automation.infer_owner(ours, dep_id) if ours is not None else None
            if owner is not None:
                owners[ident].add(owner)

    async with anyio.create_task_group() as tg:
        for dep_id in deployments:
            tg.start_soon(related, dep_id)
    if missing:
        return
    for ident, found in owners.items():
        if len(found) == 1 and not automations[ident].get("owner_resource"):
            automations[ident]["owner_resource"] = found.pop()
