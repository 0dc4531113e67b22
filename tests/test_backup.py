"""Backups of real Prefect servers into a real S3-compatible store (moto_server on loopback,
through s3fs as a user's bucket) and a local directory, run as a user runs `pfx`: changes made
with Prefect's SDK between backups, history, diff, a restore by time checked by the
independent census, and the faults (wrong credentials, unreachable store, another server, a
backup killed mid-write, two at once, a failed backup with retention)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from uuid import UUID

import orjson
import pytest

from fixtures import compare
from fixtures.objectstore import ObjectStore, SlowRelay, start_object_store
from fixtures.proxy import Proxy
from fixtures.seed import SeedInfo, seed
from fixtures.servers import Server
from tests.conftest import user_env
from tests.running import ok, pfx

PASSPHRASE = "backup passphrase"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObjectStore]:
    """One moto_server for the module; each test uses its own bucket."""
    with start_object_store(tmp_path_factory.mktemp("moto")) as started:
        yield started


_buckets = iter(range(1000))


def bucket(store: ObjectStore) -> str:
    name = f"backups-{next(_buckets)}"
    store.make_bucket(name)
    return name


def objects(store: ObjectStore, prefix: str) -> dict[str, int]:
    """Every object under s3://prefix, as the store holds it (read directly, not by pfx)."""
    import s3fs

    fs = s3fs.S3FileSystem(
        key="k", secret="s", endpoint_url=store.endpoint, skip_instance_cache=True
    )
    try:
        found = fs.find(prefix, detail=True)
    except FileNotFoundError:
        return {}
    return {path: int(info["size"]) for path, info in found.items()}


def as_json(result: subprocess.CompletedProcess[str]) -> object:
    return orjson.loads(result.stdout)


def change_the_server(url: str, info: SeedInfo) -> tuple[str, str, str]:
    """What users do between backups, with Prefect's SDK: edit a schedule of a deployment,
    delete an automation, add a block. Returns (deployment selector, automation name, block)."""
    from prefect.blocks.system import Secret
    from prefect.client.orchestration import PrefectClient
    from prefect.client.schemas.schedules import CronSchedule
    from prefect.settings import PREFECT_API_URL, temporary_settings

    flow, name = info.three_schedule_deployment

    async def edit() -> str:
        async with PrefectClient(api=url) as client:
            deployment = await client.read_deployment_by_name(f"{flow}/{name}")
            first = deployment.schedules[0]
            await client.update_deployment_schedule(
                deployment.id, first.id, schedule=CronSchedule(cron="17 3 * * *", timezone="UTC")
            )
            automation = await client.read_automation(UUID(str(info.automation_ids[0])))
            assert automation is not None
            await client.delete_automation(automation.id)
            return automation.name

    deleted = asyncio.run(edit())
    with temporary_settings({PREFECT_API_URL: url}):
        Secret(value="added-after-the-first-backup").save("added-later")
    return f"deployment:{flow}/{name}", deleted, "secret/added-later"


