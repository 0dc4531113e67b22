"""Bundle encoding, pure: records and manifest to JSON lines and back, with every check.

Layout (schemas/FORMAT.md): line 1 is the Manifest, then one Record per line in bundle order
(kind order of the registry, then natural key). Lines are canonical JSON (sorted keys, no
spaces) ending in "\\n"; each record line's sha256 is in the manifest, and `digest` covers them
all. This module neither reads files nor compresses: bundlefile.py does that.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import orjson
from pydantic import ValidationError

from pfx import __version__
from pfx.errors import BundleError
from pfx.kinds import ORDER, kind_named
from pfx.model import (
    FORMAT_MAJOR,
    FORMAT_MINOR,
    FORMAT_NAME,
    Manifest,
    Partial,
    Record,
    SecretsSummary,
    Skipped,
    Source,
)
from pfx.secrets import MASK, get_path

# The oldest pfx release that reads what this one writes.
READER = "0.1"


@dataclass
class Bundle:
    """A decoded, verified bundle: its manifest and its records, in bundle order."""

    manifest: Manifest
    records: list[Record]
    problems: list[str] = field(default_factory=list)


def sort_records(records: Iterable[Record]) -> list[Record]:
    """Records in bundle order: registry kind order, then natural key (deterministic)."""
    return sorted(records, key=lambda r: (ORDER.get(r.kind, len(ORDER)), r.kind, r.key))


def encode_record(record: Record) -> bytes:
    """One record as a canonical JSON line."""
    return orjson.dumps(record.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS) + b"\n"


def encode_manifest(manifest: Manifest) -> bytes:
    """The manifest as a canonical JSON line."""
    return orjson.dumps(manifest.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS) + b"\n"


def edges_of(records: list[Record]) -> list[tuple[int, int]]:
    """[dependent, dependency] ordinal pairs for every ref whose target is in the bundle."""
    position = {(r.kind, r.key): i for i, r in enumerate(records)}
    edges: set[tuple[int, int]] = set()
    for i, record in enumerate(records):
        for ref in record.refs:
            j = position.get((ref.kind, ref.key))
            if j is not None and j != i:
                edges.add((i, j))
    return sorted(edges)


def build_manifest(
    records: list[Record],
    lines: list[bytes],
    *,
    source: Source,
    created: str,
    secrets: SecretsSummary | None = None,
    skipped: list[Skipped] | None = None,
    selection: Partial | None = None,
) -> Manifest:
    """The manifest for `records` (already in bundle order) and their encoded `lines`."""
    hashes = [hashlib.sha256(line).hexdigest() for line in lines]
    digest = hashlib.sha256(b"".join(lines)).hexdigest()
    counts = dict(Counter(r.kind for r in records))
    # The summary's counts always follow the records (decode checks them).
    slots = {"withheld": 0, "encrypted": 0, "plaintext": 0}
    for record in records:
        if record.secrets:
            slots[record.secrets.mode] += len(record.secrets.fields)
    summary = (secrets or SecretsSummary()).model_copy(update=slots)
    return Manifest(
        version=(FORMAT_MAJOR, FORMAT_MINOR),
        reader=READER,
        pfx_version=__version__,
        created=created,
        source=source,
        secrets=summary,
        counts={name: counts.get(name, 0) for name in ORDER} | counts,
        edges=edges_of(records),
        hashes=hashes,
        digest=digest,
        skipped=skipped or [],
        selection=selection,
    )


def encode(
    records: Iterable[Record],
    *,
    source: Source,
    created: str,
    secrets: SecretsSummary | None = None,
    skipped: list[Skipped] | None = None,
    selection: Partial | None = None,
) -> Iterator[bytes]:
    """Every line of a bundle (manifest first), records sorted into bundle order."""
    ordered = sort_records(records)
    lines = [encode_record(r) for r in ordered]
    manifest = build_manifest(
        ordered,
        lines,
        source=source,
        created=created,
        secrets=secrets,
        skipped=skipped,
        selection=selection,
    )
    yield encode_manifest(manifest)
    yield from lines


def decode_manifest(line: bytes) -> Manifest:
    """The manifest from a bundle's first line; refuses what is not a bundle or too new."""
    try:
        raw = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise BundleError("not a pfx bundle (first line is not JSON)") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT_NAME:
        raise BundleError("not a pfx bundle (no pfx-bundle manifest)")
    version = raw.get("version")
    if (
        not isinstance(version, list)
        or len(version) != 2
        or not all(isinstance(v, int) for v in version)
    ):
        raise BundleError("damaged bundle: manifest has no format version")
    if version[0] > FORMAT_MAJOR:
        need = raw.get("reader") or f"{version[0]}.0"
        raise BundleError(
            f"bundle format {version[0]}.{version[1]} is newer than this pfx {__version__} reads "
            f"(format {FORMAT_MAJOR}.x); upgrade to pfx >= {need}"
        )
    if version[0] < FORMAT_MAJOR:
        # No major before 1 was ever written; a reader knows only its own major's rules.
        raise BundleError(
            f"bundle format {version[0]}.{version[1]} is older than this pfx {__version__} reads "
            f"(format {FORMAT_MAJOR}.x)"
        )
    try:
        return Manifest.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise BundleError(f"damaged bundle: manifest field {where}: {first['msg']}") from None


