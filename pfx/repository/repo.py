"""A repository on a store: its marker, the index read back, and the writes that publish,
forget and compact snapshots (schemas/REPOSITORY.md says why each is ordered as it is).

No write reads, modifies and rewrites a shared object: every object is written once under a
name nobody else writes (a random id), so concurrent backups need no lock. A snapshot is
listed when its entry exists and its bundle does; the entry is written last.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from pydantic import ValidationError

from pfx import __version__
from pfx.errors import UsageError
from pfx.repository.hashfile import (
    compress,
    decode_record_pack,
    decode_records,
    decompress,
    encode_records,
)
from pfx.repository.model import (
    BUNDLES,
    CHECKS,
    CONFIG,
    ENTRIES,
    MAJOR,
    PACKS,
    RECORD_PACKS,
    RECORDS,
    Check,
    IndexPack,
    RecordHash,
    RepositoryConfig,
    SnapshotEntry,
)
from pfx.repository.store import LocalStore, Missing, Store, open_store

# Loose entries a backup leaves before it packs them into one object.
COMPACT_AT = 32
# A listing that lost a race with a compaction (a pack deleted between list and read) is
# taken again, at most this many times.
LIST_ATTEMPTS = 3
_ID = re.compile(r"^[0-9a-f]{64}$")


def bundle_name(snapshot: str) -> str:
    return f"{BUNDLES}/{snapshot}.pfx"


def entry_name(snapshot: str) -> str:
    return f"{ENTRIES}/{snapshot}.json"


def records_name(snapshot: str) -> str:
    return f"{RECORDS}/{snapshot}.jsonl.zst"


def record_pack_name(pack: str) -> str:
    return f"{RECORD_PACKS}/{pack}.jsonl.zst"


def new_id() -> str:
    """A snapshot or pack id: 32 random bytes in hex (nobody else ever writes that name)."""
    return os.urandom(32).hex()


def server_identity(url: str) -> str:
    """The source server as a repository records it: its API URL (no credentials), scheme and
    host in lower case, without a trailing slash."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url.rstrip("/")
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}://{host.lower()}{slash}{path}".rstrip("/")


@dataclass
class Listing:
    """The index as read back: snapshots (entry and bundle present), and what does not agree."""

    entries: list[SnapshotEntry]
    # Entries whose bundle is gone (a forget that stopped half-way, or a pack not yet compacted).
    stale: list[SnapshotEntry] = field(default_factory=list)
    # Bundles without an entry: a backup stopped between its bundle and its entry, or running.
    unindexed: list[str] = field(default_factory=list)
    # Index objects that do not read: name -> why.
    unreadable: dict[str, str] = field(default_factory=dict)
    # Bundle sizes by snapshot id, and the names of loose entries and packs read.
    sizes: dict[str, int] = field(default_factory=dict)
    loose: list[str] = field(default_factory=list)
    packs: list[str] = field(default_factory=list)
    # Snapshot id -> the newest time a backup found the server unchanged since it.
    checked: dict[str, str] = field(default_factory=dict)
    check_objects: dict[str, list[str]] = field(default_factory=dict)
    # Leftover temporary files of interrupted local writes.
    partial: list[str] = field(default_factory=list)
    # Snapshot id -> the record pack holding its hashes (from the index packs).
    records_in: dict[str, str] = field(default_factory=dict)


