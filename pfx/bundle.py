"""Bundle encoding, pure: records and manifest to JSON lines and back, with every check.

Layout (schemas/FORMAT.md): line 1 is the Manifest, then one Record per line in bundle order
(kind order of the registry, then natural key). Lines are canonical JSON (sorted keys, no
spaces) ending in "\\n"; each record line's sha256 is in the manifest, and `digest` covers them
all. This module neither reads files nor compresses: bundlefile.py does that.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from pfx import __version__
from pfx.census import Census, Reread
from pfx.checksums import Digests, cut_lists
from pfx.errors import BundleError
from pfx.escaping import safe_text
from pfx.invariants import check_auth, check_kdf, check_record, check_source, check_totals
from pfx.jsonline import TooDeep, TooLarge, dump_line, elements_bound, load_line
from pfx.kinds import BY_NAME, ORDER
from pfx.limits import MAX_ELEMENTS, ReadLimits
from pfx.model import (
    FORMAT_MAJOR,
    FORMAT_MINOR,
    FORMAT_NAME,
    Auth,
    Manifest,
    Partial,
    Record,
    SecretsSummary,
    Skipped,
    Source,
)
from pfx.records import Head, RecordLines, head_of, label_of, read_record
from pfx.sealing import SCHEME, Keys, mac, unsealed_hash

# The oldest pfx release that reads what this one writes, when every record's kind is one
# that release knows (a bundle with records of later kinds names the newest kind's `since`).
READER = "0.1"
# ... and of a bundle sealed with a passphrase (format 1.4: subkeys, associated data, MAC).
READER_AUTH = "0.3"


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
    return max(releases, key=_release)


def _release(name: str) -> tuple[int, ...]:
    return tuple(int(p) for p in name.split("."))


def encode(
    records: Iterable[Record],
    *,
    source: Source,
    created: str,
    secrets: SecretsSummary | None = None,
    skipped: list[Skipped] | None = None,
    selection: Partial | None = None,
    keys: Keys | None = None,
) -> Iterator[bytes]:
    """Every line of a bundle (manifest first), records sorted into bundle order; sealed
    (the manifest's `auth`) when `keys` can authenticate.

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
    if keys is not None and keys.authentication is not None:
        manifest.reader = max(manifest.reader, READER_AUTH, key=_release)
        unsealed = hashlib.sha256(encode_manifest(manifest)).digest()
        manifest.auth = Auth(scheme=SCHEME, mac=mac(keys, unsealed))
    yield encode_manifest(manifest)
    yield from lines


def decode_manifest(line: bytes, limits: ReadLimits | None = None) -> Manifest:
    """The manifest from a bundle's first line; refuses what is not a bundle, too new, or more
    than a reader reads (`limits`: how many records and JSON values its file may claim)."""
    limits = limits or ReadLimits()
    # The usual case without a Python object per record: hashes and edges are cut out of the
    # line and kept compact (checksums.py), the rest parsed in one pass. Anything else takes
    # the slow path, which says what is wrong.
    cut = cut_lists(line)
    if cut is not None:
        rest, digests, edges = cut
        try:
            if elements_bound(rest) > MAX_ELEMENTS:
                raise ValueError
            manifest = Manifest.model_validate_json(rest)
            if manifest.version[0] == FORMAT_MAJOR and not manifest.hashes and not manifest.edges:
                manifest.hashes, manifest.edges = digests, edges
                return _checked(manifest, line, limits)
        except ValueError:
            pass
    try:
        raw = load_line(line, limits.manifest_elements)
    except TooLarge as e:
        raise BundleError(f"damaged bundle: the manifest holds {e}") from None
    except ValueError:
        raise BundleError("not a pfx bundle (first line is not JSON)") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT_NAME:
        raise BundleError("not a pfx bundle (no pfx-bundle manifest)")
    version = raw.get("version")
    major, minor = version if isinstance(version, list) and len(version) == 2 else (None, None)
    if not isinstance(major, int) or not isinstance(minor, int):
        raise BundleError("damaged bundle: manifest has no format version")
    if major > FORMAT_MAJOR:
        need = raw.get("reader") or f"{major}.0"
        raise BundleError(
            f"bundle format {major}.{minor} is newer than this pfx {__version__} reads "
            f"(format {FORMAT_MAJOR}.x); upgrade to pfx >= {safe_text(str(need))}"
        )
    if major < FORMAT_MAJOR:
        # No major before 1 was ever written; a reader knows only its own major's rules.
        raise BundleError(
            f"bundle format {major}.{minor} is older than this pfx {__version__} reads "
            f"(format {FORMAT_MAJOR}.x)"
        )
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise BundleError(
            f"damaged bundle: manifest field {safe_text(where)}: {first['msg']}"
        ) from None
    return _checked(manifest, line, limits)


def _checked(manifest: Manifest, line: bytes, limits: ReadLimits) -> Manifest:
    """`manifest` read from `line`, with the hash its authentication covers; refused when
    it lists more records than its file can hold (limits.BYTES_PER_RECORD a record)."""
    if limits.records is not None and len(manifest.hashes) > limits.records:
        raise BundleError(
            f"damaged bundle: the manifest lists {len(manifest.hashes)} records, more than a "
            f"file of {limits.size} bytes can hold (a reader's limit)"
        )
    auth = manifest.auth.model_dump() if manifest.auth is not None else None
    manifest._unsealed = unsealed_hash(line, auth)
    return manifest


def decode(lines: Iterable[bytes], limits: ReadLimits | None = None) -> Bundle:
    """Decode and verify a bundle from its lines; raises BundleError on the first fault.

    Checks, in order: manifest (version, size, source URL, key derivation); per record line
    its sha256, JSON, size and depth, record schema, kind, and what its kind's import code
    reads (invariants.check_record); bundle order and unique keys as they come; then record
    count (truncation), whole digest, counts, secrets summary, and across records (census.py)
    unique ids, refs, edges and declared outside refs. Records stay resident as their lines
    (RecordLines), each decoded once here and again on demand.
    """
    kept: list[bytes] = []
    manifest, heads = _scan(lines, limits, kept)
    return Bundle(manifest, RecordLines(kept, heads))


def check(
    lines: Iterable[bytes],
    limits: ReadLimits | None = None,
    reread: Callable[[], Iterable[bytes]] | None = None,
    visit: Callable[[Record], object] | None = None,
) -> Manifest:
    """Every check of `decode`, keeping no record line: what `verify` needs. `reread` gives
    the lines again, only to name the records of a failed check; without it the lines are
    held in a list (as tests hand them over). `visit` sees each record once it is checked
    (verify decrypts encrypted values there)."""
    if reread is None:
        lines = lines if isinstance(lines, list) else list(lines)
        manifest, _ = _scan(lines, limits, None, lambda i: read_record(lines[i + 1], i, ""), visit)
        return manifest

    def again(i: int) -> Record:
        for n, line in enumerate(reread()):
            if n == i + 1:
                return read_record(line, i, "")
        raise BundleError(f"damaged bundle: record {i + 1} is gone on a second read")

    manifest, _ = _scan(lines, limits, None, again, visit)
    return manifest


def _scan(
    lines: Iterable[bytes],
    limits: ReadLimits | None,
    kept: list[bytes] | None,
    reread: Reread | None = None,
    visit: Callable[[Record], object] | None = None,
) -> tuple[Manifest, list[Head]]:
    """Read and check every line; keep each record line in `kept` (and its head) when given."""
    it = iter(lines)
    first = next(it, None)
    if first is None:
        raise BundleError("not a pfx bundle (empty)")
    if not first.endswith(b"\n"):
        raise BundleError("damaged bundle: the manifest line is cut short (truncated file)")
    manifest = decode_manifest(first, limits)
    del first  # a large bundle's manifest line is most of its first megabytes
    check_source(manifest.source)
    check_kdf(manifest.secrets)
    check_auth(manifest)
    digest = hashlib.sha256()
    heads: list[Head] = []
    shared: dict[object, object] = {}
    census = Census()
    counts: Counter[str] = Counter()
    slots = {"withheld": 0, "encrypted": 0, "plaintext": 0}
    hashes = manifest.hashes
    n = len(hashes)
    previous: tuple[int, str, tuple[str, ...]] | None = None
    for i, line in enumerate(it):
        if i >= n:
            raise BundleError(f"damaged bundle: more records than the manifest's {n}")
        if not line.endswith(b"\n"):
            raise BundleError(f"damaged bundle: record {i + 1} is cut short (truncated file)")
        sha = hashlib.sha256(line)
        if not _same(sha, hashes, i):
            raise BundleError(
                f"damaged bundle: record {i + 1}{label_of(line)} does not match its checksum "
                "(edited or corrupt)"
            )
        digest.update(line)
        record = read_record(line, i, manifest.reader)
        check_record(record, i + 1)
        if visit is not None:
            visit(record)
        order = _order(record)
        if previous is not None and previous >= order:
            if previous == order:
                raise BundleError(f"damaged bundle: {safe_text(record.label)} appears twice")
            raise BundleError("damaged bundle: records are not in bundle order")
        previous = order
        counts[record.kind] += 1
        if record.secrets:
            slots[record.secrets.mode] += len(record.secrets.fields)
        census.add(record)
        if kept is not None:
            kept.append(line)
            heads.append(head_of(record, shared))
    if len(census) != n:
        raise BundleError(f"damaged bundle: {len(census)} of {n} records present (truncated file)")
    if digest.hexdigest() != manifest.digest:
        raise BundleError("damaged bundle: records do not match the manifest digest")
    check_totals(manifest, counts, slots)
    if reread is None:
        assert kept is not None
        records = kept

        def reread(i: int) -> Record:
            return read_record(records[i], i, "")

    census.check(manifest.edges, manifest.selection, reread)
    return manifest, heads


def _same(sha: hashlib._Hash, hashes: Sequence[str], i: int) -> bool:
    if isinstance(hashes, Digests):
        return sha.digest() == hashes.digest(i)
    return sha.hexdigest() == hashes[i]
