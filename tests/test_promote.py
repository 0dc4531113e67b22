"""Promotion on real servers: partial exports hold their closure, one deployment restored from
a full backup, a map renaming a pool and patching job variables, standby -> cutover ->
rollback, and diff of bundles and of a live server."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from fixtures.inventory import read_all
from fixtures.seed import SeedInfo
from fixtures.servers import Server, start_servers
from pfx.bundle import Bundle
from pfx.model import Record
from tests.conftest import user_env
from tests.running import json_out, load, ok, pfx

PASSPHRASE = "promote tests passphrase"


@dataclass
class World:
    """The seeded source, two empty destinations (`a`, `b`), a full encrypted bundle."""

    env: dict[str, str]
    a: Server
    b: Server
    full: Path
    bundle: Bundle
    workdir: Path


@pytest.fixture(scope="module")
def world(
    seeded_source: tuple[Server, SeedInfo], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """Profiles src/a/b, and one encrypted export of the seeded source (read-only)."""
    workdir = tmp_path_factory.mktemp("promote")
    a, b = start_servers(workdir, ["a", "b"])
    try:
        servers = {"src": seeded_source[0], "a": a, "b": b}
        env = user_env(workdir, passphrase=PASSPHRASE, **servers)
        full = workdir / "full.pfx"
        ok(env, "export", "-p", "src", "-o", full, "--secrets", "encrypt", "-q")
        yield World(env, a, b, full, load(full), workdir)
    finally:
        a.stop()
        b.stop()


def portable_pool(record: Record, bundle: Bundle) -> Record | None:
    """The work pool record a deployment runs on, if any."""
    name = record.data.get("work_pool_name")
    return next((r for r in bundle.records if r.kind == "work-pool" and r.key == (name,)), None)


def local_deployments(bundle: Bundle) -> list[Record]:
    """Deployments on a pool any server can hold (not managed, not push), with a queue."""
    out = []
    for record in bundle.records:
        if record.kind != "deployment":
            continue
        pool = portable_pool(record, bundle)
        kind = str(pool.data.get("type", "")) if pool else ""
        if pool and not kind.startswith("prefect:") and not kind.endswith(":push"):
            out.append(record)
    return out


def deployments_on(url: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The server's deployments by (flow name, deployment name), from the census."""
    flows = {f["id"]: f["name"] for f in read_all(url, "flow")}
    return {(flows[d["flow_id"]], d["name"]): d for d in read_all(url, "deployment")}


def test_partial_export_holds_exactly_the_closure(world: World) -> None:
    """A partial export holds the chosen records, everything they reference (hard refs, at any
    depth) and nothing else, each equal to the full export's record; verify and inspect agree."""
    chosen = local_deployments(world.bundle)[0]
    path = world.workdir / "part.pfx"
    selector = f"deployment:{'/'.join(chosen.key)}"
    result = ok(
        world.env, "export", "-p", "src", "-o", path, "--include", selector,
        "--include", "variable:var_000*", "--exclude", "kind:automation",
    )  # fmt: skip
    assert "included as a dependency of deployment " + "/".join(chosen.key) in result.stdout
    part = load(path)
    full = {(r.kind, r.key): r for r in world.bundle.records}
    got = {(r.kind, r.key): r for r in part.records}
    picked = {("deployment", chosen.key)} | {
        i for i in full if i[0] == "variable" and i[1][0].startswith("var_000")
    }
    assert picked <= set(got)
    # Closed: every ref to a record of the source is in the partial bundle.
    for record in part.records:
        for ref in record.refs:
            if (ref.kind, ref.key) in full and not ref.soft:
                assert (ref.kind, ref.key) in got, (record.label, ref)
    # Minimal: every record is picked or referenced by another record in the bundle.
    referenced = {(ref.kind, ref.key) for r in part.records for ref in r.refs}
    assert set(got) <= picked | referenced
    # The same content as in the full bundle (which holds secrets encrypted, this one withheld).
    assert all((got[i].data, got[i].refs) == (full[i].data, full[i].refs) for i in got)
    assert not any(kind == "automation" for kind, _ in got)
    manifest = json_out(ok(world.env, "inspect", path, "--json"))
    assert manifest["selection"]["include"] == [selector, "variable:var_000*"]  # type: ignore[index]
    ok(world.env, "verify", path)
    # An exclusion that cuts a needed record is an error naming both.
    flow = f"flow:{chosen.key[0]}"
    cut = world.workdir / "cut.pfx"
    bad = pfx(world.env, "export", "-p", "src", "-o", cut, "--include", selector, "--exclude", flow)
    assert bad.returncode == 2 and not cut.exists()
    assert f"deployment {'/'.join(chosen.key)} needs flow {chosen.key[0]}" in bad.stderr


