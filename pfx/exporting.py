"""The export pipeline: read every kind from one API, build records, write one bundle.

Reads all kinds concurrently over one client, resolves every id to a natural key, seals
secret values as asked, and writes the bundle atomically. Needs only the source API.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import anyio
import orjson

from pfx import bundle, bundlefile
from pfx.api import Api, Stats
from pfx.cloud import name_cloud_only
from pfx.cloudreads import name_unlisted, read_access
from pfx.errors import ApiError, PfxError
from pfx.ids import Index
from pfx.jsontypes import JSONObject
from pfx.keying import item_id, key_items
from pfx.kinds import KINDS, automation, block_document, deployment, tag_limit
from pfx.kinds.base import Kind, Listing
from pfx.kinds.concurrency_limit import TAG_PREFIX
from pfx.model import External, Manifest, Partial, Record, SecretsMode, Skipped, Source
from pfx.notification_policy import LISTING_PATH, convert_policies
from pfx.profiles import Target, resolve
from pfx.secrets import Sealer, seal_record
from pfx.select import external_refs, parse_selector, select

Progress = Callable[[str, int], None]


@dataclass
class ExportResult:
    """What an export wrote, and what it cost."""

    path: Path
    manifest: Manifest
    size: int
    seconds: float
    stats: Stats = field(default_factory=Stats)
    # For a partial export: "<label>: included as a dependency of <label>", one per record.
    dependencies: list[str] = field(default_factory=list)


def export_bundle(
    path: Path,
    profile: str | None = None,
    *,
    target: Target | None = None,
    secrets: SecretsMode = "withheld",
    passphrase: str | None = None,
    progress: Progress | None = None,
    concurrency: int = 8,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> ExportResult:
    """Export every resource of `profile` into the bundle file `path`, or with `include` /
    `exclude` selectors (pfx.select) the chosen ones and their dependencies. `target`: a
    server given directly (a URL and key, as the backup flow has them) instead of a profile."""
    for text in (*include, *exclude):
        parse_selector(text)  # a bad selector fails before any request
    target = target or resolve(profile)
    chosen = (tuple(include), tuple(exclude))
    return anyio.run(
        _export, target, Path(path), secrets, passphrase, progress, concurrency, chosen
    )


def read_records(
    profile: str | None = None, *, concurrency: int = 8
) -> tuple[list[Record], list[Skipped], Source]:
    """Every record of `profile`'s server in memory, as an export would write them (secret
    values withheld): the live side of `pfx diff`."""
    target = resolve(profile)
    return anyio.run(_read_records, target, concurrency)


async def _read_records(
    target: Target, concurrency: int
) -> tuple[list[Record], list[Skipped], Source]:
    async with Api(target, concurrency=concurrency) as api:
        server_version = await api.server_version()
        api_version = await api.api_version()
        raw = await read_everything(api, include_secrets=False)
        converted = await convert_notification_policies(api, raw)
    records, skipped = build_records(raw, Sealer.create("withheld", None))
    skipped += converted
    source = Source(
        url=target.public_url,
        profile=target.profile,
        server_version=server_version,
        api_version=api_version,
    )
    return bundle.sort_records(records), skipped, source


async def _export(
    target: Target,
    path: Path,
    mode: SecretsMode,
    passphrase: str | None,
    progress: Progress | None,
    concurrency: int,
    chosen: tuple[tuple[str, ...], tuple[str, ...]],
) -> ExportResult:
    started = time.monotonic()
    sealer = Sealer.create(mode, passphrase)
    async with Api(target, concurrency=concurrency) as api:
        server_version = await api.server_version()
        api_version = await api.api_version()
        unreadable: list[Skipped] = []
        raw = await read_everything(
            api,
            include_secrets=mode != "withheld",
            progress=progress,
            v1_tags=tag_limit.reads_v1(server_version),
            unreadable=unreadable,
        )
        named = unreadable + await convert_notification_policies(api, raw)
        answers, unread = await read_access(api, raw) if target.cloud else ({}, [])
        named += unread + (await name_unlisted(api) if target.cloud else [])
        stats = api.stats
    records, skipped = build_records(raw, sealer)
    partial: Partial | None = None
    notes: list[str] = []
    if any(chosen):
        picked = select(records, *chosen)
        records = picked.records
        external = [External(kind=r.kind, key=r.key) for r in external_refs(records)]
        partial = Partial(
            include=list(chosen[0]),
            exclude=list(chosen[1]),
            dependencies=len(picked.dependencies),
            external=external,
        )
        notes = [f"{r.label}: {why}" for r in records if (why := picked.because(r))]
    skipped += named + name_cloud_only(records, raw, answers)
    source = Source(
        url=target.public_url,
        profile=target.profile,
        server_version=server_version,
        api_version=api_version,
        cloud=target.cloud,
    )
    summary = sealer.summary(records)
    created = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    lines = bundle.encode(
        records,
        source=source,
        created=created,
        secrets=summary,
        skipped=skipped,
        selection=partial,
    )
    manifest_holder: list[Manifest] = []

    def tee() -> object:
        for i, line in enumerate(lines):
            if i == 0:
                manifest_holder.append(bundle.decode_manifest(line))
            yield line

    size = bundlefile.write_lines(path, tee())  # type: ignore[arg-type]
    seconds = time.monotonic() - started
    return ExportResult(path, manifest_holder[0], size, seconds, stats, notes)


async def read_everything(
    api: Api,
    *,
    include_secrets: bool,
    progress: Progress | None = None,
    v1_tags: bool = False,
    unreadable: list[Skipped] | None = None,
) -> dict[str, list[JSONObject]]:
    """Every item of every kind, read concurrently (one task per kind, pages in order).

    `v1_tags`: also read tag limits from the v1 table (servers before 3.4.19 keep them there
    only; see kinds/tag_limit.py). A kind that only some releases have (Kind.endpoint) is
    empty on a server that answers 404/405 for it; any other failure to read it is named in
    `unreadable` when given (export), else raised.
    """
    raw: dict[str, list[JSONObject]] = {}
    # Kinds that share a listing (global and tag limits both live in the v2 list) read it once.
    shared: dict[bytes, list[Kind]] = defaultdict(list)
    listings: dict[bytes, Listing] = {}
    for kind in KINDS:
        listing = kind.listing
        if include_secrets and listing.secret_body:
            listing = listing.with_body(listing.secret_body)
        ident = orjson.dumps([listing.path, listing.body], option=orjson.OPT_SORT_KEYS)
        shared[ident].append(kind)
        listings[ident] = listing

    read_kinds = {kind.name: anyio.Event() for kind in KINDS}

    async def read(ident: bytes) -> None:
        try:
            items = await read_listing(ident)
        except ApiError as e:
            optional = [kind for kind in shared[ident] if kind.endpoint]
            if not optional or e.status is None or e.status in (401, 403):
                raise
            if e.status not in (404, 405):
                if unreadable is None:
                    raise
                unreadable.extend(
                    Skipped(kind=kind.name, key=("*",), reason=f"could not be read: {e}")
                    for kind in optional
                )
            items = []
        for kind in shared[ident]:
            raw[kind.name] = items
            read_kinds[kind.name].set()
            if progress:
                progress(kind.name, sum(1 for item in items if kind.own(item)))

    async def read_listing(ident: bytes) -> list[JSONObject]:
        listing = listings[ident]
        if listing.per is None:
            items = await api.list_all(listing)
        else:
            await read_kinds[listing.per].wait()
            names = sorted({str(p["name"]) for p in raw.get(listing.per, []) if "name" in p})
            pages: dict[str, list[JSONObject]] = {}

            async def under(name: str) -> None:
                pages[name] = await api.list_all(listing.under(name))

            async with anyio.create_task_group() as fan:
                for name in names:
                    fan.start_soon(under, name)
            items = [item for name in names for item in pages[name]]
        return items

    v1: list[JSONObject] = []

    async def read_v1() -> None:
        v1.extend(await api.list_all(tag_limit.V1_LISTING))

    async with anyio.create_task_group() as tg:
        for ident in shared:
            tg.start_soon(read, ident)
        if v1_tags:
            tg.start_soon(read_v1)
    if v1:
        raw[tag_limit.KIND.name] = _with_v1_tags(raw.get(tag_limit.KIND.name, []), v1)
    for kind in KINDS:
        if kind.gather is not None and kind.name in raw:
            raw[kind.name] = kind.gather(raw[kind.name])
    await recover_owners(api, raw)
    return raw


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
    # As many lookups at once as the command allows (`--concurrency`): a far-away source
    # pays its round trip once per deployment.
    limiter = anyio.CapacityLimiter(api.pace.ceiling)
    missing = False

    async def related(dep_id: str) -> None:
        nonlocal missing
        async with limiter:
            try:
                found = await api.request(
                    "GET", f"/automations/related-to/prefect.deployment.{dep_id}"
                )
            except ApiError as e:
                if e.status is None or e.status in (401, 403):
                    raise
                missing = True
                return
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


async def convert_notification_policies(
    api: Api, raw: dict[str, list[JSONObject]]
) -> list[Skipped]:
    """Add an automation to `raw` for each 2.x flow-run notification policy of the source
    (pfx.notification_policy); the skipped entries of those it cannot convert. A server without
    the endpoint (3.x) has none."""
    try:
        policies = await api.list_all(Listing(LISTING_PATH))
    except ApiError as e:
        if e.status is None or e.status in (401, 403):
            raise
        return []  # 404/405/422: a 3.x server
    documents = {str(d.get("id")).lower() for d in raw.get(block_document.KIND.name, [])}
    converted = convert_policies(policies, documents)
    raw[automation.KIND.name] = [*raw.get(automation.KIND.name, []), *converted.automations]
    return converted.skipped


def _with_v1_tags(items: list[JSONObject], v1: list[JSONObject]) -> list[JSONObject]:
    """The v2 list plus each v1 tag limit whose tag has no `tag:<tag>` v2 limit."""
    present = {
        str(i.get("name", "")).removeprefix(TAG_PREFIX) for i in items if tag_limit.KIND.own(i)
    }
    return items + [i for i in v1 if isinstance(i.get("tag"), str) and i["tag"] not in present]


def build_records(
    raw: dict[str, list[JSONObject]], sealer: Sealer
) -> tuple[list[Record], list[Skipped]]:
    """Records for every own item, with refs resolved through one index of all items."""
    index = Index()
    skipped: list[Skipped] = []
    keyed = key_items(raw, index, skipped)
    records: list[Record] = []
    for kind, key, item in keyed:
        try:
            record = Record(
                kind=kind.name,
                key=key,
                id=item_id(item),
                data=kind.kept(item),
                refs=kind.refs(item, index),
            )
            if kind.secret_paths is not None:
                record = seal_record(record, item, kind.secret_paths(item), sealer)
        except PfxError:
            raise
        except (KeyError, TypeError, ValueError) as e:
            skipped.append(Skipped(kind=kind.name, key=key, reason=f"unreadable item: {e!r}"))
            continue
        records.append(record)
    return records, skipped
