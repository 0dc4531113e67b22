"""The bundle encoding and bundle files: round trips, determinism, and every refusal."""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pfx import bundle, bundlefile
from pfx.errors import BundleError, UsageError
from pfx.escaping import is_safe
from pfx.invariants import PLAIN_KEYS
from pfx.jsontypes import JSON
from pfx.kinds import KINDS
from pfx.model import Manifest, Record, Ref, SecretSlot, SecretsMode, SecretsSummary, Source
from pfx.secrets import MASK
from tests.running import compress

SOURCE = Source(url="http://127.0.0.1:4200/api", profile="test")
CREATED = "2026-01-01T00:00:00Z"
KIND_NAMES = [k.name for k in KINDS]
MODES: list[SecretsMode | None] = [None, "withheld", "encrypted", "plaintext"]
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- strategies -------------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values: st.SearchStrategy[JSON] = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)
# Key parts with unicode, '/', spaces and the empty string.
key_parts = st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from("/ .é日"), max_size=12)
uuids = st.uuids().map(str)
KIND_BY_NAME = {k.name: k for k in KINDS}
TYPED: dict[str, st.SearchStrategy[JSON]] = {
    "str": st.text(max_size=12),
    "int": st.integers(min_value=0, max_value=2**31),
    "number": st.floats(allow_nan=False, allow_infinity=False),
    "bool": st.booleans(),
    "object": st.dictionaries(st.text(max_size=8), json_values, max_size=3),
    "array": st.lists(json_values, max_size=3),
    "any": json_values,
}


def keys(kind: str) -> st.SearchStrategy[tuple[str, ...]]:
    """Natural keys of `kind`: as many parts as its shape says (without control characters
    where Prefect's schema forbids them)."""
    n = KIND_BY_NAME[kind].shape.key
    parts = key_parts.filter(is_safe) if kind in PLAIN_KEYS else key_parts
    return st.lists(parts, min_size=n, max_size=n).map(tuple)


@st.composite
def refs(draw: st.DrawFn) -> Ref:
    """A ref to any kind, keyed as that kind is."""
    kind = draw(st.sampled_from(KIND_NAMES))
    return Ref(
        kind=kind,
        key=draw(keys(kind)),
        id=draw(st.none() | uuids),
        path=draw(st.text(max_size=10)),
        soft=draw(st.booleans()),
        late=draw(st.booleans()),
    )


@st.composite
def records(draw: st.DrawFn) -> Record:
    """A record of a known kind, shaped as its kind's import code reads it, with arbitrary
    other JSON data, refs and maybe a secret slot."""
    kind = draw(st.sampled_from(KIND_NAMES))
    data = draw(st.dictionaries(st.text(max_size=8), json_values, max_size=5))
    for name, spec in KIND_BY_NAME[kind].shape.fields.items():
        parent, _, child = name.rpartition(".")
        if not parent:
            data[name] = draw(TYPED[spec.rstrip("?")])
        elif isinstance(data.get(parent), dict):
            data[parent][child] = draw(TYPED[spec.rstrip("?")])  # type: ignore[index]
    slot = None
    mode = draw(st.sampled_from(MODES))
    if mode is not None:
        fields = draw(
            st.lists(st.sampled_from(["password", "token", "creds"]), unique=True, min_size=1)
        )
        for name in fields:
            data[name] = draw(json_values) if mode == "plaintext" else MASK
        ciphertext = (
            draw(st.binary(min_size=28).map(lambda b: base64.b64encode(b).decode()))
            if mode == "encrypted"
            else None
        )
        slot = SecretSlot(mode=mode, fields=sorted(fields), ciphertext=ciphertext)
    return Record(
        kind=kind,
        key=draw(keys(kind)),
        id=draw(st.none() | uuids),
        data=data,
        refs=draw(st.lists(refs(), max_size=3)),
        secrets=slot,
    )


def agreeing(recs: list[Record]) -> list[Record]:
    """`recs` with each ref's id set to its target's, where the target is among them."""
    ids = {(r.kind, r.key): r.id for r in recs}

    def mend(ref: Ref) -> Ref:
        if (ref.kind, ref.key) in ids:
            return ref.model_copy(update={"id": ids[(ref.kind, ref.key)]})
        return ref

    return [r.model_copy(update={"refs": [mend(f) for f in r.refs]}) for r in recs]


