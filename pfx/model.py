"""The nouns of a bundle and a report: Record, Ref, SecretSlot, Manifest, Loss (pydantic, no I/O).

JSON Schemas in schemas/ are generated from these models (pfx.schemagen); FORMAT.md explains them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_serializer

from pfx.jsontypes import JSONObject

FORMAT_NAME = "pfx-bundle"
FORMAT_MAJOR = 1
FORMAT_MINOR = 4

SecretsMode = Literal["withheld", "encrypted", "plaintext"]


class Ref(BaseModel):
    """A reference from one record to another, by natural key; `id` is the source id, if any.

    A ref without an id is an ordering edge only (a `{{ prefect.blocks.x.y }}` template names
    its block, it does not hold its id); a ref with an id is also rewritten at import.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    kind: str
    key: tuple[str, ...]
    id: str | None = None
    # Where the reference sits in the record's data, for messages (e.g. "flow_id").
    path: str = ""
    # A soft ref orders creation when its target is present but does not block when it is
    # absent (e.g. a template naming a block that is not in the bundle).
    soft: bool = False
    # A late ref does not order creation: the record is created without it and patched once
    # every record exists (automations that point at themselves or at each other).
    late: bool = False


class SecretSlot(BaseModel):
    """Secret values of one record: which fields, and how their values travel.

    `withheld`: the bundle holds no value; import needs them from a secrets file.
    `encrypted`: `ciphertext` holds the values, AES-256-GCM under a passphrase-derived key.
    `plaintext`: the values sit in the record's data, in clear (an explicit user choice).
    """

    model_config = ConfigDict(extra="ignore")

    mode: SecretsMode
    # Dotted paths into `data` (as the block schema's secret_fields name them, resolved).
    fields: list[str]
    # base64 of the 12-byte nonce followed by the AES-GCM output (ciphertext and tag).
    ciphertext: str | None = None


class Record(BaseModel):
    """One resource of the source: its kind, natural key, source id, server JSON and refs."""

    model_config = ConfigDict(extra="ignore")

    kind: str
    key: tuple[str, ...]
    id: str | None = None
    data: JSONObject
    refs: list[Ref] = Field(default_factory=list)
    secrets: SecretSlot | None = None

    @property
    def label(self) -> str:
        """A short human name: `deployment etl/daily`."""
        return f"{self.kind} {'/'.join(self.key)}"


class Loss(BaseModel):
    """One field of a record that the destination cannot hold: where, its type, and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Dotted path inside the request body, which for most kinds is the record's data.
    field: str
    # The JSON type of the value (never the value: it may be secret).
    value_kind: str
    why: str
    # A flag the server sets on its own resources (a block type's `is_protected`), not data
    # the user made: named like any loss, but it does not make the import incomplete (exit).
    server_set: bool = False


class Source(BaseModel):
    """Where the records came from, without credentials."""

    model_config = ConfigDict(extra="ignore")

    url: str
    profile: str | None = None
    server_version: str | None = None
    api_version: str | None = None
    # Whether the source is a Prefect Cloud workspace; None in bundles written before 1.1.
    cloud: bool | None = None


class SecretsSummary(BaseModel):
    """How secret values travel in this bundle, and how many there are."""

    model_config = ConfigDict(extra="ignore")

    mode: SecretsMode = "withheld"
    withheld: int = 0
    encrypted: int = 0
    plaintext: int = 0
    # Key derivation for `encrypted`: scrypt parameters and salt (base64).
    kdf: dict[str, str | int] | None = None
    # Encrypts a known text so a wrong passphrase is told apart from a tampered record.
    check: str | None = None


class Skipped(BaseModel):
    """A source resource that is not in the bundle, and why (nothing is dropped silently)."""

    model_config = ConfigDict(extra="ignore")

    kind: str
    key: tuple[str, ...]
    reason: str


class External(BaseModel):
    """A record that a partial bundle refers to but does not hold."""

    model_config = ConfigDict(extra="ignore")

    kind: str
    key: tuple[str, ...]


class Partial(BaseModel):
    """How a partial bundle was selected (format 1.2), and what it refers to outside itself."""

    model_config = ConfigDict(extra="ignore")

    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    # Records in the bundle only because a selected record references them.
    dependencies: int = 0
    # Targets of hard refs that are not in the bundle: the destination must already have them.
    external: list[External] = Field(default_factory=list)


class Auth(BaseModel):
    """(1.4) The bundle's authentication: a MAC over its manifest under a key derived from
    the passphrase (sealing.py). Fields a later version adds are kept: they are MACed."""

    model_config = ConfigDict(extra="allow")

    scheme: str
    mac: str


class Manifest(BaseModel):
    """The bundle's first line: format, provenance, counts, edges and checksums."""

    model_config = ConfigDict(extra="ignore")

    # (1.4) Set when the bundle was sealed with a passphrase; null or absent: not
    # authenticated. Sorted first in the line, so the line without it is easy to restore.
    auth: Auth | None = None
    format: Literal["pfx-bundle"] = "pfx-bundle"
    version: tuple[int, int] = (FORMAT_MAJOR, FORMAT_MINOR)
    # The oldest pfx release that reads this format; named when a reader is too old.
    reader: str = "0.1"
    pfx_version: str
    created: str
    source: Source
    secrets: SecretsSummary = Field(default_factory=SecretsSummary)
    counts: dict[str, int]
    # [dependent, dependency] pairs of record ordinals (0-based, in bundle order). A read
    # manifest keeps them packed (checksums.Edges).
    edges: Sequence[tuple[int, int]]
    # sha256 (hex) of each record line, in bundle order; a read manifest keeps them as bytes
    # (checksums.Digests).
    hashes: Sequence[str]
    # sha256 (hex) over all record lines, each with its newline, in bundle order.
    digest: str
    skipped: list[Skipped] = Field(default_factory=list)
    # Set when the export was asked for part of the source (--include/--exclude); None: all.
    selection: Partial | None = None

    # The sha256 of the line as read with `auth` null (what the MAC covers); None when the
    # manifest was not read from a line, or the line is not canonical there.
    _unsealed: bytes | None = PrivateAttr(default=None)

    @property
    def unsealed_sha256(self) -> bytes | None:
        return self._unsealed

    # A read manifest's compact lists are written as the lists they stand for.
    @field_serializer("hashes")
    def _hashes(self, hashes: Sequence[str]) -> list[str]:
        return list(hashes)

    @field_serializer("edges")
    def _edges(self, edges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
        return list(edges)