def test_restore_one_deployment_from_a_full_backup(world: World) -> None:
    """`--include deployment:F/D` on a full bundle restores that deployment and what it needs
    into an empty server, and nothing else of the deployments."""
    chosen = local_deployments(world.bundle)[1]
    selector = f"deployment:{'/'.join(chosen.key)}"
    ok(world.env, "import", world.full, "-p", "a", "--include", selector, "-q")
    on_a = deployments_on(world.a.url)
    assert chosen.key in on_a
    assert {k for k in on_a if k != chosen.key} <= {d.key for d in local_deployments(world.bundle)}
    pools = {p["name"] for p in read_all(world.a.url, "work-pool")}
    assert chosen.data["work_pool_name"] in pools
    assert on_a[chosen.key]["job_variables"] == chosen.data["job_variables"]


def test_map_renames_a_pool_and_patches_job_variables(world: World) -> None:
    """A map renames the deployment's pool (queues and the deployment follow) and patches its
    job variables on the destination; importing again with the map changes nothing."""
    chosen = local_deployments(world.bundle)[2]
    old_pool = str(chosen.data["work_pool_name"])
    envmap = world.workdir / "prod.toml"
    envmap.write_text(
        f'[rename.work-pool]\n"{old_pool}" = "{old_pool}-prod"\n'
        f'[[patch]]\nselect = "deployment:{chosen.key[0]}/*"\n'
        'merge = { job_variables = { image = "registry.example/etl:1.4" } }\n'
    )
    selector = f"deployment:{'/'.join(chosen.key)}"
    args = ("import", world.full, "-p", "b", "--include", selector, "--map", envmap)
    result = ok(world.env, *args)
    assert f"work-pool {old_pool}-prod (renamed from {old_pool})" in result.stdout
    pools = {p["name"] for p in read_all(world.b.url, "work-pool")}
    assert f"{old_pool}-prod" in pools and old_pool not in pools
    queues = {(q["work_pool_name"], q["name"]) for q in read_all(world.b.url, "work-queue")}
    assert all(pool != old_pool for pool, _ in queues)
    deployment = deployments_on(world.b.url)[chosen.key]
    assert deployment["work_pool_name"] == f"{old_pool}-prod"
    assert deployment["job_variables"]["image"] == "registry.example/etl:1.4"
    again = ok(world.env, *args, "--json")
    statuses = {o["status"] for o in json_out(again)["outcomes"]}  # type: ignore[union-attr]
    assert statuses == {"unchanged"}


def active_automation(bundle: Bundle) -> Record:
    """An enabled automation that runs something on a deployment any server can hold."""
    local = {d.key for d in local_deployments(bundle)}
    pools = {portable_pool(d, bundle).key for d in local_deployments(bundle)}  # type: ignore[union-attr]
    for record in bundle.records:
        if record.kind != "automation" or not record.data.get("enabled"):
            continue
        if any(r.late for r in record.refs):
            continue
        targets = [r for r in record.refs if r.kind == "deployment"]
        if (
            targets
            and all(t.key in local for t in targets)
            and all(r.key in pools for r in record.refs if r.kind == "work-pool")
        ):
            return record
    raise AssertionError("the seed has no enabled automation on a local deployment")