def test_backup_change_log_diff_and_restore_by_time(
    new_servers: Callable[..., list[Server]], store: ObjectStore, tmp_path: Path
) -> None:
    """Back up, back up unchanged, change the server, back up: snapshots, the log of the
    changed deployment, the diff between snapshots, and a restore of the first snapshot by
    its time onto an empty server that the census finds equal to the server as it was."""
    src, dst = new_servers("src", "dst")
    info = seed(src.url, deployments=4, cloud_pools=False)
    env = user_env(tmp_path / "home", "src", src=src, dst=dst) | store.env()
    env["PFX_PASSPHRASE"] = PASSPHRASE
    repo = f"s3://{bucket(store)}/prefect/src"
    before = compare.take(src.url)

    first = as_json(ok(env, "backup", "-p", "src", "--repo", repo, "--json"))
    assert isinstance(first, dict) and first["created_repository"] and not first["unchanged"]
    assert first["snapshot"]["secrets"] == "encrypted"
    again = as_json(ok(env, "backup", "-p", "src", "--repo", repo, "--json"))
    assert isinstance(again, dict) and again["unchanged"]
    assert again["snapshot"]["id"] == first["snapshot"]["id"]

    selector, automation, block = change_the_server(src.url, info)
    time.sleep(1.1)  # snapshot times are whole seconds
    second = as_json(ok(env, "backup", "-p", "src", "--repo", repo, "--json", "--keep-last", "5"))
    assert isinstance(second, dict) and not second["unchanged"]
    changed = second["snapshot"]["changed"]
    assert changed["added"] == 1 and changed["removed"] == 1 and changed["changed"] >= 1, changed

    listed = as_json(ok(env, "snapshots", "--repo", repo, "--json"))
    assert isinstance(listed, list) and len(listed) == 2
    assert [s["id"] for s in listed] == [first["snapshot"]["id"], second["snapshot"]["id"]]
    assert all(s["time"].endswith("Z") and s["release"] == "3.8.8" for s in listed)
    table = ok(env, "snapshots", "--repo", repo).stdout
    assert first["snapshot"]["short_id"] in table and f"+1 ~{changed['changed']} -1" in table

    log = ok(env, "log", "--repo", repo, selector).stdout
    assert "present" in log and "changed" in log and "17 3 * * *" in log
    gone = ok(env, "log", "--repo", repo, f"automation:{automation}").stdout
    assert "disappeared" in gone

    first_ref = f"{repo}@{first['snapshot']['short_id']}"
    diff = pfx(env, "diff", first_ref, f"{repo}@latest", "--json")
    assert diff.returncode == 1, diff.stderr
    changes = {(r["status"], r["kind"], "/".join(r["key"])) for r in as_json(diff)["records"]}  # type: ignore[index]
    flow, name = info.three_schedule_deployment
    assert ("changed", "deployment", f"{flow}/{name}") in changes
    assert ("added", "block-document", block) in changes
    assert any(s == "removed" and k == "automation" for s, k, _ in changes)

    baseline = compare.take(dst.url)
    restore = pfx(env, "import", f"{repo}@{first['snapshot']['time']}", "-p", "dst", "-q")
    assert restore.returncode == 0, restore.stdout + restore.stderr
    assert f"snapshot {first['snapshot']['short_id']}" in restore.stderr
    verdicts = compare.compare(before, compare.take(dst.url), baseline)
    wrong = [(v.label, v.state, v.fields) for v in verdicts if v.state not in ("equal", "own")]
    assert not wrong, wrong[:5]
    check = ok(env, "check", "--repo", repo)
    assert "2 snapshots, every snapshot intact" in check.stdout


def test_repository_faults_are_one_line_before_anything_is_written(
    seeded_source: tuple[Server, SeedInfo], store: ObjectStore, tmp_path: Path
) -> None:
    """Wrong credentials, an unreachable store, a bucket that does not exist, a prefix that
    holds other objects, and another server's repository: one line, non-zero, nothing
    written."""
    server, _ = seeded_source
    alias = server.url.replace("127.0.0.1", "localhost")
    env = user_env(tmp_path / "home", "src", src=server, alias=alias) | store.env()
    name = bucket(store)

    with start_object_store(tmp_path / "auth", auth=True) as locked:
        refused = pfx(env | locked.env(), "backup", "-p", "src", "--repo", f"s3://{name}/p")
    assert refused.returncode == 69 and "refused access" in refused.stderr
    assert refused.stderr.count("\n") == 1 and not refused.stdout

    away = env | {"FSSPEC_S3_ENDPOINT_URL": "http://127.0.0.1:9"}
    unreachable = pfx(away, "snapshots", "--repo", f"s3://{name}/p")
    assert unreachable.returncode == 69 and "cannot" in unreachable.stderr
    missing = pfx(env, "backup", "-p", "src", "--repo", "s3://no-such-bucket/p")
    assert missing.returncode == 69 and "does not exist" in missing.stderr

    import s3fs

    fs = s3fs.S3FileSystem(key="k", secret="s", endpoint_url=store.endpoint)
    fs.pipe_file(f"{name}/other/data.csv", b"a,b\n")
    foreign = pfx(env, "backup", "-p", "src", "--repo", f"s3://{name}/other")
    assert foreign.returncode == 2 and "not a pfx repository" in foreign.stderr

    ok(env, "backup", "-p", "src", "--repo", f"s3://{name}/p")
    before = objects(store, f"{name}/p")
    other = pfx(env, "backup", "-p", "alias", "--repo", f"s3://{name}/p")
    assert other.returncode == 2 and "holds the snapshots of" in other.stderr
    assert objects(store, f"{name}/p") == before
    assert objects(store, f"{name}/other") == {f"{name}/other/data.csv": 4}


