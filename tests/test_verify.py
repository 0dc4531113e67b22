"""`pfx verify` checks every invariant import relies on: refusals by name, fuzzed files, and
mutated bundles that verify accepts never make `import --dry-run` (or a kind's code) fail."""

from __future__ import annotations

import base64
import hashlib
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from fixtures.seed import SeedInfo
from fixtures.servers import Server
from pfx import bundle, bundlefile
from pfx.cli import cli
from pfx.errors import BundleError
from pfx.jsonline import MAX_DEPTH, TooDeep, dump_line, load_line
from pfx.jsontypes import JSON, JSONObject
from pfx.kinds import BY_NAME, KINDS
from pfx.kinds.base import Destination
from pfx.model import Record, Ref, SecretSlot, SecretsSummary, Source
from pfx.render import Rendering, render
from pfx.secrets import MASK
from tests.running import ok

SOURCE = Source(url="http://127.0.0.1:4200/api", profile="test")
CREATED = "2026-01-01T00:00:00Z"
FLOW_ID = "0b0c5e2a-6f4e-4b8e-9d7a-3c1f2e4d5a6b"
POOL_ID = "5f3d1c2b-0a9e-4d8c-8b7a-6e5f4d3c2b1a"
SALT = base64.b64encode(bytes(range(16))).decode()
CHECK = base64.b64encode(bytes(40)).decode()
SCRYPT: JSONObject = {"name": "scrypt", "salt": SALT, "n": 2**15, "r": 8, "p": 1}


def sample() -> list[Record]:
    """A flow, a work pool, its queue and a deployment: every ref resolved in the bundle."""
    return [
        Record(kind="flow", key=("etl",), id=FLOW_ID, data={"name": "etl"}),
        Record(kind="work-pool", key=("pool",), id=POOL_ID, data={"name": "pool", "type": "x"}),
        Record(
            kind="work-queue",
            key=("pool", "q"),
            data={"name": "q"},
            refs=[Ref(kind="work-pool", key=("pool",), id=POOL_ID, path="work_pool_id")],
        ),
        Record(
            kind="deployment",
            key=("etl", "daily"),
            data={"name": "daily", "flow_id": FLOW_ID},
            refs=[Ref(kind="flow", key=("etl",), id=FLOW_ID, path="flow_id")],
        ),
    ]


def forge(
    recs: list[Record], *, source: Source = SOURCE, kdf: JSONObject | None = None
) -> list[bytes]:
    """Bundle lines for `recs` with every checksum and count recomputed (a careful forger)."""
    recs = bundle.sort_records(recs)
    lines = [bundle.encode_record(r) for r in recs]
    summary = SecretsSummary(mode="encrypted", kdf=kdf, check=CHECK) if kdf else None
    manifest = bundle.build_manifest(recs, lines, source=source, created=CREATED, secrets=summary)
    return [bundle.encode_manifest(manifest), *lines]


def refusal(lines: list[bytes]) -> str:
    with pytest.raises(BundleError) as e:
        bundle.decode(lines)
    assert "\n" not in str(e.value)
    return str(e.value)


def with_data(i: int, data: JSONObject, **extra: object) -> list[Record]:
    recs = sample()
    recs[i] = recs[i].model_copy(update={"data": data, **extra})
    return recs


# --- refusals, by name ------------------------------------------------------------------------


def test_sample_is_accepted() -> None:
    """The sample bundle passes every check (so each refusal below is the one change)."""
    assert len(bundle.decode(forge(sample())).records) == 4


def test_empty_data_is_refused_naming_record_and_field() -> None:
    """A deployment with `data: {}` is refused, naming the record and the missing field."""
    message = refusal(forge(with_data(3, {})))
    assert "(deployment etl/daily) data field 'name' is missing" in message


