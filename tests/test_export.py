"""Export against a real seeded Prefect server: counts, fields, secrets, determinism."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.inventory import count_resources, read_all
from fixtures.seed import SeedInfo
from fixtures.servers import Server
from pfx.bundle import Bundle
from tests.conftest import user_env
from tests.running import json_out, load, ok, pfx, raw_bytes


@pytest.fixture(scope="module")
def exported(
    seeded_source: tuple[Server, SeedInfo], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Bundle, dict[str, str]]:
    """One withheld-secrets export of the seeded source, shared by this module's tests."""
    server, _ = seeded_source
    home = tmp_path_factory.mktemp("export")
    env = user_env(home, src=server)
    path = home / "snap.pfx"
    ok(env, "export", "-p", "src", "-o", path, "-q")
    return path, load(path), env


def records_of(bundle: Bundle, kind: str) -> dict[tuple[str, ...], dict[str, object]]:
    return {r.key: r.data for r in bundle.records if r.kind == kind}


def test_counts_equal_the_servers(
    exported: tuple[Path, Bundle, dict[str, str]], seeded_source: tuple[Server, SeedInfo]
) -> None:
    """The bundle holds exactly as many records of each kind as the server has resources."""
    _, bundle, _ = exported
    census = count_resources(seeded_source[0].url)
    counts = Counter(r.kind for r in bundle.records)
    assert {k: counts.get(k, 0) for k in census} == census
    assert bundle.manifest.counts == {k: counts.get(k, 0) for k in bundle.manifest.counts}
    assert census["variable"] > 200
    assert not bundle.manifest.skipped


def test_no_secret_value_in_the_bundle(
    exported: tuple[Path, Bundle, dict[str, str]], seeded_source: tuple[Server, SeedInfo]
) -> None:
    """With secrets withheld (the default), no seeded secret value is in the bundle's bytes."""
    path, bundle, _ = exported
    content = raw_bytes(path)
    info = seeded_source[1]
    assert info.secrets
    leaked = [s for s in info.secrets if s.encode() in content]
    assert not leaked
    assert bundle.manifest.secrets.mode == "withheld"
    assert bundle.manifest.secrets.withheld > 0


def test_deployments_keep_every_field(
    exported: tuple[Path, Bundle, dict[str, str]], seeded_source: tuple[Server, SeedInfo]
) -> None:
    """Deployments keep schedules (all fields), labels, limits, storage and pull steps."""
    _, bundle, _ = exported
    info = seeded_source[1]
    deployments = records_of(bundle, "deployment")
    three = deployments[info.three_schedule_deployment]
    schedules = three["schedules"]
    assert isinstance(schedules, list) and len(schedules) == 3
    kinds = {
        next(k for k in ("cron", "interval", "rrule") if k in s["schedule"]) for s in schedules
    }
    assert kinds == {"cron", "interval", "rrule"}
    assert all({"active", "parameters", "slug", "max_scheduled_runs"} <= set(s) for s in schedules)
    on_server = read_all(seeded_source[0].url, "deployment")
    assert len(on_server) == len(deployments)
    datas = list(deployments.values())
    assert any(d.get("labels") for d in datas)
    assert any(d.get("paused") for d in datas)
    assert any(d.get("storage_document_id") for d in datas)
    assert any(d.get("pull_steps") for d in datas)
    assert any(d.get("concurrency_options") for d in datas)
    limits = [d.get("global_concurrency_limit") for d in datas if d.get("global_concurrency_limit")]
    assert any(str(g["name"]).startswith("deployment:") for g in limits)
    assert any(not str(g["name"]).startswith("deployment:") for g in limits)


def test_references_are_recorded(exported: tuple[Path, Bundle, dict[str, str]]) -> None:
    """Every id reference names its target by natural key; ids in triggers become refs."""
    _, bundle, _ = exported
    present = {(r.kind, r.key) for r in bundle.records}
    for record in bundle.records:
        for ref in record.refs:
            if ref.id and not ref.soft:
                assert (ref.kind, ref.key) in present, f"{record.label} -> {ref}"
    automations = [r for r in bundle.records if r.kind == "automation"]
    assert any(ref.kind == "deployment" for r in automations for ref in r.refs)
    assert any(ref.late for r in automations for ref in r.refs)
    documents = [r for r in bundle.records if r.kind == "block-document"]
    nested = [r for r in documents if any(ref.kind == "block-document" for ref in r.refs)]
    assert nested
    for record in nested:
        assert any(isinstance(v, dict) and "$ref" in v for v in record.data["data"].values())
    deployments = [r for r in bundle.records if r.kind == "deployment"]
    assert any(ref.id is None and ref.kind == "variable" for r in deployments for ref in r.refs)
    assert bundle.manifest.edges


