"""The export pipeline: read every kind from one API, build records, write one bundle.

Reads all kinds concurrently over one client, resolves every id to a natural key, seals
secret values as asked, and writes the bundle atomically. Needs only the source API.
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import anyio
import orjson

from pfx import bundle, bundlefile
from pfx.api import Api, Stats
from pfx.errors import PfxError
from pfx.ids import Index, portable
from pfx.jsontypes import JSONObject
from pfx.kinds import KINDS
from pfx.kinds.base import Kind, Listing
from pfx.model import Manifest, Record, SecretsMode, Skipped, Source
from pfx.profiles import Target, resolve
from pfx.secrets import Sealer, seal_record

Progress = Callable[[str, int], None]


@dataclass
class ExportResult:
    """What an export wrote, and what it cost."""

    path: Path
    manifest: Manifest
    size: int
    seconds: float
    stats: Stats = field(default_factory=Stats)


def export_bundle(
    path: Path,
    profile: str | None = None,
    *,
    secrets: SecretsMode = "withheld",
    passphrase: str | None = None,
    progress: Progress | None = None,
    concurrency: int = 8,
) -> ExportResult:
    """Export every resource of `profile` into the bundle file `path`."""
    target = resolve(profile)
    return anyio.run(_export, target, Path(path), secrets, passphrase, progress, concurrency)


async def _export(
    target: Target,
    path: Path,
    mode: SecretsMode,
    passphrase: str | None,
    progress: Progress | None,
    concurrency: int,
) -> ExportResult:
    started = time.monotonic()
    sealer = Sealer.create(mode, passphrase)
    async with Api(target, concurrency=concurrency) as api:
        server_version = await api.server_version()
        api_version = await api.api_version()
        raw = await read_everything(api, include_secrets=mode != "withheld", progress=progress)
        stats = api.stats
    records, skipped = build_records(raw, sealer)
    source = Source(
        url=target.public_url,
        profile=target.profile,
        server_version=server_version,
        api_version=api_version,
    )
    summary = sealer.summary(records)
    created = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    lines = bundle.encode(records, source=source, created=created, secrets=summary, skipped=skipped)
    manifest_holder: list[Manifest] = []

    def tee() -> object:
        for i, line in enumerate(lines):
            if i == 0:
                manifest_holder.append(bundle.decode_manifest(line))
            yield line

    size = bundlefile.write_lines(path, tee())  # type: ignore[arg-type]
    return ExportResult(path, manifest_holder[0], size, time.monotonic() - started, stats)


async def read_everything(
    api: Api, *, include_secrets: bool, progress: Progress | None = None
) -> dict[str, list[JSONObject]]:
    """Every item of every kind, read concurrently (one task per kind, pages in order)."""
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
        for kind in shared[ident]:
            raw[kind.name] = items
            read_kinds[kind.name].set()
            if progress:
                progress(kind.name, sum(1 for item in items if kind.own(item)))

    async with anyio.create_task_group() as tg:
        for ident in shared:
            tg.start_soon(read, ident)
    return raw


def key_items(
    raw: dict[str, list[JSONObject]], index: Index, skipped: list[Skipped]
) -> list[tuple[Kind, tuple[str, ...], JSONObject]]:
    """(kind, natural key, item) for every own item, filling `index` as it goes.

    Kinds are keyed in registry order, each seeing the index of the kinds before it (a
    deployment's key holds its flow's name). Import keys destination items the same way.
    """
    keyed: list[tuple[Kind, tuple[str, ...], JSONObject]] = []
    for kind in KINDS:
        group: list[tuple[Kind, tuple[str, ...], JSONObject]] = []
        for item in raw.get(kind.name, []):
            if not kind.own(item):
                continue
            try:
                key = kind.key(item, index)
            except (KeyError, TypeError, ValueError) as e:
                ident = (str(item.get("id")),)
                skipped.append(Skipped(kind=kind.name, key=ident, reason=f"unreadable: {e!r}"))
                continue
            group.append((kind, key, item))
        group = _disambiguate(group, index)
        for _, key, item in group:
            index.add(kind.name, key, _id(item), item)
        keyed += group
    return keyed


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
                id=_id(item),
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


def _disambiguate(
    group: list[tuple[Kind, tuple[str, ...], JSONObject]], index: Index
) -> list[tuple[Kind, tuple[str, ...], JSONObject]]:
    """Give items of a kind without unique names (automations) an ordinal by content.

    Ordinals follow the sorted hash of each item's portable content (ids of earlier kinds as
    natural keys), so the same source gives the same keys on every export.
    """
    if not group or group[0][0].unique_key:
        return group
    by_key: dict[tuple[str, ...], list[tuple[Kind, JSONObject]]] = defaultdict(list)
    for kind, key, item in group:
        by_key[key].append((kind, item))
    # Ids of this kind are not in the index yet (automations name each other): mask them,
    # so the same content ranks the same on every server.
    tokens = index.tokens() | {
        str(item["id"]).lower(): f"<{kind.name}>" for kind, _, item in group if item.get("id")
    }
    out: list[tuple[Kind, tuple[str, ...], JSONObject]] = []
    for key, members in sorted(by_key.items()):
        ranked = sorted(members, key=lambda m: _content_hash(m[0].kept(m[1]), tokens))
        for n, (kind, item) in enumerate(ranked, start=1):
            out.append((kind, (*key, str(n)), item))
    return out


def _content_hash(data: JSONObject, tokens: dict[str, str]) -> str:
    encoded = orjson.dumps(portable(data, tokens), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(encoded).hexdigest()


def _id(item: JSONObject) -> str | None:
    value = item.get("id")
    return value if isinstance(value, str) else None