def test_retyped_field_is_refused() -> None:
    """A field the kind's code reads with the wrong JSON type is refused, naming its type."""
    message = refusal(forge(with_data(1, {"name": "pool", "type": 7})))
    assert "(work-pool pool) data field 'type' is not str" in message


def test_key_of_wrong_arity_is_refused() -> None:
    """A one-part work-queue key (two parts expected) is refused, naming the arity."""
    recs = sample()
    recs[2] = recs[2].model_copy(update={"key": ("q",)})
    assert "work-queue keys have 2" in refusal(forge(recs))


def test_ref_key_of_wrong_arity_or_unknown_kind_is_refused() -> None:
    """Refs are keyed as their target kind is, and name a known kind."""
    recs = sample()
    recs[3] = recs[3].model_copy(update={"refs": [Ref(kind="flow", key=("etl", "x"))]})
    assert "flow keys have 1" in refusal(forge(recs))
    recs[3] = recs[3].model_copy(update={"refs": [Ref(kind="gizmo", key=("x",))]})
    assert "unknown kind 'gizmo'" in refusal(forge(recs))


def test_duplicate_source_ids_are_refused() -> None:
    """Two records with one source id are refused, naming both."""
    recs = sample()
    recs[2] = recs[2].model_copy(update={"id": FLOW_ID})
    message = refusal(forge(recs))
    assert "flow etl and work-queue pool/q have the same source id" in message


def test_ref_whose_id_names_another_record_is_refused() -> None:
    """A ref whose key and id name different records is refused (import would mix them)."""
    recs = sample()
    bad = Ref(kind="flow", key=("etl",), id=POOL_ID, path="flow_id")
    recs[3] = recs[3].model_copy(update={"refs": [bad]})
    assert "by id " + POOL_ID + ", which is work-pool pool's" in refusal(forge(recs))


def test_non_uuid_id_is_refused() -> None:
    """Source ids are UUIDs: import rewrites them wherever they occur, also in strings."""
    recs = sample()
    recs[0] = recs[0].model_copy(update={"id": "a"})
    assert "id that is not a UUID" in refusal(forge(recs))


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://user:pw@127.0.0.1:4200/api", "user:password@"),
        ("https://api.example.com/api?api_key=abc", "query api_key"),
        ("https://api.example.com/api?token=abc", "query token"),
    ],
)
def test_credentials_in_source_url_are_refused(url: str, words: str) -> None:
    """A source URL holding credentials (userinfo, keys in the query) is refused."""
    message = refusal(forge(sample(), source=Source(url=url)))
    assert words in message
    assert "pw" not in message.replace("password", "") and "abc" not in message


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"name": "argon2"}, "kdf.name is 'argon2'"),
        ({"n": 2**23}, "kdf.n is 8388608"),
        ({"n": 2**62}, "kdf.n is 4611686018427387904"),
        ({"n": 3000}, "not a power of two"),
        ({"r": 0}, "kdf.r is 0"),
        ({"p": "1"}, "kdf.p is '1'"),
        ({"n": 2**20, "r": 32}, "more than pfx spends"),
        ({"salt": "not base64!"}, "kdf.salt"),
    ],
)
def test_kdf_must_be_bounded_scrypt(change: JSONObject, words: str) -> None:
    """Key derivation other than scrypt, or scrypt parameters out of bounds, are refused by
    name before any passphrase is asked for (N=2^23 took 34 s and 8.4 GB; 2^62 panicked)."""
    assert words in refusal(forge(sample(), kdf=SCRYPT | change))


def test_bounded_kdf_is_accepted() -> None:
    """pfx's own parameters are within the bounds."""
    assert bundle.decode(forge(sample(), kdf=SCRYPT)).manifest.secrets.kdf == SCRYPT