record_lists = st.lists(
    records(),
    max_size=8,
    unique_by=(lambda r: (r.kind, r.key), lambda r: r.id or object()),
).map(agreeing)
SALT = base64.b64encode(bytes(16)).decode()
CHECK = base64.b64encode(bytes(36)).decode()
# "plaintext": the records of a round trip may hold values in clear (a manifest's mode says
# the most a bundle reveals).
KDF = SecretsSummary(
    mode="plaintext",
    kdf={"name": "scrypt", "salt": SALT, "n": 2**15, "r": 8, "p": 1},
    check=CHECK,
)


# --- helpers ----------------------------------------------------------------------------------


def sample() -> list[Record]:
    """A small bundle's records: two kinds, a ref, a withheld secret."""
    return [
        Record(kind="variable", key=("answer",), id=None, data={"name": "answer", "value": 42}),
        Record(
            kind="flow",
            key=("etl",),
            id="0b0c5e2a-6f4e-4b8e-9d7a-3c1f2e4d5a6b",
            data={"name": "etl"},
        ),
        Record(
            kind="variable",
            key=("token",),
            data={"name": "token", "value": MASK},
            refs=[Ref(kind="flow", key=("etl",), id="0b0c5e2a-6f4e-4b8e-9d7a-3c1f2e4d5a6b")],
            secrets=SecretSlot(mode="withheld", fields=["value"]),
        ),
    ]


def lines_of(recs: list[Record], created: str = CREATED) -> list[bytes]:
    return list(bundle.encode(recs, source=SOURCE, created=created, secrets=KDF))