def automation_states(url: str) -> dict[str, bool]:
    return {a["id"]: a["enabled"] for a in read_all(url, "automation")}


def test_standby_then_cutover_then_rollback(world: World) -> None:
    """--standby arrives paused and disabled (also what an earlier import left active, with
    --on-conflict update); cutover sets the bundle's states (again: no
    change); rollback holds them back again, each checked on the server."""
    auto = active_automation(world.bundle)
    report = world.workdir / "cutover.json"
    ok(
        world.env, "import", world.full, "-p", "a", "--standby", "--report", report,
        "--include", f"automation:{auto.key[0]}", "--on-conflict", "update", "-q",
    )  # fmt: skip
    held = orjson.loads(report.read_bytes())["standby"]
    dep_keys = [tuple(h["key"]) for h in held if h["kind"] == "deployment"]
    auto_ids = [h["id"] for h in held if h["kind"] == "automation"]
    assert dep_keys and auto_ids
    active = {tuple(h["key"]) for h in held if h["kind"] == "deployment" and h["bundle"] is False}

    def paused() -> dict[tuple[str, ...], bool]:
        on = deployments_on(world.a.url)
        return {k: bool(on[k]["paused"]) for k in dep_keys}  # type: ignore[index]

    assert all(paused().values())
    assert not any(automation_states(world.a.url)[i] for i in auto_ids)
    plan = pfx(world.env, "cutover", report, "-p", "a", "--dry-run")
    assert plan.returncode == 6 and "would set" in plan.stdout
    assert all(paused().values())

    ok(world.env, "cutover", report, "-p", "a")
    assert {k for k, v in paused().items() if not v} == active
    assert all(automation_states(world.a.url)[i] for i in auto_ids)
    again = ok(world.env, "cutover", report, "-p", "a")
    assert "0 set" in again.stdout

    ok(world.env, "cutover", report, "-p", "a", "--rollback")
    assert all(paused().values())
    assert not any(automation_states(world.a.url)[i] for i in auto_ids)


def test_diff_of_bundles_and_of_a_live_server(world: World) -> None:
    """Identical bundles diff equal (exit 0); a changed value is shown old -> new (exit 1),
    against a live server and between bundles; a partial bundle equals its live source."""
    api = httpx.Client(base_url=world.b.url, timeout=30)
    created = api.post("/variables/", json={"name": "diff_probe", "value": "before"})
    assert created.status_code == 201
    before = world.workdir / "b-before.pfx"
    ok(world.env, "export", "-p", "b", "-o", before, "-q")
    assert ok(world.env, "diff", before, before).stdout.strip().endswith("no differences")
    assert pfx(world.env, "diff", before, "-p", "b").returncode == 0

    api.patch("/variables/name/diff_probe", json={"value": "after"}).raise_for_status()
    live = pfx(world.env, "diff", before, "-p", "b", "--json")
    assert live.returncode == 1, live.stderr
    records = json_out(live)["records"]
    assert records == [
        {
            "kind": "variable",
            "key": ["diff_probe"],
            "status": "changed",
            "fields": ["value"],
            "changes": [{"path": "value", "old": "before", "new": "after"}],
        }
    ]
    after = world.workdir / "b-after.pfx"
    ok(world.env, "export", "-p", "b", "-o", after, "-q")
    between = pfx(world.env, "diff", before, after)
    assert between.returncode == 1
    assert 'value: "before" -> "after"' in between.stdout
    part = world.workdir / "one-var.pfx"
    ok(world.env, "export", "-p", "src", "-o", part, "--include", "variable:region", "-q")
    assert pfx(world.env, "diff", part, "-p", "src").returncode == 0