def test_encrypted_slot_with_garbage_ciphertext_is_refused() -> None:
    """An encrypted slot's ciphertext must be base64 of a nonce, ciphertext and tag."""
    slot = SecretSlot(mode="encrypted", fields=["value"], ciphertext="!!")
    recs = [
        *sample(),
        Record(kind="variable", key=("v",), data={"name": "v", "value": MASK}, secrets=slot),
    ]
    assert "(variable v) has encrypted secrets that are not base64" in refusal(
        forge(recs, kdf=SCRYPT)
    )


@pytest.mark.parametrize(
    ("record", "words"),
    [
        (
            Record(kind="variable", key=("a\nb",), data={"name": "a\nb"}),
            "a variable key with a control character",
        ),
        (
            Record(
                kind="block-document",
                key=("secret", "db\x1b[2J"),
                data={"name": "db", "data": {}},
            ),
            "a block-document key with a control character",
        ),
        (
            Record(kind="global-concurrency-limit", key=("g",), data={"name": "g", "limit": "1;x"}),
            "data field 'limit' is not int",
        ),
        (
            Record(
                kind="global-concurrency-limit",
                key=("g",),
                data={"name": "g", "limit": 1, "slot_decay_per_second": "$(x)"},
            ),
            "data field 'slot_decay_per_second' is not number",
        ),
        (
            Record(
                kind="deployment",
                key=("etl", "d"),
                data={
                    "name": "d",
                    "flow_id": FLOW_ID,
                    "global_concurrency_limit": {"name": "deployment:x", "limit": "3"},
                },
            ),
            "data field 'global_concurrency_limit.limit' is not int",
        ),
    ],
    ids=["variable-newline", "block-escape", "limit", "decay", "own-limit"],
)
def test_what_no_server_lists_is_refused(record: Record, words: str) -> None:
    """Control characters in keys whose characters Prefect's schema restricts, and limits
    that are not numbers, are refused by name."""
    assert words in refusal(forge([*sample(), record]))


def test_a_secrets_mode_that_disagrees_with_the_records_is_refused() -> None:
    """A manifest that says "withheld" over a record that holds its value in clear."""
    slot = SecretSlot(mode="plaintext", fields=["value"])
    recs = [
        *sample(),
        Record(kind="variable", key=("v",), data={"name": "v", "value": "hunter2"}, secrets=slot),
    ]
    lines = forge(recs)
    assert "the manifest says secrets are withheld, but records hold 1 plaintext" in refusal(lines)


# --- depth: one writer, one reader ------------------------------------------------------------


def nested(depth: int) -> JSON:
    value: JSON = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def test_writer_and_reader_share_one_depth_limit() -> None:
    """What the writer writes the reader reads; one level more, both refuse."""
    assert dump_line(nested(MAX_DEPTH))
    with pytest.raises(TooDeep):
        dump_line(nested(MAX_DEPTH + 1))
    assert load_line(dump_line(nested(MAX_DEPTH))) == nested(MAX_DEPTH)
    deeper = b'{"a":' * (MAX_DEPTH + 1) + b"1" + b"}" * (MAX_DEPTH + 1) + b"\n"
    with pytest.raises(TooDeep):
        load_line(deeper)


def test_too_deep_record_is_skipped_by_name_at_export() -> None:
    """A record nested deeper than a line holds is left out and named in `skipped`."""
    deep = Record(kind="variable", key=("deep",), data={"name": "deep", "value": nested(253)})
    lines = list(bundle.encode([*sample(), deep], source=SOURCE, created=CREATED))
    decoded = bundle.decode(lines)
    assert len(decoded.records) == 4
    [skipped] = decoded.manifest.skipped
    assert (skipped.kind, skipped.key) == ("variable", ("deep",))
    assert f"nested deeper than {MAX_DEPTH} levels" in skipped.reason


