"""Import against real Prefect servers: round trip through an air gap, idempotence, conflicts,
interruption, dry runs, and bundles refused before any write."""

from __future__ import annotations

import base64
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import zstandard

from fixtures.inventory import KINDS, count_resources, read_all
from fixtures.seed import SeedInfo, seed
from fixtures.servers import Server, start_servers
from pfx.bundle import encode
from pfx.bundlefile import write_lines
from tests.conftest import user_env
from tests.running import by_key, load, ok, one_line, pfx

pytestmark = pytest.mark.xdist_group("import")
PASSPHRASE = "import tests passphrase"


@dataclass
class Source:
    """A seeded source, exported (withheld and encrypted) and then stopped: the air gap."""

    info: SeedInfo
    withheld: Path
    encrypted: Path
    workdir: Path


def env_for(workdir: Path, **servers: Server) -> dict[str, str]:
    """The environment of a user whose profiles name `servers` (with this module's passphrase)."""
    return user_env(workdir, passphrase=PASSPHRASE, **servers)


def state(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every resource on a server, raw (with ids and `updated`), sorted: equal means untouched."""
    out = {}
    for kind in KINDS:
        items = read_all(url, kind)
        out[kind] = sorted(items, key=lambda x: orjson.dumps(x, option=orjson.OPT_SORT_KEYS))
    return out


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Source]:
    """Seed a source, export it twice, stop it: later imports cannot reach it."""
    workdir = tmp_path_factory.mktemp("import-src")
    [server] = start_servers(workdir, ["src"])
    try:
        info = seed(server.url, deployments=20)
        env = env_for(workdir, src=server)
        ok(env, "export", "-p", "src", "-o", workdir / "withheld.pfx", "-q")
        ok(env, "export", "-p", "src", "-o", workdir / "enc.pfx", "--secrets", "encrypt", "-q")
    finally:
        server.stop()
    yield Source(info, workdir / "withheld.pfx", workdir / "enc.pfx", workdir)


@pytest.fixture
def destination(
    new_server: Callable[[str], Server], tmp_path: Path
) -> tuple[Server, dict[str, str]]:
    """A fresh, empty destination server and a user environment naming it `dst`."""
    server = new_server("dst")
    return server, env_for(tmp_path, dst=server)


def unsupported_and_dependents(report: dict[str, Any]) -> set[tuple[str, tuple[str, ...]]]:
    """Records that did not arrive because the destination cannot hold them or what they need."""
    return {
        (o["kind"], tuple(o["key"]))
        for o in report["outcomes"]
        if o["code"] == "unsupported" or o["status"] == "blocked"
    }


def read_report(path: Path) -> dict[str, Any]:
    value = orjson.loads(path.read_bytes())
    assert isinstance(value, dict)
    return value


def test_round_trip_through_an_air_gap(
    source: Source, destination: tuple[Server, dict[str, str]], tmp_path: Path
) -> None:
    """Export, stop the source, import: the destination re-exports identical records,
    except those the destination cannot hold (reported), and a second import writes nothing."""
    server, env = destination
    report_path = tmp_path / "report.json"
    result = pfx(env, "import", source.encrypted, "-p", "dst", "--report", report_path)
    report = read_report(report_path)
    missing = unsupported_and_dependents(report)
    assert result.returncode == (4 if missing else 0), result.stdout + result.stderr
    statuses = {o["status"] for o in report["outcomes"]}
    assert statuses <= {"created", "unchanged", "skipped", "blocked"}
    assert all(o["code"] == "unsupported" for o in report["outcomes"] if o["status"] == "skipped")
    # Every blocked record is blocked by something unsupported (or by something blocked).
    assert all(o["blocked_by"] for o in report["outcomes"] if o["status"] == "blocked")
    assert sum(report["counts"].values()) == len(load(source.encrypted).records)

    ok(env, "export", "-p", "dst", "-o", tmp_path / "back.pfx", "-q")
    ours = by_key(load(source.withheld))
    theirs = by_key(load(tmp_path / "back.pfx"))
    expected = {k: v for k, v in ours.items() if k not in missing}
    assert set(theirs) == set(expected)
    differing = [k for k in expected if expected[k] != theirs[k]]
    assert not differing, differing[:5]

    before = state(server.url)
    again = pfx(env, "import", source.encrypted, "-p", "dst", "--report", report_path, "--force")
    second = read_report(report_path)
    assert {
        o["status"] for o in second["outcomes"] if (o["kind"], tuple(o["key"])) not in missing
    } == {"unchanged"}
    assert again.returncode == (4 if missing else 0)
    assert state(server.url) == before


def test_dry_run_and_bad_bundles_write_nothing(
    source: Source, destination: tuple[Server, dict[str, str]], tmp_path: Path
) -> None:
    """--dry-run prints the plan; corrupt, truncated or wrong-passphrase imports are refused
    with one line before anything is written."""
    server, env = destination
    before = state(server.url)
    # Withheld secrets: the dry run predicts the skips and blocks, and exits as the run would.
    dry = pfx(env, "import", source.withheld, "-p", "dst", "--dry-run")
    assert dry.returncode == 4, dry.stdout + dry.stderr
    assert "created" in dry.stdout and "nothing written" in dry.stdout
    assert "needs secret values" in dry.stdout and "blocked" in dry.stdout
    # An encrypted bundle: the dry run checks the passphrase exactly as the run does (a green
    # dry run must not hide a run that fails on it at once): none, or a wrong one, fails both
    # alike before any request; the right one plans every secret as present.
    no_passphrase = {k: v for k, v in env.items() if k != "PFX_PASSPHRASE"}
    for given in (no_passphrase, env | {"PFX_PASSPHRASE": "wrong"}):
        dry = pfx(given, "import", source.encrypted, "-p", "dst", "--dry-run")
        run = pfx(given, "import", source.encrypted, "-p", "dst")
        assert dry.returncode == run.returncode == 2, dry.stdout + dry.stderr
        assert one_line(dry.stderr) == one_line(run.stderr)
        assert "passphrase" in dry.stderr
    dry = pfx(env, "import", source.encrypted, "-p", "dst", "--dry-run")
    assert dry.returncode in (4, 6), dry.stdout + dry.stderr
    assert "needs secret values" not in dry.stdout and "created" in dry.stdout
    # A secrets file the run could not use fails the dry run too.
    broken = tmp_path / "secrets.json"
    broken.write_text("{not json")
    dry = pfx(env, "import", source.withheld, "-p", "dst", "--dry-run", "--secrets-file", broken)
    run = pfx(env, "import", source.withheld, "-p", "dst", "--secrets-file", broken)
    assert dry.returncode == run.returncode == 2
    assert one_line(dry.stderr) == one_line(run.stderr)
    assert state(server.url) == before

    data = source.encrypted.read_bytes()
    truncated = tmp_path / "truncated.pfx"
    truncated.write_bytes(data[: len(data) // 2])
    flipped = tmp_path / "flipped.pfx"
    flipped.write_bytes(data[:100] + bytes([data[100] ^ 0xFF]) + data[101:])
    edited = tmp_path / "edited.pfx"
    lines = zstandard.ZstdDecompressor().decompressobj().decompress(data).split(b"\n")
    lines[5] = lines[5].replace(b'"name":"', b'"name":"x', 1)
    edited.write_bytes(zstandard.ZstdCompressor().compress(b"\n".join(lines)))
    for bad in (truncated, flipped, edited):
        result = pfx(env, "import", bad, "-p", "dst")
        assert result.returncode == 2, (bad, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    # A ciphertext changed by someone who also recomputed every checksum: AES-GCM refuses it.
    bundle = load(source.encrypted)
    records = list(bundle.records)
    i = next(n for n, r in enumerate(records) if r.secrets and r.secrets.ciphertext)
    slot = records[i].secrets
    assert slot is not None and slot.ciphertext is not None
    blob = bytearray(base64.b64decode(slot.ciphertext))
    blob[-1] ^= 1
    records[i] = records[i].model_copy(
        update={"secrets": slot.model_copy(update={"ciphertext": base64.b64encode(blob).decode()})}
    )
    tampered = tmp_path / "tampered.pfx"
    m = bundle.manifest
    write_lines(tampered, encode(records, source=m.source, created=m.created, secrets=m.secrets))
    refused = pfx(env, "import", tampered, "-p", "dst")
    assert refused.returncode == 2 and "tampered" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    wrong = pfx(env | {"PFX_PASSPHRASE": "wrong"}, "import", source.encrypted, "-p", "dst")
    assert wrong.returncode == 2 and "passphrase" in wrong.stderr
    assert len(wrong.stderr.strip().splitlines()) == 1
    assert state(server.url) == before


def test_interrupted_import_completes_when_run_again(
    source: Source, destination: tuple[Server, dict[str, str]], tmp_path: Path
) -> None:
    """An import killed midway completes when run again: no duplicates, same end state."""
    server, env = destination
    process = subprocess.Popen(
        [sys.executable, "-m", "pfx", "import", str(source.encrypted), "-p", "dst", "-q"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if httpx.post(f"{server.url}/variables/count", json={}).json() >= 20:
            break
        time.sleep(0.2)
    process.kill()
    process.wait()
    partial = count_resources(server.url)
    report_path = tmp_path / "report.json"
    pfx(env, "import", source.encrypted, "-p", "dst", "--report", report_path)
    report = read_report(report_path)
    missing = unsupported_and_dependents(report)
    assert {o["status"] for o in report["outcomes"]} <= {
        "created",
        "unchanged",
        "skipped",
        "blocked",
    }
    ok(env, "export", "-p", "dst", "-o", tmp_path / "back.pfx", "-q")
    ours = by_key(load(source.withheld))
    theirs = by_key(load(tmp_path / "back.pfx"))
    assert theirs == {k: v for k, v in ours.items() if k not in missing}
    counts = count_resources(server.url)
    assert counts["automation"] == source.info.created.get("automation", counts["automation"])
    assert counts["automation"] == sum(1 for k in ours if k[0] == "automation")
    assert partial["variable"] >= 1


def test_partly_populated_destination(
    source: Source, destination: tuple[Server, dict[str, str]], tmp_path: Path
) -> None:
    """With a pool and variables already there, one different: fail writes nothing, skip keeps
    the destination's and loses nothing that depends on it, update makes it equal."""
    import httpx

    server, env = destination
    bundle = load(source.encrypted)
    pools = [r for r in bundle.records if r.kind == "work-pool" and r.data.get("type") == "process"]
    pool = pools[0]
    variables = [r for r in bundle.records if r.kind == "variable"][:3]
    with httpx.Client(base_url=server.url) as client:
        client.post(
            "/work_pools/", json={"name": pool.key[0], "type": "process", "description": "theirs"}
        ).raise_for_status()
        for i, var in enumerate(variables):
            value = "theirs" if i == 0 else var.data["value"]
            client.post(
                "/variables/",
                json={"name": var.key[0], "value": value, "tags": var.data.get("tags", [])},
            ).raise_for_status()
    before = state(server.url)
    refused = pfx(env, "import", source.encrypted, "-p", "dst", "--on-conflict", "fail")
    assert refused.returncode == 4
    assert pool.key[0] in refused.stderr and variables[0].key[0] in refused.stderr
    assert state(server.url) == before

    report_path = tmp_path / "skip.json"
    pfx(env, "import", source.encrypted, "-p", "dst", "--report", report_path)
    report = read_report(report_path)
    outcome = {(o["kind"], tuple(o["key"])): o for o in report["outcomes"]}
    assert outcome[("work-pool", pool.key)]["status"] == "skipped"
    assert "description" in outcome[("work-pool", pool.key)]["fields"]
    assert outcome[("variable", variables[0].key)]["fields"] == ["value"]
    assert outcome[("variable", variables[1].key)]["status"] == "unchanged"
    on_pool = [r for r in bundle.records if r.kind == "work-queue" and r.key[0] == pool.key[0]]
    # The pool's default queue came with the user's pool, with its own settings: it differs.
    assert on_pool and all(
        outcome[(r.kind, r.key)]["status"] in ("created", "unchanged")
        or outcome[(r.kind, r.key)]["code"] == "differs"
        for r in on_pool
    )
    assert any(outcome[(r.kind, r.key)]["status"] == "created" for r in on_pool)
    deployments = [
        r
        for r in bundle.records
        if r.kind == "deployment" and r.data.get("work_pool_name") == pool.key[0]
    ]
    assert all(outcome[(r.kind, r.key)]["status"] == "created" for r in deployments)
    value = {v["name"]: v["value"] for v in read_all(server.url, "variable")}
    assert value[variables[0].key[0]] == "theirs"

    pfx(
        env,
        "import",
        source.encrypted,
        "-p",
        "dst",
        "--on-conflict",
        "update",
        "--report",
        report_path,
        "--force",
    )
    report = read_report(report_path)
    outcome = {(o["kind"], tuple(o["key"])): o for o in report["outcomes"]}
    assert outcome[("work-pool", pool.key)]["status"] == "updated"
    assert outcome[("variable", variables[0].key)]["status"] == "updated"
    value = {v["name"]: v["value"] for v in read_all(server.url, "variable")}
    assert value[variables[0].key[0]] == variables[0].data["value"]
    described = {p["name"]: p["description"] for p in read_all(server.url, "work-pool")}
    assert described[pool.key[0]] == pool.data.get("description")


def test_withheld_secrets_block_dependents_until_supplied(
    source: Source, destination: tuple[Server, dict[str, str]], tmp_path: Path
) -> None:
    """Withheld secrets: those blocks need secrets and their dependents are blocked, the report
    names the command; a secrets file then supplies values that arrive exactly."""
    server, env = destination
    result = pfx(env, "import", source.withheld, "-p", "dst", "--report", tmp_path / "r.json")
    assert result.returncode == 4
    report = read_report(tmp_path / "r.json")
    needing = [o for o in report["outcomes"] if o["code"] == "needs-secrets"]
    assert needing and all(o["missing_secrets"] for o in needing)
    assert "pfx secrets template" in result.stdout and "--secrets-file" in result.stdout
    for secret in source.info.secrets:
        assert secret not in result.stdout + result.stderr + (tmp_path / "r.json").read_text()

    template = orjson.loads(ok(env, "secrets", "template", source.withheld).stdout)
    filled = {
        "format": template["format"],
        "version": template["version"],
        "blocks": {
            block: {field: f"supplied-{block}-{field}" for field in fields}
            for block, fields in template["blocks"].items()
        },
    }
    secrets_file = tmp_path / "secrets.json"
    secrets_file.write_bytes(orjson.dumps(filled))
    pfx(
        env,
        "import",
        source.withheld,
        "-p",
        "dst",
        "--secrets-file",
        secrets_file,
        "--report",
        tmp_path / "r2.json",
    )
    second = read_report(tmp_path / "r2.json")
    assert not [
        o for o in second["outcomes"] if o["status"] == "failed" or o["code"] == "needs-secrets"
    ]
    assert not [
        o
        for o in second["outcomes"]
        if o["status"] == "blocked" and not any(p in o["blocked_by"] for p in ("push", "managed"))
    ]
    documents = {
        (d["block_type"]["slug"], d["name"]): d
        for d in read_all(server.url, "block-document", include_secrets=True)
    }
    for block, fields in filled["blocks"].items():
        slug, name = block.split("/", 1)
        data = documents[(slug, name)]["data"]
        for field, value in fields.items():
            node = data
            for part in field.split("."):
                node = node[part]
            assert node == value


def test_encrypted_secrets_arrive_equal(
    source: Source, destination: tuple[Server, dict[str, str]]
) -> None:
    """An encrypted bundle imports every secret value equal to the source's."""
    server, env = destination
    pfx(env, "import", source.encrypted, "-p", "dst")
    on_dest = orjson.dumps(read_all(server.url, "block-document", include_secrets=True))
    for secret in source.info.secrets:
        assert secret.encode() in on_dest