def test_pools_queues_and_block_types_keep_settings(
    exported: tuple[Path, Bundle, dict[str, str]],
) -> None:
    """Pools keep description, template and storage; queues their settings; types metadata."""
    _, bundle, _ = exported
    pools = list(records_of(bundle, "work-pool").values())
    assert any(p.get("description") for p in pools)
    assert any(p.get("is_paused") for p in pools)
    assert any(
        (p.get("storage_configuration") or {}).get("default_result_storage_block_id") for p in pools
    )
    queues = records_of(bundle, "work-queue")
    assert any(
        k[1] == "default" and (q.get("description") or q.get("concurrency_limit"))
        for k, q in queues.items()
    )
    assert any(q.get("is_paused") for q in queues.values())
    types = records_of(bundle, "block-type")
    assert any(t.get("code_example") and t.get("logo_url") for t in types.values())


def test_export_is_deterministic(
    exported: tuple[Path, Bundle, dict[str, str]], tmp_path: Path
) -> None:
    """Exporting an unchanged source twice gives the same records in the same order, and the
    same manifest but for `created` and, when sealed, its fresh salt, check and MAC."""
    path, bundle, env = exported
    again = tmp_path / "again.pfx"
    ok(env, "export", "-p", "src", "-o", again, "-q")
    second = load(again)
    first_lines = raw_bytes(path).split(b"\n")
    second_lines = raw_bytes(again).split(b"\n")
    assert first_lines[1:] == second_lines[1:]
    assert bundle.manifest.digest == second.manifest.digest
    fresh = {"created": True, "auth": True, "secrets": {"kdf", "check"}}
    assert bundle.manifest.model_dump(exclude=fresh) == second.manifest.model_dump(exclude=fresh)


def test_inspect_verify_and_json(exported: tuple[Path, Bundle, dict[str, str]]) -> None:
    """inspect shows counts and secrets mode; verify passes; --json summaries parse."""
    path, bundle, env = exported
    shown = ok(env, "inspect", path).stdout
    assert "withheld" in shown and "deployment" in shown
    assert str(bundle.manifest.counts["variable"]) in shown
    assert "intact" in ok(env, "verify", path).stdout
    summary = json_out(ok(env, "inspect", "--json", path))
    assert summary["records"] == len(bundle.records)


def test_output_file_is_private(exported: tuple[Path, Bundle, dict[str, str]]) -> None:
    """The bundle is written with mode 0600."""
    path, _, _ = exported
    assert path.stat().st_mode & 0o777 == 0o600


def test_credentials_never_written(
    seeded_source: tuple[Server, SeedInfo],
    profiles_env: Callable[..., dict[str, str]],
    tmp_path: Path,
) -> None:
    """An API key in the profile or a password in the URL never reaches bundle or output."""
    server = seeded_source[0]
    key = "pnu_NOT-A-REAL-KEY-123456789"
    password = "hunter2-URL-PASSWORD"
    env = profiles_env(src=server.url.replace("http://", f"http://admin:{password}@"))
    env["PREFECT_API_KEY"] = key
    path = tmp_path / "c.pfx"
    result = ok(env, "export", "-p", "src", "-o", path, "--json")
    inspected = ok(env, "inspect", path)
    for text in (result.stdout, result.stderr, inspected.stdout, raw_bytes(path).decode()):
        assert key not in text
        assert password not in text
    assert json_out(result)["records"] == len(load(path).records)


def test_secrets_modes_in_the_bytes(
    seeded_source: tuple[Server, SeedInfo],
    exported: tuple[Path, Bundle, dict[str, str]],
    tmp_path: Path,
) -> None:
    """Only `--secrets plaintext` writes seeded secret values; `encrypt` hides them."""
    _, _, env = exported
    secrets = seeded_source[1].secrets
    encrypted = tmp_path / "enc.pfx"
    plain = tmp_path / "plain.pfx"
    ok(
        env | {"PFX_PASSPHRASE": "correct horse"},
        "export",
        "-p",
        "src",
        "-o",
        encrypted,
        "--secrets",
        "encrypt",
        "-q",
    )
    result = ok(env, "export", "-p", "src", "-o", plain, "--secrets", "plaintext")
    assert "clear" in result.stderr
    assert not [s for s in secrets if s.encode() in raw_bytes(encrypted)]
    assert all(s.encode() in raw_bytes(plain) for s in secrets)
    assert load(encrypted).manifest.secrets.encrypted > 0
    assert "encrypted" in ok(env, "inspect", encrypted).stdout


def test_unreadable_inputs_fail_cleanly(
    exported: tuple[Path, Bundle, dict[str, str]], tmp_path: Path
) -> None:
    """Unknown profile, unwritable path: one line, exit 2, no traceback, no partial file."""
    _, _, env = exported
    cases = [
        ("export", "-p", "nope", "-o", tmp_path / "x.pfx"),
        ("export", "-p", "src", "-o", tmp_path / "missing-dir" / "x.pfx"),
    ]
    for args in cases:
        result = pfx(env, *args)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