def test_too_deep_line_is_refused_naming_the_record() -> None:
    """A record line nested deeper than the limit (written by another tool) is refused."""
    recs = sample()
    lines = [bundle.encode_record(r) for r in recs]
    raw = orjson.loads(lines[0])
    raw["data"]["x"] = nested(MAX_DEPTH - 1)
    deep = orjson.dumps(raw["data"]["x"])
    lines[0] = lines[0].replace(b'"name":"etl"', b'"name":"etl","x":' + deep, 1)
    manifest = bundle.build_manifest(recs, lines, source=SOURCE, created=CREATED)
    message = refusal([bundle.encode_manifest(manifest), *lines])
    assert "record 1 (flow etl) is nested deeper than" in message


# --- fuzzed reader ----------------------------------------------------------------------------


def verify_cli(path: Path) -> Result:
    return CliRunner().invoke(cli, ["verify", str(path)])


def assert_clean(result: Result, codes: tuple[int, ...]) -> None:
    """Exit with one of `codes`; a failure says one line, never a traceback."""
    assert result.exit_code in codes, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    if result.exit_code:
        assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


@settings(max_examples=60, deadline=None)
@given(
    junk=st.binary(max_size=300),
    cut=st.integers(min_value=0),
    flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(1, 255)), max_size=3),
)
def test_fuzzed_files_are_one_line_refusals(
    tmp_path_factory: pytest.TempPathFactory,
    junk: bytes,
    cut: int,
    flips: list[tuple[int, int]],
) -> None:
    """Random bytes, truncations and flipped bytes of a bundle: verify exits 0 or 2 in one
    line, never a traceback."""
    where = tmp_path_factory.mktemp("fuzz")
    good = b"".join(forge(sample(), kdf=SCRYPT))
    import zstandard

    data = bytearray(zstandard.ZstdCompressor(write_checksum=True).compress(good))
    for offset, flip in flips:
        data[offset % len(data)] ^= flip
    for name, content in (
        ("junk", junk),
        ("cut", bytes(data[: cut % (len(data) + 1)])),
        ("plain", zstandard.ZstdCompressor(write_checksum=True).compress(junk + b"\n")),
    ):
        path = where / f"{name}.pfx"
        path.write_bytes(content)
        assert_clean(verify_cli(path), (0, 2))


# --- mutated real bundles: verify's verdict holds for import ----------------------------------

MUTATIONS = (
    "drop-field",
    "retype-field",
    "empty-data",
    "short-key",
    "long-key",
    "kind",
    "ref-key",
    "ref-kind",
    "ref-id",
    "same-id",
    "slot",
    "kdf",
    "url",
    "hostile-text",
)
# Strings that would become code, steps, templates or terminal paint if rendered raw.
HOSTILE: list[JSON] = [
    "d\n}\npwned\nf() { #",
    "x\nbuild:\n- prefect.deployments.steps.run_shell_script:\n    script: pwned\n#",
    "x\u2028pull: [pwned]\x85#",
    "\x1b[2K\rsecrets: none",
    "{{ $AWS_SECRET_ACCESS_KEY }}",
    "-x",
    {"$secret": "AWS_SECRET_ACCESS_KEY"},
]
ODD: list[JSON] = [None, 0, -1, 1.5, True, "", "x", [], {}, ["x"], {"a": None}]