def test_backup_killed_mid_write_lists_nothing(
    seeded_source: tuple[Server, SeedInfo], store: ObjectStore, tmp_path: Path
) -> None:
    """A backup killed after its bundle reached the store but before its index entry: no
    snapshot is listed; check names the bundle; --repair indexes it from the bundle."""
    server, _ = seeded_source
    env = user_env(tmp_path / "home", "src", src=server) | store.env()
    name = bucket(store)
    repo = f"s3://{name}/prefect"
    # Every chunk sent to the store waits half a second: the bundle lands seconds before the entry.
    port = int(store.endpoint.rsplit(":", 1)[1])
    with SlowRelay(port, delay=0.5) as slow:
        slowed = env | {"FSSPEC_S3_ENDPOINT_URL": slow.endpoint}
        proc = subprocess.Popen(
            [sys.executable, "-m", "pfx", "backup", "-p", "src", "--repo", repo],
            env=slowed,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            if any("/bundles/" in p for p in objects(store, f"{name}/prefect")):
                os.killpg(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.05)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the backup finished before it could be killed"
    stored = objects(store, f"{name}/prefect")
    assert any("/bundles/" in p for p in stored)
    assert not any("/index/entries/" in p for p in stored)
    assert as_json(ok(env, "snapshots", "--repo", repo, "--json")) == []
    found = pfx(env, "check", "--repo", repo)
    assert found.returncode == 4 and "no index entry" in found.stdout
    ok(env, "check", "--repo", repo, "--repair")
    (listed,) = as_json(ok(env, "snapshots", "--repo", repo, "--json"))  # type: ignore[misc]
    assert listed["records"] > 0
    ok(env, "verify", f"{repo}@latest")


def test_two_backups_at_once_keep_both(
    seeded_source: tuple[Server, SeedInfo], store: ObjectStore, tmp_path: Path
) -> None:
    """Two backups into one new repository at the same time: both succeed, both snapshots
    are listed, and check finds the index consistent."""
    server, _ = seeded_source
    env = user_env(tmp_path / "home", "src", src=server) | store.env()
    env["PFX_PASSPHRASE"] = PASSPHRASE
    repo = f"s3://{bucket(store)}/prefect"
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "pfx", "backup", "-p", "src", "--repo", repo],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    listed = as_json(ok(env, "snapshots", "--repo", repo, "--json"))
    assert isinstance(listed, list) and len(listed) == 2
    assert ok(env, "check", "--repo", repo).returncode == 0


def test_failed_backup_forgets_nothing_and_withheld_is_said(
    seeded_source: tuple[Server, SeedInfo], tmp_path: Path
) -> None:
    """Into a local directory without a passphrase: each run says secrets are withheld; a
    backup whose server stopped answering fails (exit 69) and its --keep-last 1 forgets
    nothing; --dry-run forgets nothing either; a working one then applies the policy."""
    server, _ = seeded_source
    repo = tmp_path / "repo"
    with Proxy(server.url) as front:
        env = user_env(tmp_path / "home", "src", src=front.url)
        first = ok(env, "backup", "-p", "src", "--repo", repo)
        assert first.stderr.count("secret values withheld") == 1
        ok(env, "backup", "-p", "src", "--repo", repo, "--secrets", "plaintext")
        dry = ok(
            env,
            "backup",
            "-p",
            "src",
            "--repo",
            repo,
            "--keep-last",
            "1",
            "--dry-run",
            "--secrets",
            "plaintext",
        )
        assert "unchanged since" in dry.stdout and "would forget 1" in dry.stdout
        assert len(as_json(ok(env, "snapshots", "--repo", repo, "--json"))) == 2  # type: ignore[arg-type]
    failed = pfx(env, "backup", "-p", "src", "--repo", repo, "--keep-last", "1")
    assert failed.returncode == 69 and "Traceback" not in failed.stderr
    assert len(as_json(ok(env, "snapshots", "--repo", repo, "--json"))) == 2  # type: ignore[arg-type]
    forgot = ok(env, "forget", "--repo", repo, "--keep-last", "1")
    assert "forgot 1" in forgot.stdout
    assert len(as_json(ok(env, "snapshots", "--repo", repo, "--json"))) == 1  # type: ignore[arg-type]