def decode(lines: Iterable[bytes]) -> Bundle:
    """Decode and verify a bundle from its lines; raises BundleError on the first fault.

    Checks, in order: manifest and version, each record's sha256, record count (truncation),
    whole digest, record schema and kind, bundle order and key uniqueness, counts, edges,
    secret slots (masked values, summary counts).
    """
    it = iter(lines)
    first = next(it, None)
    if first is None:
        raise BundleError("not a pfx bundle (empty)")
    if not first.endswith(b"\n"):
        raise BundleError("damaged bundle: the manifest line is cut short (truncated file)")
    manifest = decode_manifest(first)
    digest = hashlib.sha256()
    records: list[Record] = []
    n = len(manifest.hashes)
    for i, line in enumerate(it):
        if i >= n:
            raise BundleError(f"damaged bundle: more records than the manifest's {n}")
        if not line.endswith(b"\n"):
            raise BundleError(f"damaged bundle: record {i + 1} is cut short (truncated file)")
        if hashlib.sha256(line).hexdigest() != manifest.hashes[i]:
            raise BundleError(
                f"damaged bundle: record {i + 1}{_label_of(line)} does not match its checksum "
                "(edited or corrupt)"
            )
        digest.update(line)
        records.append(_record(line, i))
    if len(records) != n:
        raise BundleError(f"damaged bundle: {len(records)} of {n} records present (truncated file)")
    if digest.hexdigest() != manifest.digest:
        raise BundleError("damaged bundle: records do not match the manifest digest")
    _check_invariants(manifest, records)
    return Bundle(manifest, records)


def _label_of(line: bytes) -> str:
    """` (kind key)` of a record line that failed its checksum, if it still parses: a name
    for the message only, never trusted."""
    try:
        raw = orjson.loads(line)
    except orjson.JSONDecodeError:
        return ""
    if not isinstance(raw, dict):
        return ""
    kind, key = raw.get("kind"), raw.get("key")
    if not isinstance(kind, str) or not isinstance(key, list):
        return ""
    return f" ({kind} {'/'.join(str(k) for k in key)})"


def _record(line: bytes, i: int) -> Record:
    try:
        record = Record.model_validate_json(line)
    except ValidationError as e:
        raise BundleError(
            f"damaged bundle: record {i + 1} is not a valid record: {e.errors()[0]['msg']}"
        ) from None
    kind_named(record.kind)
    return record


def _check_invariants(manifest: Manifest, records: list[Record]) -> None:
    if sort_records(records) != records:
        raise BundleError("damaged bundle: records are not in bundle order")
    seen: set[tuple[str, tuple[str, ...]]] = set()
    for record in records:
        ident = (record.kind, record.key)
        if ident in seen:
            raise BundleError(f"damaged bundle: {record.label} appears twice")
        seen.add(ident)
    counts = Counter(r.kind for r in records)
    # Every kind present must be counted too, not only the kinds the manifest lists.
    for kind in sorted(manifest.counts.keys() | counts.keys()):
        count = manifest.counts.get(kind, 0)
        if counts.get(kind, 0) != count:
            raise BundleError(
                f"damaged bundle: manifest counts {count} {kind}, found {counts.get(kind, 0)}"
            )
    if sorted(map(tuple, manifest.edges)) != edges_of(records):
        raise BundleError("damaged bundle: manifest dependency edges do not match record refs")
    if manifest.selection is not None:
        _check_external(manifest.selection, records)
    _check_secrets(manifest, records)


def _check_external(selection: Partial, records: list[Record]) -> None:
    """A partial bundle declares every record it refers to but does not hold."""
    present = {(r.kind, r.key) for r in records}
    declared = {(e.kind, e.key) for e in selection.external}
    for record in records:
        for ref in record.refs:
            target = (ref.kind, ref.key)
            if not ref.soft and target not in present and target not in declared:
                raise BundleError(
                    f"damaged bundle: {record.label} refers to {ref.kind} {'/'.join(ref.key)}, "
                    "which is neither in the partial bundle nor declared external"
                )


def _check_secrets(manifest: Manifest, records: list[Record]) -> None:
    """Withheld and encrypted values are masked in `data`; the summary counts every slot."""
    found = {"withheld": 0, "encrypted": 0, "plaintext": 0}
    for record in records:
        slot = record.secrets
        if slot is None:
            continue
        found[slot.mode] += len(slot.fields)
        if slot.mode == "encrypted" and not slot.ciphertext:
            raise BundleError(f"damaged bundle: {record.label} has encrypted secrets but no data")
        if slot.mode != "encrypted" and slot.ciphertext:
            raise BundleError(f"damaged bundle: {record.label} has ciphertext in {slot.mode} mode")
        if slot.mode != "plaintext":
            for path in slot.fields:
                if get_path(record.data, path) != MASK:
                    raise BundleError(
                        f"damaged bundle: {record.label} field {path} is {slot.mode} "
                        "but holds a value"
                    )
    summary = manifest.secrets
    for mode, n in found.items():
        if getattr(summary, mode) != n:
            raise BundleError(
                f"damaged bundle: manifest counts {getattr(summary, mode)} {mode} secret "
                f"values, records hold {n}"
            )
    if found["encrypted"] and not (summary.kdf and summary.check):
        raise BundleError("damaged bundle: encrypted secrets but no key derivation in manifest")
