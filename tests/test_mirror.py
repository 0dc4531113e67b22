"""`import --prune` on real servers, run as a user runs `pfx` (a 3.8 dev server seeded as a
user's, a 3.9 prod server): a promotion after records were deleted in dev, the selection and
a record kept for what still uses it, the guard and lost answers, an interrupted prune, a
restore to a snapshot of the backup repository by time, and standby + cutover + rollback;
each judged by the independent census (fixtures/compare.py, fixtures/inventory.py)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from fixtures import compare
from fixtures.inventory import read_all
from fixtures.proxy import Fault, Proxy
from fixtures.releases import release, start_release_server
from fixtures.seed import seed
from fixtures.servers import Server, start_server
from pfx.bundle import Bundle
from pfx.model import Record
from tests.conftest import user_env
from tests.running import json_out, load, ok, one_line, pfx

pytestmark = pytest.mark.server
PASSPHRASE = "mirror tests passphrase"
Ident = tuple[str, tuple[str, ...]]


@dataclass
class World:
    """A seeded 3.8 dev server, a 3.9 prod server that started empty (its census then is
    `baseline`: its own system types), and a user's profiles for both."""

    dev: Server
    prod: Server
    env: dict[str, str]
    workdir: Path
    baseline: compare.Census
    n: int = 0

    def export(self, *args: str) -> tuple[Path, Bundle]:
        """A new encrypted export of dev."""
        self.n += 1
        path = self.workdir / f"dev-{self.n}.pfx"
        ok(self.env, "export", "-p", "dev", "-o", path, "--secrets", "encrypt", "-q", *args)
        return path, load(path)

    def run(self, *args: str | Path) -> tuple[int, dict[str, Any]]:
        """`pfx import ... --json`: exit code and report."""
        done = pfx(self.env, "import", *args, "--json")
        assert done.returncode in (0, 3, 4, 5, 6), done.stdout + done.stderr
        return done.returncode, json_out(done)

    def sync(self, bundle: Path) -> None:
        """Prod made as the bundle says (what the promotion test proves --prune does)."""
        code, report = self.run(bundle, "-p", "prod", "--on-conflict", "update", "--prune",
                                "--prune-max", "all")  # fmt: skip
        assert code == 0, [o for o in report["outcomes"] if o["status"] != "unchanged"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    workdir = tmp_path_factory.mktemp("mirror")
    dev = start_server(workdir, "dev")
    prod: Server | None = None
    try:
        prod = start_release_server(release("3.9"), workdir, "prod")
        seed(dev.url, deployments=6, cloud_pools=False)
        env = user_env(workdir / "home", "dev", PASSPHRASE, dev=dev, prod=prod)
        yield World(dev, prod, env, workdir, compare.take(prod.url))
    finally:
        dev.stop()
        if prod is not None:
            prod.stop()


def deleted(report: dict[str, Any], status: str = "deleted") -> set[Ident]:
    return {(o["kind"], tuple(o["key"])) for o in report["outcomes"] if o["status"] == status}


def unreferenced(bundle: Bundle, kind: str) -> Record:
    """A record of `kind` that no other record of the bundle refers to (not anonymous)."""
    used = {(ref.kind, ref.key) for r in bundle.records for ref in r.refs}
    for record in bundle.records:
        named = not record.key[-1].startswith("anonymous-")
        if record.kind == kind and (kind, record.key) not in used and named:
            return record
    raise AssertionError(f"the seed has no unreferenced {kind}")


def delete_in(url: str, record: Record) -> None:
    """Delete a record on its own server as a user would (REST, by its id there)."""
    path = {
        "deployment": "/deployments/",
        "automation": "/automations/",
        "variable": "/variables/",
        "block-document": "/block_documents/",
    }[record.kind]
    assert httpx.delete(f"{url}{path}{record.id}", timeout=30).status_code == 204


def extra_on(prod: compare.Census, dev: compare.Census, baseline: compare.Census) -> set[Ident]:
    """Records prod holds that dev does not, but for prod's own system types (baseline)."""
    own = {(k, key) for k in ("block-type", "block-schema") for key in baseline.keys(k)}
    return {
        (kind, key)
        for kind, records in prod.records.items()
        for key in records
        if key not in dev.records.get(kind, {}) and (kind, key) not in own
    }


def census_wrong(src: compare.Census, dst: compare.Census, baseline: compare.Census) -> list[str]:
    verdicts = compare.compare(src, dst, baseline)
    return [f"{v.label}: {v.state} {v.fields}" for v in verdicts if v.state not in ("equal", "own")]


def test_promotion_prunes_exactly_what_dev_deleted(world: World) -> None:
    """After a deployment, an automation, a variable and a block were deleted in dev, a
    promotion with --prune deletes exactly those from prod: `diff -p` marks them, the dry
    run lists them (a deployment with its schedules and last run), the run deletes them, and
    the census finds prod equal to dev but for prod's own system types; a re-run is a no-op."""
    v1, bundle = world.export()
    world.sync(v1)
    gone = [unreferenced(bundle, k) for k in ("deployment", "automation", "variable")]
    gone.append(unreferenced(bundle, "block-document"))
    for record in gone:
        delete_in(world.dev.url, record)
    # The deployment has run in prod: its last run is what the dry run names.
    flows = {f["id"]: f["name"] for f in read_all(world.prod.url, "flow")}
    prod_deployment = next(
        d
        for d in read_all(world.prod.url, "deployment")
        if (flows[d["flow_id"]], d["name"]) == gone[0].key
    )
    run = httpx.post(
        f"{world.prod.url}/deployments/{prod_deployment['id']}/create_flow_run", json={}
    ).json()
    httpx.post(
        f"{world.prod.url}/flow_runs/{run['id']}/set_state",
        json={"state": {"type": "RUNNING"}, "force": True},
    ).raise_for_status()
    v2, _ = world.export()
    expected = {(r.kind, r.key) for r in gone}

    diff = pfx(world.env, "diff", v2, "-p", "prod", "--json")
    assert diff.returncode == 1, diff.stderr
    marked = {
        (r["kind"], tuple(r["key"]))
        for r in json_out(diff)["records"]  # type: ignore[union-attr]
        if r.get("prune", {}).get("action") == "delete"
    }
    text = pfx(world.env, "diff", v2, "-p", "prod").stdout
    assert "--prune deletes it" in text and "deletes exactly the 4 added records" in text

    code, plan = world.run(v2, "-p", "prod", "--prune", "--dry-run")
    assert code == 6
    assert deleted(plan) == expected == marked
    shown = next(
        o for o in plan["outcomes"] if o["kind"] == "deployment" and o["status"] == "deleted"
    )
    assert shown["last_run"] and "Running" in shown["last_run"]
    assert len(shown["schedules"]) == len(gone[0].data.get("schedules") or [])
    dry = pfx(world.env, "import", v2, "-p", "prod", "--prune", "--dry-run").stdout
    assert f"- delete     deployment {'/'.join(gone[0].key)}" in dry and "last run:" in dry

    report_path = world.workdir / "promotion.json"
    code, report = world.run(v2, "-p", "prod", "--prune", "--report", report_path)
    assert code == 0, [o for o in report["outcomes"] if o["status"] != "unchanged"]
    assert deleted(report) == expected
    assert not deleted(report, "kept")
    written = orjson.loads(report_path.read_bytes())
    assert written["deleted_bundle"] == "promotion.deleted.pfx"
    kept = load(world.workdir / "promotion.deleted.pfx")
    assert {(r.kind, r.key) for r in kept.records} == expected

    dev, prod = compare.take(world.dev.url), compare.take(world.prod.url)
    assert census_wrong(dev, prod, world.baseline) == []
    assert extra_on(prod, dev, world.baseline) == set()
    assert world.baseline.keys("block-type") <= prod.keys("block-type")
    assert world.baseline.keys("block-schema") <= prod.keys("block-schema")

    code, again = world.run(v2, "-p", "prod", "--prune")
    assert code == 0 and not deleted(again) and not deleted(again, "kept")
    assert {o["status"] for o in again["outcomes"]} == {"unchanged"}


def test_outside_the_selection_nothing_is_pruned_and_what_is_used_is_kept(world: World) -> None:
    """A prod record the selection leaves out stays; a variable deleted in dev that a prod
    deployment outside the selection still uses is kept, naming the deployment (exit 3)."""
    bundle_path, bundle = world.export()
    world.sync(bundle_path)
    httpx.post(f"{world.prod.url}/variables/", json={"name": "prod_only_1", "value": 1})
    code, report = world.run(
        bundle_path, "-p", "prod", "--prune", "--exclude", "variable:prod_only_*"
    )
    assert code == 0 and not deleted(report)
    code, report = world.run(bundle_path, "-p", "prod", "--prune", "--include", "kind:automation")
    assert code == 0 and not deleted(report)
    assert any(v["name"] == "prod_only_1" for v in read_all(world.prod.url, "variable"))

    user = next(
        (r, ref.key)
        for r in bundle.records
        for ref in r.refs
        if r.kind == "deployment" and ref.kind == "variable"
    )
    deployment, variable = user
    variable_record = next(r for r in bundle.records if r.kind == "variable" and r.key == variable)
    delete_in(world.dev.url, variable_record)
    without, _ = world.export()
    code, report = world.run(without, "-p", "prod", "--prune", "--include", "kind:variable")
    assert code == 3
    (kept,) = [o for o in report["outcomes"] if o["status"] == "kept"]
    assert (kept["kind"], tuple(kept["key"])) == ("variable", variable)
    users = {r.label for r in bundle.records for ref in r.refs if ref.key == variable}
    assert deployment.label in users and set(kept["held_by"]) == users
    # prod_only_1 is in this scope (every variable) and used by nothing: deleted.
    assert deleted(report) == {("variable", ("prod_only_1",))}
    assert any(v["name"] == variable[0] for v in read_all(world.prod.url, "variable"))
    # Dev as it was, for the tests after this one.
    data = variable_record.data
    restored = {"name": data["name"], "value": data.get("value"), "tags": data.get("tags", [])}
    httpx.post(f"{world.dev.url}/variables/", json=restored).raise_for_status()


def test_the_guard_refuses_then_allows_and_lost_answers_are_read_back(world: World) -> None:
    """Pruning 5 of 9 work pools is refused in one line naming the counts, also past
    --prune-max 4, and nothing is deleted; --prune-max 5 deletes them (each pool's default
    queue with it) through a proxy that drops two answers: each is read back, never sent
    twice."""
    bundle_path, _ = world.export()
    world.sync(bundle_path)
    names = [f"guard-{i}" for i in range(5)]
    for name in names:
        body = {"name": name, "type": "process"}
        assert httpx.post(f"{world.prod.url}/work_pools/", json=body).status_code == 201
    pools = len(read_all(world.prod.url, "work-pool"))
    # -q: the refusal is the only line (no connecting notice before it).
    refused = pfx(world.env, "import", bundle_path, "-p", "prod", "--prune", "-q")
    assert refused.returncode == 2
    assert f"refusing to prune 5 of {pools} work-pool records" in one_line(refused.stderr)
    over = pfx(world.env, "import", bundle_path, "-p", "prod", "--prune", "--prune-max", "4", "-q")
    assert over.returncode == 2 and "more than --prune-max 4" in one_line(over.stderr)
    assert len(read_all(world.prod.url, "work-pool")) == pools

    drops = [Fault("drop", "DELETE", r"/work_pools/guard-", times=2)]
    with Proxy(world.prod.url, faults=drops) as proxy:
        env = world.env | user_env(world.workdir / "proxied", "prod", PASSPHRASE, prod=proxy.url)
        done = pfx(env, "import", bundle_path, "-p", "prod", "--prune", "--prune-max", "5",
                   "--json")  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        report = json_out(done)
        assert proxy.count("DELETE", r"/work_pools/guard-") == 5
    assert deleted(report) == {("work-pool", (n,)) for n in names} | {
        ("work-queue", (n, "default")) for n in names
    }
    notes = [o["reason"] for o in report["outcomes"] if o["status"] == "deleted"]  # type: ignore[union-attr]
    assert sum("answer to the delete was lost" in n for n in notes) == 2
    assert not any(p["name"].startswith("guard-") for p in read_all(world.prod.url, "work-pool"))


def test_an_interrupted_prune_finishes_when_run_again(world: World) -> None:
    """A prune killed mid-way leaves some deletions done; the same import again deletes the
    rest, and prod is as the bundle says."""
    bundle_path, _ = world.export()
    world.sync(bundle_path)
    names = [f"kill_{i:03d}" for i in range(240)]
    with httpx.Client(base_url=world.prod.url, timeout=30) as client:
        for name in names:
            client.post("/variables/", json={"name": name, "value": name}).raise_for_status()

    def left() -> int:
        return sum(v["name"].startswith("kill_") for v in read_all(world.prod.url, "variable"))

    with Proxy(world.prod.url, delay=0.2) as proxy:
        env = world.env | user_env(world.workdir / "slow", "prod", PASSPHRASE, prod=proxy.url)
        args = ["import", str(bundle_path), "-p", "prod", "--prune", "--prune-max", "all", "-q"]
        process = subprocess.Popen(
            [sys.executable, "-m", "pfx", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            if proxy.count("DELETE", r"/variables/") >= 10:
                break
            time.sleep(0.05)
        process.kill()
        process.wait()
    remaining = left()
    assert 0 < remaining < len(names), remaining
    code, report = world.run(bundle_path, "-p", "prod", "--prune", "--prune-max", "all")
    assert code == 0
    assert len(deleted(report)) == remaining and left() == 0
    dev, prod = compare.take(world.dev.url), compare.take(world.prod.url)
    assert census_wrong(dev, prod, world.baseline) == []
    assert extra_on(prod, dev, world.baseline) == set()


def test_restore_to_a_snapshot_by_time_puts_the_server_back(world: World) -> None:
    """`pfx import REPO@<time> --prune --on-conflict update` after records were added and
    changed: the census of prod equals prod's at the time of the snapshot."""
    bundle_path, _ = world.export()
    world.sync(bundle_path)
    repo = world.workdir / "repo"
    backup = json_out(ok(world.env, "backup", "-p", "prod", "--repo", repo, "--json"))
    then = backup["snapshot"]["time"]  # type: ignore[index]
    before = compare.take(world.prod.url)
    api = httpx.Client(base_url=world.prod.url, timeout=30)
    api.post("/variables/", json={"name": "added_later", "value": [1, 2]}).raise_for_status()
    api.patch("/variables/name/region", json={"value": "changed-later"}).raise_for_status()
    flow = api.post("/flows/", json={"name": "added-later-flow"}).json()
    pool = read_all(world.prod.url, "work-pool")[0]["name"]
    body = {
        "name": "added-later",
        "flow_id": flow["id"],
        "work_pool_name": pool,
        "schedules": [{"schedule": {"interval": 3600}, "active": True}],
    }
    api.post("/deployments/", json=body).raise_for_status()
    api.post(
        "/block_documents/",
        json={
            "name": "added-later",
            "data": {"value": "x"},
            "block_type_id": next(
                t["id"] for t in read_all(world.prod.url, "block-type") if t["slug"] == "secret"
            ),
            "block_schema_id": next(
                s["id"]
                for s in read_all(world.prod.url, "block-schema")
                if s["block_type"]["slug"] == "secret"
            ),
        },
    ).raise_for_status()
    code, report = world.run(f"{repo}@{then}", "-p", "prod", "--prune", "--on-conflict", "update")
    assert code == 0, [o for o in report["outcomes"] if o["status"] not in ("unchanged",)]
    assert deleted(report) == {
        ("variable", ("added_later",)),
        ("flow", ("added-later-flow",)),
        ("deployment", ("added-later-flow", "added-later")),
        ("block-document", ("secret", "added-later")),
    }
    after = compare.take(world.prod.url)
    assert census_wrong(before, after, before) == []
    assert {k: set(v) for k, v in after.records.items()} == {
        k: set(v) for k, v in before.records.items()
    }


def test_standby_defers_deletions_to_cutover_and_rollback_restores_them(world: World) -> None:
    """With --standby, --prune deletes nothing; cutover deletes what the import deferred
    (dry run first); rollback recreates them as they were (census), and holds back again."""
    bundle_path, _ = world.export()
    world.sync(bundle_path)
    api = httpx.Client(base_url=world.prod.url, timeout=30)
    api.post("/variables/", json={"name": "retired", "value": {"a": 1}}).raise_for_status()
    flow = api.post("/flows/", json={"name": "retired-flow"}).json()
    body = {
        "name": "retired",
        "flow_id": flow["id"],
        "schedules": [{"schedule": {"cron": "0 9 * * *", "timezone": "UTC"}, "active": True}],
    }
    api.post("/deployments/", json=body).raise_for_status()
    before = compare.take(world.prod.url)
    retired = {
        ("variable", ("retired",)),
        ("flow", ("retired-flow",)),
        ("deployment", ("retired-flow", "retired")),
    }
    report_path = world.workdir / "standby.json"
    code, report = world.run(
        bundle_path, "-p", "prod", "--on-conflict", "update", "--prune", "--standby",
        "--report", report_path,
    )  # fmt: skip
    assert code == 0 and not deleted(report), [
        o for o in report["outcomes"] if o["status"] != "unchanged"
    ]
    written = orjson.loads(report_path.read_bytes())
    assert {(d["kind"], tuple(d["key"])) for d in written["deferred"]} == retired
    assert compare.take(world.prod.url).keys("variable") == before.keys("variable")

    plan = pfx(world.env, "cutover", report_path, "-p", "prod", "--dry-run")
    assert plan.returncode == 6 and "would delete deployment retired-flow/retired" in plan.stdout
    assert "schedule: cron 0 9 * * * UTC (active)" in plan.stdout
    ok(world.env, "cutover", report_path, "-p", "prod")
    cut = compare.take(world.prod.url)
    assert not any((k, key) in retired for k in cut.records for key in cut.records[k])
    again = ok(world.env, "cutover", report_path, "-p", "prod")
    assert "deletions: none left (3 deferred, already gone)" in again.stdout

    back = ok(world.env, "cutover", report_path, "-p", "prod", "--rollback")
    assert "restore of what cutover deleted: 3 created" in back.stdout
    restored = compare.take(world.prod.url)
    for kind, key in retired:
        assert restored.records[kind][key] == before.records[kind][key], (kind, key)
