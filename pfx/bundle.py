"""Bundle encoding, pure: records and manifest to JSON lines and back, with every check.

Layout (schemas/FORMAT.md): line 1 is the Manifest, then one Record per line in bundle order
(kind order of the registry, then natural key). Lines are canonical JSON (sorted keys, no
spaces) ending in "\\n"; each record line's sha256 is in the manifest, and `digest` covers them
all. This module neither reads files nor compresses: bundlefile.py does that.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import orjson
from pydantic import ValidationError

from pfx import __version__
from pfx.errors import BundleError
from pfx.invariants import check_heads, check_kdf, check_record, check_source
from pfx.jsonline import TooDeep, dump_line, load_line
from pfx.kinds import BY_NAME, ORDER
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
from pfx.records import Head, RecordLines, head_of, record_from

# The oldest pfx release that reads what this one writes, when every record's kind is one
# that release knows (a bundle with records of later kinds names the newest kind's `since`).
READER = "0.1"


@dataclass
class Bundle:
    """A decoded, verified bundle: its manifest and its records, in bundle order.

    `records` is a Sequence[Record]; read from a file it is RecordLines, which keeps each
    record as its line and decodes it on demand (see records.py).
    """

    manifest: Manifest
    records: Sequence[Record]
    problems: list[str] = field(default_factory=list)


def sort_records(records: Iterable[Record]) -> list[Record]:
    """Records in bundle order: registry kind order, then natural key (deterministic)."""
    return sorted(records, key=_order)


def _order(r: Record | Head) -> tuple[int, str, tuple[str, ...]]:
    return (ORDER.get(r.kind, len(ORDER)), r.kind, r.key)


def encode_record(record: Record) -> bytes:
    """One record as a canonical JSON line; TooDeep when its data is nested too deep."""
    return dump_line(record.model_dump(mode="json"))


def encode_manifest(manifest: Manifest) -> bytes:
    """The manifest as a canonical JSON line."""
    return dump_line(manifest.model_dump(mode="json"))


def edges_of(records: Sequence[Record | Head]) -> list[tuple[int, int]]:
    """[dependent, dependency] ordinal pairs for every ref whose target is in the bundle."""
    position = {(r.kind, r.key): i for i, r in enumerate(records)}
    edges: set[tuple[int, int]] = set()
    for i, record in enumerate(records):
        for ref in record.links if isinstance(record, Head) else record.refs:
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
        reader=reader_of(counts),
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


def reader_of(counts: Counter[str] | dict[str, int]) -> str:
    """The oldest pfx release that reads a bundle with these records: READER, or the newest
    `since` of the kinds present (a reader refuses a kind it does not know, rule 8)."""
    releases = [READER] + [BY_NAME[k].since for k, n in counts.items() if n and k in BY_NAME]
    return max(releases, key=lambda r: tuple(int(p) for p in r.split(".")))


def encode(
    records: Iterable[Record],
    *,
    source: Source,
    created: str,
    secrets: SecretsSummary | None = None,
    skipped: list[Skipped] | None = None,
    selection: Partial | None = None,
) -> Iterator[bytes]:
    """Every line of a bundle (manifest first), records sorted into bundle order.

    A record the one JSON writer refuses (nested deeper than a reader reads) is left out and
    named in `skipped` with the reason, so what export writes, import can read.
    """
    kept: list[Record] = []
    lines: list[bytes] = []
    refused: list[Skipped] = []
    for record in sort_records(records):
        try:
            lines.append(encode_record(record))
        except TooDeep as e:
            why = f"its data is {e}, more than a bundle line holds (JSON readers stop there)"
            refused.append(Skipped(kind=record.kind, key=record.key, reason=why))
            continue
        kept.append(record)
    manifest = build_manifest(
        kept,
        lines,
        source=source,
        created=created,
        secrets=secrets,
        skipped=[*(skipped or []), *refused],
        selection=selection,
    )
    yield encode_manifest(manifest)
    yield from lines


def decode_manifest(line: bytes) -> Manifest:
    """The manifest from a bundle's first line; refuses what is not a bundle or too new."""
    # The usual case in one pass, without a dict of the whole manifest beside the model (a
    # large bundle's manifest holds a hash per record); anything else takes the slow path,
    # which says what is wrong.
    try:
        manifest = Manifest.model_validate_json(line)
        if manifest.version[0] == FORMAT_MAJOR:
            return manifest
    except ValueError:
        pass
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

    Checks, in order: manifest (version, source URL, key derivation); per record line its
    sha256, JSON and depth, record schema, kind, and what its kind's import code reads
    (invariants.check_record); then record count (truncation), whole digest, bundle order,
    unique keys and ids, refs, counts, edges and the secrets summary. Records stay resident
    as their lines (RecordLines), each decoded once here and again on demand.
    """
    manifest, kept, heads = _scan(lines, keep=True)
    return Bundle(manifest, RecordLines(kept, heads))


def check(lines: Iterable[bytes]) -> Manifest:
    """Every check of `decode`, keeping no record line: what `verify` needs (a bundle's lines
    are most of what reading it holds)."""
    manifest, _, _ = _scan(lines, keep=False)
    return manifest


def _scan(lines: Iterable[bytes], *, keep: bool) -> tuple[Manifest, list[bytes], list[Head]]:
    it = iter(lines)
    first = next(it, None)
    if first is None:
        raise BundleError("not a pfx bundle (empty)")
    if not first.endswith(b"\n"):
        raise BundleError("damaged bundle: the manifest line is cut short (truncated file)")
    manifest = decode_manifest(first)
    check_source(manifest.source)
    check_kdf(manifest.secrets)
    digest = hashlib.sha256()
    kept: list[bytes] = []
    heads: list[Head] = []
    shared: dict[object, object] = {}
    slots = {"withheld": 0, "encrypted": 0, "plaintext": 0}
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
        record = _record(line, i, manifest.reader)
        check_record(record, i + 1)
        if record.secrets:
            slots[record.secrets.mode] += len(record.secrets.fields)
        if keep:
            kept.append(line)
        heads.append(head_of(record, shared))
    if len(heads) != n:
        raise BundleError(f"damaged bundle: {len(heads)} of {n} records present (truncated file)")
    if digest.hexdigest() != manifest.digest:
        raise BundleError("damaged bundle: records do not match the manifest digest")
    _check_invariants(manifest, heads, slots)
    return manifest, kept, heads


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


def _record(line: bytes, i: int, reader: str) -> Record:
    try:
        record = record_from(load_line(line))
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise BundleError(
            f"damaged bundle: record {i + 1}{_label_of(line)} is not a valid record: "
            f"{where}: {first['msg']}"
        ) from None
    except ValueError as e:
        raise BundleError(f"damaged bundle: record {i + 1}{_label_of(line)} is {e}") from None
    if record.kind not in BY_NAME:
        # A kind appended in a later minor version (rule 8): the writer named who reads it.
        raise BundleError(
            f"record {i + 1} ({record.label}): unknown kind {record.kind!r}; this pfx "
            f"{__version__} knows {', '.join(BY_NAME)}; the bundle needs pfx >= {reader}"
        )
    return record


def _check_invariants(manifest: Manifest, heads: list[Head], slots: dict[str, int]) -> None:
    if any(_order(a) > _order(b) for a, b in pairwise(heads)):
        raise BundleError("damaged bundle: records are not in bundle order")
    check_heads(heads)
    counts = Counter(h.kind for h in heads)
    # Every kind present must be counted too, not only the kinds the manifest lists.
    for kind in sorted(manifest.counts.keys() | counts.keys()):
        count = manifest.counts.get(kind, 0)
        if counts.get(kind, 0) != count:
            raise BundleError(
                f"damaged bundle: manifest counts {count} {kind}, found {counts.get(kind, 0)}"
            )
    if sorted(map(tuple, manifest.edges)) != edges_of(heads):
        raise BundleError("damaged bundle: manifest dependency edges do not match record refs")
    summary = manifest.secrets
    for mode, found in slots.items():
        if getattr(summary, mode) != found:
            raise BundleError(
                f"damaged bundle: manifest counts {getattr(summary, mode)} {mode} secret "
                f"values, records hold {found}"
            )
    if slots["encrypted"] and not (summary.kdf and summary.check):
        raise BundleError("damaged bundle: encrypted secrets but no key derivation in manifest")
    if manifest.selection is not None:
        _check_external(manifest.selection, heads)


def _check_external(selection: Partial, heads: list[Head]) -> None:
    """A partial bundle declares every record it refers to but does not hold (rule 23)."""
    present = {(h.kind, h.key) for h in heads}
    declared = {(e.kind, e.key) for e in selection.external}
    for head in heads:
        for ref in head.links:
            target = (ref.kind, ref.key)
            if not ref.soft and target not in present and target not in declared:
                raise BundleError(
                    f"damaged bundle: {head.label} refers to {ref.kind} {'/'.join(ref.key)}, "
                    "which is neither in the partial bundle nor declared external"
                )