class Repository:
    """One repository: `config` is None until the first backup writes it."""

    def __init__(self, store: Store, config: RepositoryConfig | None) -> None:
        self.store = store
        self.config = config
        # The last record pack read, decoded: readers go through snapshots in time order,
        # and a pack holds consecutive ones.
        self._pack: tuple[str, str | None, dict[str, list[RecordHash]]] | None = None

    @property
    def url(self) -> str:
        return self.store.url

    # --- reading -------------------------------------------------------------------------

    def listing(self) -> Listing:
        """Every snapshot, from the packs and loose entries, kept only where the bundle is."""
        for attempt in range(LIST_ATTEMPTS):
            found = self._listing()
            if found is not None or attempt == LIST_ATTEMPTS - 1:
                return found or Listing([])
        raise AssertionError("unreachable")

    def _listing(self) -> Listing | None:
        loose = sorted(self.store.list(ENTRIES))
        packs = sorted(self.store.list(PACKS))
        # Bundles are listed after the entries: a backup writes its bundle before its entry,
        # so every entry listed has its bundle listed too, unless it was forgotten. Listed
        # the other way, a backup publishing in between would look forgotten (stale), and a
        # compaction running meanwhile would drop its entry.
        bundles = self.store.list(BUNDLES)
        got = self.store.read_many(packs + loose)
        if any(name not in got for name in packs):
            return None  # a compaction deleted a pack we listed: list again
        out = Listing([], loose=[n for n in loose if n in got], packs=packs)
        by_id: dict[str, SnapshotEntry] = {}
        for name in packs + loose:
            if name not in got:
                continue
            try:
                entries, records_in = _decode_index(name, got[name])
            except ValueError as e:
                out.unreadable[name] = str(e)
                continue
            for entry in entries:
                by_id.setdefault(entry.id, entry)
            for snapshot, pack in records_in.items():
                out.records_in.setdefault(snapshot, pack)
        sizes = {_stem(n, ".pfx"): size for n, size in bundles.items() if n.endswith(".pfx")}
        out.partial = [n for n in bundles if n.endswith(".part")]
        for ident, entry in by_id.items():
            (out.entries if ident in sizes else out.stale).append(entry)
        out.entries.sort(key=lambda e: (e.at, e.id))
        out.unindexed = sorted(i for i in sizes if i not in by_id)
        out.sizes = sizes
        self._read_checks(out)
        return out

    def _read_checks(self, out: Listing) -> None:
        for name in sorted(self.store.list(CHECKS)):
            stem = name.rsplit("/", 1)[-1]
            snapshot, _, rest = stem.partition(".")
            out.check_objects.setdefault(snapshot, []).append(name)
            stamp = rest.removesuffix(".json")
            if stamp > out.checked.get(snapshot, ""):
                out.checked[snapshot] = stamp

    def read_records(
        self, snapshot: str, listing: Listing | None = None, kind: str | None = None
    ) -> list[RecordHash]:
        """The record hashes of a snapshot (with `kind`, of that kind only), in bundle order:
        from its record pack when the listing names one, else its own object (Missing when
        not written; ValueError when damaged)."""
        pack = listing.records_in.get(snapshot) if listing is not None else None
        if pack is None:
            return decode_records(self.store.read(records_name(snapshot)), snapshot, kind)
        if self._pack is None or self._pack[:2] != (pack, kind):
            self._pack = (pack, kind, decode_record_pack(self.store.read(pack), kind))
        try:
            return self._pack[2][snapshot]
        except KeyError:
            raise ValueError(f"record pack {pack} lacks snapshot {snapshot[:8]}") from None

    def bundle_path(self, snapshot: str) -> Path | None:
        """Where a snapshot's bundle lies, when the repository is a local directory (None on an
        object store: download it)."""
        if isinstance(self.store, LocalStore):
            return self.store.root.joinpath(*bundle_name(snapshot).split("/"))
        return None

    def local_bundle(self, snapshot: str, target: Path) -> Path:
        """A snapshot's bundle as a local file: where it lies, else downloaded to `target`."""
        found = self.bundle_path(snapshot)
        if found is not None:
            return found
        target.parent.mkdir(parents=True, exist_ok=True)
        self.store.download(bundle_name(snapshot), target)
        return target

    @property
    def salt(self) -> bytes:
        assert self.config is not None
        return base64.b64decode(self.config.salt)

    # --- writing -------------------------------------------------------------------------

    def create(self, source: str, created: str) -> None:
        """Write config.json (the first backup); another first backup's config wins if it
        got there first (see REPOSITORY.md: a lost race costs one unchanged check)."""
        config = RepositoryConfig(
            source=source,
            created=created,
            salt=base64.b64encode(os.urandom(16)).decode(),
            pfx_version=__version__,
        )
        self.store.write(CONFIG, _dump(config.model_dump(mode="json")))
        self.config = read_config(self.store) or config

    def publish(self, entry: SnapshotEntry, bundle: Path, hashes: Sequence[RecordHash]) -> None:
        """Bundle, then record hashes, then the entry: the snapshot exists from the last."""
        self.store.upload(bundle_name(entry.id), bundle)
        self.publish_index(entry, hashes)

    def publish_index(self, entry: SnapshotEntry, hashes: Sequence[RecordHash]) -> None:
        """The index objects of a snapshot whose bundle is stored: hashes, then the entry."""
        self.store.write(records_name(entry.id), encode_records(entry.id, hashes))
        self.store.write(entry_name(entry.id), _dump(entry.model_dump(mode="json")))

    def forget(self, snapshot: str, listing: Listing) -> None:
        """The bundle first (that un-lists it at once), then its index objects."""
        self.store.delete(bundle_name(snapshot))
        self.store.delete(entry_name(snapshot))
        self.store.delete(records_name(snapshot))
        for name in listing.check_objects.get(snapshot, []):
            self.store.delete(name)

    def record_check(self, snapshot: str, stamp: str, listing: Listing) -> None:
        """Say a backup found the server as `snapshot`; older checks of it go."""
        check = Check(snapshot=snapshot, time=stamp)
        compact = stamp.replace("-", "").replace(":", "")
        self.store.write(f"{CHECKS}/{snapshot}.{compact}.json", _dump(check.model_dump()))
        for name in listing.check_objects.get(snapshot, []):
            if name != f"{CHECKS}/{snapshot}.{compact}.json":
                self.store.delete(name)

    def compact(self, listing: Listing, *, force: bool = False) -> bool:
        """Once there are COMPACT_AT loose entries: pack the loose record hashes of listed
        snapshots into one record pack, then the listed entries (and where each snapshot's
        hashes are) into one index pack; only then delete the loose objects and index packs
        it read (never anything it did not read). Record packs are never rewritten here."""
        if not force and len(listing.loose) < COMPACT_AT:
            return False
        live = {e.id for e in listing.entries}
        where = {s: p for s, p in listing.records_in.items() if s in live}
        loose = [e.id for e in listing.entries if e.id not in where]
        got = self.store.read_many([records_name(s) for s in loose])
        sections: list[bytes] = []
        packed: list[str] = []
        for snapshot in loose:
            data = got.get(records_name(snapshot))
            if data is None:
                continue  # hashes not written (yet): left loose, or rebuilt by --repair
            try:
                decode_records(data, snapshot)
            except ValueError:
                continue  # damaged: `check` names it
            sections.append(decompress(data))
            packed.append(snapshot)
        if sections:
            name = record_pack_name(new_id())
            self.store.write(name, compress(b"".join(sections)))
            where |= dict.fromkeys(packed, name)
        pack = IndexPack(entries=listing.entries, records=where)
        self.store.write(f"{PACKS}/{new_id()}.json", _dump(pack.model_dump(mode="json")))
        for name in listing.loose + listing.packs:
            self.store.delete(name)
        for snapshot in packed:
            self.store.delete(records_name(snapshot))
        for entry in listing.stale:
            self.store.delete(records_name(entry.id))
        return True

    def delete_objects(self, names: Iterable[str]) -> None:
        for name in names:
            self.store.delete(name)