def write_raw(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(compress(b"".join(lines)))
    return path


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "good.pfx"
    bundlefile.write_lines(path, lines_of(sample()))
    return path


def refused(path: Path) -> str:
    """The one-line message read_bundle refuses `path` with."""
    with pytest.raises((BundleError, UsageError)) as e:
        bundlefile.read_bundle(path)
    message = str(e.value)
    assert "\n" not in message
    return message


# --- round trips and determinism --------------------------------------------------------------


@FAST
@given(record_lists)
def test_encode_decode_round_trip(recs: list[Record]) -> None:
    """Any records decode to themselves, in bundle order, with a consistent manifest."""
    decoded = bundle.decode(lines_of(recs))
    assert decoded.records == bundle.sort_records(recs)
    assert sum(decoded.manifest.counts.values()) == len(recs)


@FAST
@given(recs=record_lists)
def test_file_round_trip(tmp_path_factory: pytest.TempPathFactory, recs: list[Record]) -> None:
    """Records survive a trip through a compressed bundle file."""
    path = tmp_path_factory.mktemp("rt") / "b.pfx"
    bundlefile.write_lines(path, bundle.encode(recs, source=SOURCE, created=CREATED, secrets=KDF))
    assert bundlefile.read_bundle(path).records == bundle.sort_records(recs)
    assert bundlefile.read_manifest(path).hashes == bundle.decode(lines_of(recs)).manifest.hashes


@FAST
@given(st.data())
def test_encoding_is_deterministic(data: st.DataObject) -> None:
    """The same records in any input order encode to the same bytes; only `created` varies."""
    recs = data.draw(record_lists)
    shuffled = data.draw(st.permutations(recs))
    assert lines_of(recs) == lines_of(list(shuffled))
    a, b = lines_of(recs), lines_of(list(shuffled), created="2030-06-01T12:00:00Z")
    assert a[1:] == b[1:]
    first, second = orjson.loads(a[0]), orjson.loads(b[0])
    assert first.pop("created") != second.pop("created")
    assert first == second


def test_lines_are_canonical_json() -> None:
    """Each line is sorted-key, space-free JSON ending in one newline, manifest first."""
    lines = lines_of(sample())
    for line in lines:
        assert line.endswith(b"\n") and line.count(b"\n") == 1
        assert orjson.dumps(orjson.loads(line), option=orjson.OPT_SORT_KEYS) + b"\n" == line
    assert orjson.loads(lines[0])["format"] == "pfx-bundle"
    assert [orjson.loads(line)["kind"] for line in lines[1:]] == ["flow", "variable", "variable"]


# --- damage -----------------------------------------------------------------------------------


def test_every_truncation_is_refused(good: Path, tmp_path: Path) -> None:
    """A bundle file cut at any byte offset is refused as damaged, never read as whole."""
    data = good.read_bytes()
    cut = tmp_path / "cut.pfx"
    for offset in range(len(data)):
        cut.write_bytes(data[:offset])
        with pytest.raises(BundleError):
            bundlefile.read_bundle(cut)


def test_verify_streams_with_every_check_of_a_read(good: Path, tmp_path: Path) -> None:
    """`verify` (no record kept) answers the manifest a full read gives, and refuses every
    cut the full read refuses."""
    assert bundlefile.verify_bundle(good) == bundlefile.read_bundle(good).manifest
    data = good.read_bytes()
    cut = tmp_path / "cut.pfx"
    for offset in range(0, len(data), 7):
        cut.write_bytes(data[:offset])
        with pytest.raises(BundleError):
            bundlefile.verify_bundle(cut)


@settings(max_examples=150, deadline=None)
@given(offset=st.integers(min_value=0), flip=st.integers(min_value=1, max_value=255))
def test_flipped_byte_is_refused_or_harmless(
    tmp_path_factory: pytest.TempPathFactory, offset: int, flip: int
) -> None:
    """A changed byte anywhere is refused, unless the decoded content is exactly the original."""
    tmp = tmp_path_factory.mktemp("flip")
    original = tmp / "good.pfx"
    bundlefile.write_lines(original, lines_of(sample()))
    data = bytearray(original.read_bytes())
    data[offset % len(data)] ^= flip
    damaged = tmp / "flipped.pfx"
    damaged.write_bytes(bytes(data))
    try:
        got = bundlefile.read_bundle(damaged)
    except BundleError as e:
        assert "\n" not in str(e)
        return
    # Some header bits (window size) and padding bits do not change what decodes.
    want = bundlefile.read_bundle(original)
    assert (got.manifest, got.records) == (want.manifest, want.records)


def test_hand_edited_record_is_refused_by_name(tmp_path: Path) -> None:
    """A value edited inside a record line is refused, naming the record."""
    lines = lines_of(sample())
    lines[2] = lines[2].replace(b'"value":42', b'"value":43')
    assert b'"value":43' in lines[2]
    message = refused(write_raw(tmp_path / "edited.pfx", lines))
    assert "record 2 (variable answer)" in message and "checksum" in message


def test_edited_manifest_count_is_refused(tmp_path: Path) -> None:
    """A manifest whose count of a kind was changed, or dropped, is refused."""
    lines = lines_of(sample())
    manifest = orjson.loads(lines[0])
    manifest["counts"]["flow"] = 2
    lines[0] = orjson.dumps(manifest) + b"\n"
    assert "manifest counts 2 flow, found 1" in refused(write_raw(tmp_path / "a.pfx", lines))
    del manifest["counts"]["flow"]
    lines[0] = orjson.dumps(manifest) + b"\n"
    assert "manifest counts 0 flow, found 1" in refused(write_raw(tmp_path / "b.pfx", lines))


def forge(recs: list[Record], **changes: JSON) -> list[bytes]:
    """Lines in the given record order with a manifest recomputed to match (a careful forger)."""
    lines = [bundle.encode_record(r) for r in recs]
    manifest = bundle.build_manifest(recs, lines, source=SOURCE, created=CREATED, secrets=KDF)
    raw = manifest.model_dump(mode="json") | changes
    return [orjson.dumps(raw) + b"\n", *lines]


def test_reordered_records_are_refused(tmp_path: Path) -> None:
    """Records swapped in the file are refused, even with checksums recomputed to match."""
    lines = lines_of(sample())
    lines[1], lines[2] = lines[2], lines[1]
    assert "record 1 (variable answer)" in refused(write_raw(tmp_path / "a.pfx", lines))
    recs = bundle.sort_records(sample())
    forged = forge([recs[1], recs[0], recs[2]])
    assert "not in bundle order" in refused(write_raw(tmp_path / "b.pfx", forged))


def test_duplicate_keys_are_refused() -> None:
    """Two records of one kind with one natural key are refused, naming them."""
    twin = Record(kind="flow", key=("etl",), data={"name": "etl", "tags": ["b"]})
    with pytest.raises(BundleError, match="flow etl appears twice"):
        bundle.decode(lines_of([*sample(), twin]))


def test_unknown_kind_is_refused() -> None:
    """A record of a kind this pfx does not know is refused, naming the kind."""
    alien = Record(kind="gizmo", key=("x",), data={})
    with pytest.raises(BundleError, match="unknown kind 'gizmo'"):
        bundle.decode(lines_of([*sample(), alien]))


def test_reader_names_the_newest_kind_present() -> None:
    """`reader` is 0.1 unless a record has a kind appended later (format 1.3: 0.2); a bundle
    with a kind this pfx does not know is refused naming the record and that release."""
    plain = bundle.decode(lines_of(sample())).manifest
    assert plain.version == (1, 4) and plain.reader == "0.1"
    assert plain.counts["saved-search"] == 0
    search = Record(kind="saved-search", key=("late",), data={"name": "late", "filters": []})
    assert bundle.decode(lines_of([*sample(), search])).manifest.reader == "0.2"
    alien = Record(kind="gizmo", key=("x",), data={})
    forged = forge(bundle.sort_records([*sample(), alien]), reader="0.9")
    with pytest.raises(BundleError) as refusal:
        bundle.decode(forged)
    assert "(gizmo x): unknown kind 'gizmo'" in str(refusal.value)
    assert str(refusal.value).endswith("the bundle needs pfx >= 0.9")


def test_forged_edges_are_refused() -> None:
    """Manifest edges that do not follow from the records' refs are refused."""
    with pytest.raises(BundleError, match="edges"):
        bundle.decode(forge(bundle.sort_records(sample()), edges=[[0, 1]]))


def test_unmasked_secret_is_refused() -> None:
    """A withheld secret field that holds a value instead of the mask is refused."""
    recs = bundle.sort_records(sample())
    leaky = recs[2].model_copy(update={"data": {"name": "token", "value": "s3cr3t"}})
    with pytest.raises(BundleError, match=r"\(variable token\) field value is withheld") as e:
        bundle.decode(forge([recs[0], recs[1], leaky]))
    assert "s3cr3t" not in str(e.value)


def test_secret_counts_follow_the_records() -> None:
    """The manifest's secret counts are computed from the slots, and a forged count is refused."""
    manifest = bundle.decode(lines_of(sample())).manifest
    assert (manifest.secrets.withheld, manifest.secrets.encrypted) == (1, 0)
    summary = manifest.secrets.model_dump(mode="json") | {"withheld": 0}
    with pytest.raises(BundleError, match="0 withheld secret values, records hold 1"):
        bundle.decode(forge(bundle.sort_records(sample()), secrets=summary))


def test_extra_record_and_missing_record_are_refused() -> None:
    """A record line beyond the manifest's hashes, or one missing, is refused."""
    lines = lines_of(sample())
    with pytest.raises(BundleError, match="more records than the manifest's 3"):
        bundle.decode([*lines, lines[-1]])
    with pytest.raises(BundleError, match="2 of 3 records present"):
        bundle.decode(lines[:-1])


def test_line_without_newline_is_refused() -> None:
    """A last line or a manifest line without its newline is refused as cut short."""
    lines = lines_of(sample())
    with pytest.raises(BundleError, match="record 3 is cut short"):
        bundle.decode([*lines[:-1], lines[-1].rstrip(b"\n")])
    with pytest.raises(BundleError, match="manifest line is cut short"):
        bundle.decode([lines_of([])[0].rstrip(b"\n")])


def test_trailing_data_is_refused(good: Path, tmp_path: Path) -> None:
    """Bytes or a second zstd frame after the bundle's frame are refused."""
    data = good.read_bytes()
    (tmp_path / "a.pfx").write_bytes(data + b"junk")
    assert "data after the end" in refused(tmp_path / "a.pfx")
    (tmp_path / "b.pfx").write_bytes(data + compress(b"more\n"))
    assert "data after the end" in refused(tmp_path / "b.pfx")


def test_frame_without_checksum_is_refused(tmp_path: Path) -> None:
    """A zstd frame written without its content checksum is refused."""
    content = b"".join(lines_of(sample()))
    path = tmp_path / "nock.pfx"
    path.write_bytes(zstandard.ZstdCompressor(write_checksum=False).compress(content))
    assert "no content checksum" in refused(path)


# --- versions ---------------------------------------------------------------------------------


def with_version(major: int, minor: int, **extra: JSON) -> bytes:
    raw = orjson.loads(lines_of(sample())[0]) | {"version": [major, minor]} | extra
    return orjson.dumps(raw) + b"\n"


def test_newer_major_is_refused_naming_the_reader() -> None:
    """A bundle of a newer major format is refused, naming the pfx release that reads it."""
    with pytest.raises(BundleError) as e:
        bundle.decode_manifest(with_version(2, 1, reader="2.3"))
    assert "bundle format 2.1 is newer" in str(e.value)
    assert "upgrade to pfx >= 2.3" in str(e.value)


def test_older_major_is_refused() -> None:
    """A bundle of a major format older than this reader's is refused."""
    with pytest.raises(BundleError, match=r"bundle format 0\.9 is older"):
        bundle.decode_manifest(with_version(0, 9))


def test_newer_minor_with_new_fields_is_read(tmp_path: Path) -> None:
    """A newer minor version's new optional fields are ignored, in the manifest and records."""
    recs = bundle.sort_records(sample())
    lines = [orjson.dumps(r.model_dump(mode="json") | {"future": {"x": 1}}) + b"\n" for r in recs]
    manifest = bundle.build_manifest(recs, lines, source=SOURCE, created=CREATED, secrets=KDF)
    raw = manifest.model_dump(mode="json") | {"version": [1, 7], "future": True}
    decoded = bundle.decode([orjson.dumps(raw) + b"\n", *lines])
    assert decoded.records == recs
    assert decoded.manifest.version == (1, 7)


# --- not bundles ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "not zstd-compressed"),
        (b"format: pfx-bundle\nhello\n", "not zstd-compressed"),
        (bytes(range(256)) * 4, "not zstd-compressed"),
        (compress(b"\x00\x01 not json\n"), "first line is not JSON"),
        (compress(b'{"hello": "world"}\n'), "no pfx-bundle manifest"),
        (compress(b""), "empty"),
        (compress(b'{"format": "pfx-bundle", "version": "one"}\n'), "no format version"),
    ],
    ids=["empty", "text", "random", "zstd-not-json", "zstd-json", "zstd-empty", "no-version"],
)
def test_not_a_bundle_is_one_line(tmp_path: Path, content: bytes, words: str) -> None:
    """Inputs that are not bundles are refused in one line saying why."""
    path = tmp_path / "input.pfx"
    path.write_bytes(content)
    assert words in refused(path)
    with pytest.raises(BundleError):
        bundlefile.read_manifest(path)