def mutate(draw: st.DrawFn, raws: list[JSONObject], manifest: JSONObject) -> None:
    """Apply one drawn mutation to the raw records or manifest, in place."""
    what = draw(st.sampled_from(MUTATIONS))
    raw = raws[draw(st.integers(0, len(raws) - 1))]
    data = raw["data"] if isinstance(raw.get("data"), dict) else {}
    fields = sorted(data)
    if what == "drop-field" and fields:
        del data[draw(st.sampled_from(fields))]
    elif what == "retype-field" and fields:
        data[draw(st.sampled_from(fields))] = draw(st.sampled_from(ODD))
    elif what == "empty-data":
        raw["data"] = {}
    elif what in ("short-key", "long-key"):
        key = list(raw["key"]) if isinstance(raw["key"], list) else []
        raw["key"] = key[:-1] if what == "short-key" else [*key, "extra"]
    elif what == "kind":
        raw["kind"] = draw(st.sampled_from([k.name for k in KINDS]))
    elif what.startswith("ref-") and raw.get("refs"):
        refs = raw["refs"]
        assert isinstance(refs, list)
        ref = refs[draw(st.integers(0, len(refs) - 1))]
        assert isinstance(ref, dict)
        if what == "ref-key":
            ref["key"] = draw(st.sampled_from([[], ["a"], ["a", "b"], ["<missing>", "x"]]))
        elif what == "ref-kind":
            ref["kind"] = draw(st.sampled_from([k.name for k in KINDS]))
        else:
            other = raws[draw(st.integers(0, len(raws) - 1))]
            ref["id"] = other.get("id")
    elif what == "same-id":
        raw["id"] = raws[draw(st.integers(0, len(raws) - 1))].get("id")
    elif what == "slot":
        raw["secrets"] = draw(
            st.sampled_from(
                [
                    None,
                    {"mode": "withheld", "fields": ["value"]},
                    {"mode": "plaintext", "fields": ["data.x"]},
                    {"mode": "encrypted", "fields": ["value"], "ciphertext": CHECK},
                    {"mode": "encrypted", "fields": [], "ciphertext": "x"},
                ]
            )
        )
        if raw["secrets"] and raw["secrets"]["mode"] != "plaintext":
            data["value"] = MASK
            raw["data"] = data
    elif what == "kdf":
        secrets = manifest["secrets"]
        assert isinstance(secrets, dict)
        change = draw(
            st.sampled_from(
                [
                    {"name": "argon2"},
                    {"n": 2**23},
                    {"n": 2**62},
                    {"n": -1},
                    {"r": 0},
                    {"p": 2**40},
                    {"salt": "%%"},
                    {"n": "big"},
                ]
            )
        )
        kdf = secrets.get("kdf") if isinstance(secrets.get("kdf"), dict) else dict(SCRYPT)
        assert isinstance(kdf, dict)
        secrets["kdf"] = kdf | change
    elif what == "hostile-text":
        value = draw(st.sampled_from(HOSTILE))
        where = draw(st.sampled_from(["key", "name", "description", "version", "limit"]))
        if where == "key" and isinstance(raw.get("key"), list) and isinstance(value, str):
            raw["key"] = [*raw["key"][:-1], value]
        else:
            data[where] = value
            raw["data"] = data
    elif what == "url":
        source = manifest["source"]
        assert isinstance(source, dict)
        source["url"] = draw(
            st.sampled_from(["http://u:p@127.0.0.1:1/api", "http://h/api?api_key=k", "::"])
        )


def reencode(raws: list[JSONObject], manifest: JSONObject) -> bytes:
    """The bundle content for mutated raws, with order, counts, edges and checksums
    recomputed where the records still validate (so the deeper checks are reached)."""
    try:
        recs = bundle.sort_records(Record.model_validate(r) for r in raws)
        lines = [bundle.encode_record(r) for r in recs]
        summary = SecretsSummary.model_validate(manifest["secrets"])
        source = Source.model_validate(manifest["source"])
        fresh = bundle.build_manifest(
            recs, lines, source=source, created=CREATED, secrets=summary
        ).model_dump(mode="json")
        fresh["secrets"] = manifest["secrets"] | {
            k: fresh["secrets"][k] for k in ("withheld", "encrypted", "plaintext")
        }
        manifest = fresh
    except (ValidationError, TypeError, ValueError):
        lines = [orjson.dumps(r, option=orjson.OPT_SORT_KEYS) + b"\n" for r in raws]
        manifest = manifest | {
            "hashes": [hashlib.sha256(line).hexdigest() for line in lines],
            "digest": hashlib.sha256(b"".join(lines)).hexdigest(),
            "counts": dict(Counter(str(r.get("kind")) for r in raws)),
        }
    return orjson.dumps(manifest, option=orjson.OPT_SORT_KEYS) + b"\n" + b"".join(lines)


