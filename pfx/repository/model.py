"""The nouns of a backup repository, pure: its marker, snapshot entries, packs, record hashes
and checks (pydantic, no I/O). schemas/REPOSITORY.md specifies them; the JSON Schema of the
entry is generated from SnapshotEntry (pfx.schemagen).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pfx.model import SecretsMode, Source

REPOSITORY_FORMAT = "pfx-repository"
ENTRY_FORMAT = "pfx-snapshot"
PACK_FORMAT = "pfx-index-pack"
RECORDS_FORMAT = "pfx-records"
CHECK_FORMAT = "pfx-check"
MAJOR = 1
MINOR = 0

# Object names under the repository's root (REPOSITORY.md, Layout).
CONFIG = "config.json"
BUNDLES = "bundles"
ENTRIES = "index/entries"
RECORDS = "index/records"
RECORD_PACKS = "index/record-packs"
PACKS = "index/packs"
CHECKS = "index/checks"


class RepositoryConfig(BaseModel):
    """`config.json`: says that a location is a pfx repository, and of which server.

    Written once by the first backup and never rewritten.
    """

    model_config = ConfigDict(extra="ignore")

    format: Literal["pfx-repository"] = "pfx-repository"
    version: tuple[int, int] = (MAJOR, MINOR)
    # The source server's API URL, without credentials, as `server_identity` normalises it.
    source: str
    created: str
    # base64 of 16 random bytes: salts the key that fingerprints secret values (hashes.py).
    salt: str
    pfx_version: str


class Changes(BaseModel):
    """Records added, removed and changed from a snapshot's parent to it."""

    model_config = ConfigDict(extra="ignore")

    added: int = 0
    removed: int = 0
    changed: int = 0

    @property
    def total(self) -> int:
        return self.added + self.removed + self.changed


class SnapshotSecrets(BaseModel):
    """How a snapshot's secret values travel (its bundle's manifest says the same)."""

    model_config = ConfigDict(extra="ignore")

    mode: SecretsMode
    withheld: int = 0
    encrypted: int = 0
    plaintext: int = 0
    # Whether the record hashes cover encrypted values by a keyed fingerprint (hashes.py).
    fingerprinted: bool = False


class SnapshotEntry(BaseModel):
    """One snapshot in the index: `index/entries/<id>.json`, also an element of a pack.

    Written after the snapshot's bundle and record hashes: a snapshot exists once its entry
    does (and its bundle is still there). Everything in it can be rebuilt from the bundle.
    """

    model_config = ConfigDict(extra="ignore")

    format: Literal["pfx-snapshot"] = "pfx-snapshot"
    version: tuple[int, int] = (MAJOR, MINOR)
    # 64 lowercase hex characters; users name a snapshot by a prefix (8 are shown).
    id: str
    # When the export finished reading the server (the bundle's `created`): RFC 3339 UTC, `Z`.
    time: str
    source: Source
    counts: dict[str, int]
    records: int
    # The bundle's manifest digest (sha256 of its record lines).
    digest: str
    # Bytes of the bundle object.
    size: int
    secrets: SnapshotSecrets
    # The --include / --exclude selectors of a partial snapshot; None: the whole server.
    include: list[str] | None = None
    exclude: list[str] | None = None
    # The newest snapshot of the same source when this one was taken, and what changed since.
    parent: str | None = None
    changes: Changes | None = None
    pfx_version: str = ""

    @property
    def short(self) -> str:
        return self.id[:8]

    @property
    def at(self) -> datetime:
        return parse_time(self.time)


class IndexPack(BaseModel):
    """`index/packs/<id>.json`: the union of entries a compaction merged (duplicates harmless)."""

    model_config = ConfigDict(extra="ignore")

    format: Literal["pfx-index-pack"] = "pfx-index-pack"
    version: tuple[int, int] = (MAJOR, MINOR)
    entries: list[SnapshotEntry] = Field(default_factory=list)
    # Snapshot id -> the record pack (`index/record-packs/<id>.jsonl.zst`) holding its record
    # hashes; a snapshot not named here has its own `index/records/<id>.jsonl.zst`.
    records: dict[str, str] = Field(default_factory=dict)


class RecordsHeader(BaseModel):
    """Line 1 of `index/records/<id>.jsonl.zst`; each further line is `[kind, key, hash]`."""

    model_config = ConfigDict(extra="ignore")

    format: Literal["pfx-records"] = "pfx-records"
    version: tuple[int, int] = (MAJOR, MINOR)
    snapshot: str
    count: int


@dataclass(frozen=True)
class RecordHash:
    """One record of a snapshot: kind, natural key, content hash, position in the bundle."""

    kind: str
    key: tuple[str, ...]
    hash: str
    position: int

    @property
    def ident(self) -> tuple[str, tuple[str, ...]]:
        return (self.kind, self.key)

    @property
    def label(self) -> str:
        return f"{self.kind} {'/'.join(self.key)}"


class Check(BaseModel):
    """`index/checks/<snapshot id>.<stamp>.json`: a backup found the server as this snapshot."""

    model_config = ConfigDict(extra="ignore")

    format: Literal["pfx-check"] = "pfx-check"
    version: tuple[int, int] = (MAJOR, MINOR)
    snapshot: str
    time: str


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC to the second with `Z`, as bundles write `created`."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """An ISO 8601 time; without an offset it is UTC."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