def open_repository(url: str, *, create: bool = False) -> Repository:
    """The repository at `url`; with `create`, a location that is missing or empty is a new
    repository (nothing is written until the first snapshot). One line when the location is
    unreachable, refuses the credentials or holds something else."""
    store = open_store(url)
    # An existing repository answers its config.json: one request proves the location
    # answers and accepts the credentials. Only without one is the location looked at.
    config = read_config(store)
    if config is not None:
        return Repository(store, config)
    if not store.probe():
        if create:
            return Repository(store, None)
        raise UsageError(
            f"{store.url} is not a pfx repository (nothing there; `pfx backup` creates one)"
        )
    raise UsageError(
        f"{store.url} is not a pfx repository (no {CONFIG}, but it holds other objects); "
        "use an empty location or prefix"
    )


def read_config(store: Store) -> RepositoryConfig | None:
    """config.json, or None when absent; UsageError when it is not a pfx repository's."""
    try:
        raw = store.read(CONFIG)
    except Missing:
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict) or value.get("format") != "pfx-repository":
        raise UsageError(f"{store.url} is not a pfx repository ({CONFIG} is something else)")
    version = value.get("version")
    major = version[0] if isinstance(version, list) and version else None
    if isinstance(major, int) and major > MAJOR:
        raise UsageError(
            f"{store.url}: repository format {major}.x is newer than this pfx "
            f"{__version__} reads ({MAJOR}.x); upgrade pfx"
        )
    try:
        return RepositoryConfig.model_validate(value)
    except ValidationError as e:
        raise UsageError(f"{store.url}: damaged {CONFIG}: {e.errors()[0]['msg']}") from None


def _decode_index(name: str, data: bytes) -> tuple[list[SnapshotEntry], dict[str, str]]:
    """The entries of an index object, and (packs) where their record hashes are."""
    try:
        if name.startswith(PACKS):
            pack = IndexPack.model_validate_json(data)
            return pack.entries, pack.records
        entry = SnapshotEntry.model_validate_json(data)
    except ValidationError as e:
        raise ValueError(f"not a readable index object: {e.errors()[0]['msg']}") from None
    if _stem(name, ".json") != entry.id or not _ID.match(entry.id):
        raise ValueError(f"entry names snapshot {entry.id[:8]}, not the one of its name")
    return [entry], {}


def _stem(name: str, suffix: str) -> str:
    return name.rsplit("/", 1)[-1].removesuffix(suffix)


def _dump(value: object) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n"