def exercise_kinds(recs: list[Record]) -> None:
    """Every kind's pure import code on every record, as import would call it."""
    dest: JSONObject = {"id": POOL_ID, "name": "n", "flow_id": FLOW_ID, "schedules": []}
    for record in recs:
        kind = BY_NAME[record.kind]
        kind.unsupported(record, Destination())
        kind.create(record, record.data)
        kind.update(record, record.data, dest)
        if kind.late is not None:
            kind.late(record, record.data, POOL_ID)
        if kind.early is not None:
            kind.early(record.data)


def check_rendered(rendering: Rendering) -> None:
    """What `pfx render` made of accepted records is inert: Prefect's prefect.yaml loader
    finds no step pfx did not write, and no `{{ }}` that `prefect deploy` would resolve (the
    render itself reads every file back and refuses what is not pfx's)."""
    import io

    from prefect.cli.deploy._config import _load_deploy_configs_and_actions
    from rich.console import Console

    from pfx.render.templates import templated_paths

    with tempfile.TemporaryDirectory() as where:
        path = Path(where) / "prefect.yaml"
        path.write_text(rendering.files["prefect.yaml"])
        configs, actions = _load_deploy_configs_and_actions(
            path, console=Console(file=io.StringIO())
        )
    assert actions == {"build": [], "push": [], "pull": None}
    for config in configs:
        assert not templated_paths({k: v for k, v in config.items() if k != "pull"})


def test_mutated_bundles_verify_or_refuse_and_never_crash_import(
    seeded_source: tuple[Server, SeedInfo],
    new_server: Callable[[str], Server],
    profiles_env: Callable[..., dict[str, str]],
    tmp_path: Path,
) -> None:
    """A real bundle mutated (fields deleted or retyped, keys, kinds, refs, ids, slots, KDF,
    URL, hostile names and values) with checksums recomputed: `pfx verify` exits 0 or 2 in
    one line, and whatever it accepts, `pfx import --dry-run` against a real empty server and
    every kind's code take without a traceback, and `render` makes inert files of it."""
    dst = new_server("dst")
    env = profiles_env(src=seeded_source[0], dst=dst)
    base = tmp_path / "base.pfx"
    ok(env | {"PFX_PASSPHRASE": "pp"}, "export", "-p", "src", "-o", base, "--secrets", "encrypt")
    full = bundlefile.read_bundle(base)
    # A slice of every kind keeps each example fast; refs to what is left out stay outside.
    per_kind: Counter[str] = Counter()
    kept = []
    for record in full.records:
        per_kind[record.kind] += 1
        if per_kind[record.kind] <= 3:
            kept.append(record)
    manifest = full.manifest.model_dump(mode="json")
    original = [r.model_dump(mode="json") for r in kept]
    runner = CliRunner()
    counter = iter(range(10**6))

    @settings(
        max_examples=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.data())
    def check(data: st.DataObject) -> None:
        raws = orjson.loads(orjson.dumps(original))
        mutated = orjson.loads(orjson.dumps(manifest))
        for _ in range(data.draw(st.integers(1, 2))):
            mutate(data.draw, raws, mutated)
        path = tmp_path / f"m{next(counter)}.pfx"
        bundlefile.write_lines(path, [reencode(raws, mutated)])
        verdict = runner.invoke(cli, ["verify", str(path)], env=env)
        assert_clean(verdict, (0, 2))
        if verdict.exit_code:
            return
        records = list(bundlefile.read_bundle(path).records)
        exercise_kinds(records)
        dry = runner.invoke(cli, ["import", str(path), "-p", "dst", "--dry-run"], env=env)
        assert_clean(dry, (0, 2, 3, 4, 5, 6))
        check_rendered(render(records, source=str(path)))

    check()