def test_directory_and_missing_file_are_usage_errors(tmp_path: Path) -> None:
    """A directory or a missing path is a usage error, not a traceback."""
    with pytest.raises(UsageError, match="is a directory"):
        bundlefile.read_bundle(tmp_path)
    with pytest.raises(UsageError, match="no such file"):
        bundlefile.read_bundle(tmp_path / "absent.pfx")


def test_damaged_manifest_field_is_one_line() -> None:
    """A manifest with a field of the wrong type is refused, naming the field."""
    raw = orjson.loads(lines_of(sample())[0]) | {"counts": {"flow": "many"}}
    with pytest.raises(BundleError, match=r"manifest field counts\.flow"):
        bundle.decode_manifest(orjson.dumps(raw) + b"\n")


# --- writing ----------------------------------------------------------------------------------


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    """An error in the middle of the lines leaves neither the bundle nor a temporary file."""

    def lines() -> Iterator[bytes]:
        yield from lines_of(sample())[:2]
        raise RuntimeError("source went away")

    with pytest.raises(RuntimeError, match="source went away"):
        bundlefile.write_lines(tmp_path / "snap.pfx", lines())
    assert os.listdir(tmp_path) == []


def test_failed_write_keeps_the_previous_bundle(good: Path) -> None:
    """A failed write over an existing bundle leaves the old bundle whole."""
    before = good.read_bytes()

    def lines() -> Iterator[bytes]:
        yield b"partial\n"
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        bundlefile.write_lines(good, lines())
    assert good.read_bytes() == before
    assert os.listdir(good.parent) == [good.name]


def test_written_file_is_private(good: Path) -> None:
    """A bundle file is created with mode 0600 (it may hold secrets)."""
    assert stat.S_IMODE(good.stat().st_mode) == 0o600


def test_write_into_missing_directory_is_a_usage_error(tmp_path: Path) -> None:
    """Writing into a directory that does not exist is one usage error line."""
    with pytest.raises(UsageError, match="does not exist"):
        bundlefile.write_lines(tmp_path / "nope" / "snap.pfx", lines_of(sample()))


def test_manifest_is_the_decoded_first_line(good: Path) -> None:
    """read_manifest returns the first line's manifest without reading the records."""
    manifest = bundlefile.read_manifest(good)
    assert isinstance(manifest, Manifest)
    assert manifest.counts["flow"] == 1 and len(manifest.hashes) == 3
