"""Outcomes that stay true when runs stop: a dead destination, Ctrl-C, interrupted default
queues, dry runs that predict the run, and updates checked by end state (real servers)."""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from fixtures.inventory import read_all
from fixtures.proxy import Fault, Proxy
from fixtures.seed import SeedInfo
from fixtures.servers import Server, start_server
from pfx.kinds.work_queue import PRISTINE
from tests.conftest import user_env
from tests.running import by_key, load, ok, pfx
from tests.test_import import PASSPHRASE, env_for, read_report, state

Outcomes = dict[tuple[str, tuple[str, ...]], dict[str, Any]]


@pytest.fixture(scope="module")
def bundle(
    seeded_source: tuple[Server, SeedInfo], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """The shared seeded source, exported once with its secrets encrypted."""
    server, _ = seeded_source
    workdir = tmp_path_factory.mktemp("trust")
    env = env_for(workdir, src=server)
    path = workdir / "snap.pfx"
    ok(env, "export", "-p", "src", "-o", path, "--secrets", "encrypt", "-q")
    yield path


def outcomes(report: dict[str, Any]) -> Outcomes:
    return {(o["kind"], tuple(o["key"])): o for o in report["outcomes"]}


def census_equal(bundle: Path, server: Server, tmp_path: Path, report: Path) -> None:
    """The destination, re-exported, holds every record of the bundle with equal content,
    except those the last import's `report` names as unsupported there and what is blocked
    behind them (push and managed pools on a self-hosted server)."""
    env = env_for(tmp_path, dst=server)
    back = tmp_path / "back.pfx"
    ok(env, "export", "-p", "dst", "-o", back, "-q")
    ours, theirs = by_key(load(bundle)), by_key(load(back))
    away = unsupported(read_report(report))
    ours = {k: v for k, v in ours.items() if k not in away}
    assert set(ours) <= set(theirs), sorted(set(ours) - set(theirs))[:5]
    differing = [k for k in ours if ours[k] != theirs[k]]
    assert not differing, differing[:5]


def unsupported(report: dict[str, Any]) -> set[tuple[str, tuple[str, ...]]]:
    """Records skipped as unsupported, and those blocked behind one of them (transitively);
    every other status of the report must be complete."""
    found = outcomes(report)
    away = {k for k, o in found.items() if o["code"] == "unsupported"}
    labels = {f"{k[0]} {'/'.join(k[1])}": k for k in found}
    changed = True
    while changed:
        changed = False
        for k, o in found.items():
            if k not in away and o["status"] == "blocked":
                by = str(o["blocked_by"]).split(" (")[0]
                if labels.get(by) in away:
                    away.add(k)
                    changed = True
    rest = {o["status"] for k, o in found.items() if k not in away}
    assert rest <= {"created", "unchanged", "updated"}, rest
    return away


def wait_for(predicate: Callable[[], bool], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def deployments(server: Server) -> int:
    """How many deployments the server has; -1 while it is too busy writing to answer (SQLite
    holds its lock through an import's writes on a loaded machine)."""
    try:
        count = httpx.post(f"{server.url}/deployments/count", json={}, timeout=30).json()
    except httpx.TimeoutException:
        return -1
    return int(count)


def test_dry_run_predicts_the_run_record_by_record(
    bundle: Path, new_server: Callable[[str], Server], tmp_path: Path
) -> None:
    """On a partly populated destination (a pool of another type, a differing variable), the
    dry run's outcomes and exit code equal the run's; afterwards a dry run exits 0."""
    server = new_server("dst")
    env = env_for(tmp_path, dst=server)
    records = load(bundle).records
    pool = next(r for r in records if r.kind == "work-pool" and r.data.get("type") == "process")
    variable = next(r for r in records if r.kind == "variable")
    with httpx.Client(base_url=server.url) as client:
        client.post("/work_pools/", json={"name": pool.key[0], "type": "kubernetes"})
        client.post("/variables/", json={"name": variable.key[0], "value": "theirs"})
    for policy in ("skip", "update"):
        args = ("import", bundle, "-p", "dst", "--on-conflict", policy)
        dry = pfx(env, *args, "--dry-run", "--report", tmp_path / "dry.json", "--force")
        predicted = outcomes(read_report(tmp_path / "dry.json"))
        run = pfx(env, *args, "--report", tmp_path / "run.json", "--force")
        happened = outcomes(read_report(tmp_path / "run.json"))
        assert dry.returncode == run.returncode, dry.stdout + run.stdout
        assert run.returncode == (4 if policy == "update" else run.returncode)
        assert run.returncode in (3, 4)
        assert set(predicted) == set(happened)
        if policy == "skip":
            for key, o in happened.items():
                p = predicted[key]
                assert (p["status"], p["code"], p["blocked_by"]) == (
                    o["status"],
                    o["code"],
                    o["blocked_by"],
                ), key
    # The pool of another type is never "updated"; the variable is.
    assert happened[("work-pool", pool.key)]["code"] == "immutable"
    assert happened[("variable", variable.key)]["status"] == "updated"
    on_dest = {v["name"]: v["value"] for v in read_all(server.url, "variable")}
    assert on_dest[variable.key[0]] == variable.data["value"]


def test_a_finished_import_dry_runs_clean(
    bundle: Path, new_server: Callable[[str], Server], tmp_path: Path
) -> None:
    """Before the import a dry run predicts its exit code (6 where the run is complete: changes
    would be written); after it, the dry run predicts no write and the server is untouched."""
    server = new_server("dst")
    env = env_for(tmp_path, dst=server)
    before_run = pfx(env, "import", bundle, "-p", "dst", "--dry-run")
    run = pfx(env, "import", bundle, "-p", "dst", "-q")
    assert before_run.returncode == (6 if run.returncode == 0 else run.returncode), run.stdout
    before = state(server.url)
    after = pfx(env, "import", bundle, "-p", "dst", "--dry-run", "--report", tmp_path / "r.json")
    assert after.returncode == run.returncode
    statuses = {o["status"] for o in read_report(tmp_path / "r.json")["outcomes"]}
    assert not statuses & {"created", "updated"}, statuses
    assert state(server.url) == before


def test_an_interrupted_default_queue_is_finished(
    bundle: Path, new_server: Callable[[str], Server], tmp_path: Path
) -> None:
    """A pool as the bundle says whose default queue is still as the pool's creation left it
    (a run stopped between the two): the next import configures it, even under skip."""
    server = new_server("dst")
    env = env_for(tmp_path, dst=server)
    records = load(bundle).records
    configured = [
        r
        for r in records
        if r.kind == "work-queue"
        and r.key[1] == "default"
        and r.data.get("description") != PRISTINE["description"]
    ]
    assert configured, "the seed configures some default queues"
    queue = configured[0]
    pfx(env, "import", bundle, "-p", "dst", "-q")
    path = f"{server.url}/work_pools/{queue.key[0]}/queues/default"
    httpx.patch(path, json=PRISTINE).raise_for_status()
    pfx(env, "import", bundle, "-p", "dst", "--report", tmp_path / "r.json")
    report = outcomes(read_report(tmp_path / "r.json"))
    assert report[("work-pool", (queue.key[0],))]["status"] == "unchanged"
    assert report[("work-queue", queue.key)]["status"] == "updated", report[
        ("work-queue", queue.key)
    ]
    on_dest = httpx.get(path).json()
    assert {k: on_dest[k] for k in PRISTINE} == {k: queue.data.get(k) for k in PRISTINE}


def test_a_dead_destination_stops_the_run_in_one_line_and_a_rerun_completes(
    bundle: Path, new_server: Callable[[str], Server], servers_workdir: Path, tmp_path: Path
) -> None:
    """The destination dies mid-deployments: exit 69, the report names every record (some
    not attempted), one line says why; restarted, the same import completes the census."""
    server = new_server("dst")
    env = env_for(tmp_path, dst=server)
    report_path = tmp_path / "r.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "pfx", "import", bundle, "-p", "dst", "--report", report_path],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(lambda: process.poll() is not None or deployments(server) >= 3)
    server.stop()
    out, err = process.communicate(timeout=300)
    assert process.returncode == 69, out + err
    assert "Traceback" not in err
    assert sum("cannot reach" in line for line in (out + err).splitlines()) <= 2, out + err
    report = read_report(report_path)
    assert len(report["outcomes"]) == len(load(bundle).records)
    assert report["counts"]["not-attempted"] > 0 and report["stopped"]

    restarted = start_server(servers_workdir, server.name)
    try:
        env = env_for(tmp_path, dst=restarted)
        pfx(env, "import", bundle, "-p", "dst", "--report", report_path, "--force")
        census_equal(bundle, restarted, tmp_path, report_path)
    finally:
        restarted.stop()


def test_ctrl_c_writes_the_report_and_exits_130(
    bundle: Path, new_server: Callable[[str], Server], tmp_path: Path
) -> None:
    """SIGINT mid-import: exit 130, one line on stderr, the report lists every record."""
    server = new_server("dst")
    # Through a proxy whose own tally says when deployments are being created: a count read
    # from the server waits for SQLite between writes, and on a loaded machine the import
    # could finish before the count answered.
    with Proxy(server.url) as proxy:
        env = user_env(tmp_path, passphrase=PASSPHRASE, dst=proxy.url)
        report_path = tmp_path / "r.json"
        argv = ["import", bundle, "-p", "dst", "-q", "--report", report_path]
        process = subprocess.Popen(
            [sys.executable, "-m", "pfx", *argv],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # Any answer counts: Prefect answers a create 200 when the row's timestamp does not
        # pass the request's own (SQLite's precision), 201 otherwise.
        started = time.monotonic()
        wait_for(lambda: process.poll() is not None or proxy.count("POST", "/deployments/$") >= 2)
        seen = (time.monotonic() - started, process.poll(), proxy.count("POST", "/deployments/$"))
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
    assert process.returncode == 130, f"{out}{err}\n(seconds, exit, deployments) at SIGINT: {seen}"
    assert len(err.strip().splitlines()) == 1 and "interrupted" in err, err
    report = orjson.loads(report_path.read_bytes())
    assert len(report["outcomes"]) == len(load(bundle).records)
    assert report["counts"]["not-attempted"] > 0


def test_import_through_a_flaky_network_ends_equal_without_duplicates(
    bundle: Path, new_server: Callable[[str], Server], tmp_path: Path
) -> None:
    """Through a proxy that drops answers after the server wrote (automations, variables,
    deployments, blocks), resets reads and answers 503s, one import (or a re-run) leaves the
    destination equal to the source with exactly one copy of every automation."""
    server = new_server("dst")
    faults = [
        # Every automation create loses its answer: each one (also those a deployment owns,
        # whose owner_resource no listing returns) must be found, never sent twice.
        Fault("drop", "POST", r"/automations/$"),
        Fault("drop", "POST", r"/variables/$", times=3),
        Fault("drop", "POST", r"/deployments/$", times=2),
        Fault("drop", "POST", r"/block_documents/$", times=2),
        Fault("drop", "PATCH", r"/work_pools/.*/queues/", times=1),
        Fault("reset", "POST", r"/filter$", times=3),
        Fault("503", "POST", r"/variables/$", times=2),
    ]
    with Proxy(server.url, faults=faults) as proxy:
        env = env_for(tmp_path, dst=dataclasses.replace(server, url=proxy.url, _proc=None))
        first = pfx(env, "import", bundle, "-p", "dst", "--report", tmp_path / "r.json")
        posts = proxy.count("POST")
    assert "Traceback" not in first.stderr
    report = read_report(tmp_path / "r.json")
    lost = [o for o in report["outcomes"] if "answer" in o["reason"] and "lost" in o["reason"]]
    assert lost, "some creates were read back after a lost answer"
    failed = [f"{o['kind']} {o['key']}: {o['reason']}" for o in report["outcomes"]]
    failed = [
        line for line, o in zip(failed, report["outcomes"], strict=True) if o["status"] == "failed"
    ]
    assert not failed, failed
    env = env_for(tmp_path, dst=server)
    again = pfx(env, "import", bundle, "-p", "dst", "--report", tmp_path / "r2.json")
    assert again.returncode in (0, 3), again.stdout
    census_equal(bundle, server, tmp_path, tmp_path / "r2.json")
    automations = [r for r in load(bundle).records if r.kind == "automation"]
    assert len(read_all(server.url, "automation")) == len(automations)
    assert posts > 0


def test_update_makes_every_kind_equal_to_the_bundle(
    bundle: Path, new_server: Callable[[str], Server], tmp_path: Path
) -> None:
    """After the destination drifts in one record of every updatable kind (flow tags, a
    variable, a pool, a queue, a block document, limits, a deployment's labels and schedules,
    an automation), `--on-conflict update` reports each updated and the census equals the
    bundle again; a second run reports them unchanged."""
    server = new_server("dst")
    env = env_for(tmp_path, dst=server)
    pfx(env, "import", bundle, "-p", "dst", "-q")
    with httpx.Client(base_url=server.url, timeout=30) as c:
        first = {k: read_all(server.url, k) for k in ("flow", "variable", "deployment")}
        flow = first["flow"][0]
        c.patch(f"/flows/{flow['id']}", json={"tags": ["drifted"]}).raise_for_status()
        var = first["variable"][0]
        c.patch(f"/variables/{var['id']}", json={"value": "drifted"}).raise_for_status()
        pool = next(p for p in read_all(server.url, "work-pool") if p["type"] == "process")
        name = pool["name"]
        c.patch(f"/work_pools/{name}", json={"description": "drifted"}).raise_for_status()
        queue = c.post(f"/work_pools/{name}/queues/filter", json={}).json()[-1]
        c.patch(
            f"/work_pools/{name}/queues/{queue['name']}", json={"concurrency_limit": 99}
        ).raise_for_status()
        limit = read_all(server.url, "global-concurrency-limit")[0]
        c.patch(f"/v2/concurrency_limits/{limit['id']}", json={"limit": 99}).raise_for_status()
        deployment = next(d for d in first["deployment"] if d["schedules"])
        c.post(
            "/deployments/",
            json={"name": deployment["name"], "flow_id": deployment["flow_id"], "labels": {}},
        ).raise_for_status()
        automation = read_all(server.url, "automation")[0]
        c.patch(f"/automations/{automation['id']}", json={"enabled": False}).raise_for_status()
    update = ("import", bundle, "-p", "dst", "--on-conflict", "update", "--report")
    result = pfx(env, *update, tmp_path / "u.json")
    report = read_report(tmp_path / "u.json")
    updated = {o["kind"] for o in report["outcomes"] if o["status"] == "updated"}
    assert {"flow", "variable", "work-pool", "work-queue", "deployment", "automation"} <= updated
    assert "global-concurrency-limit" in updated, result.stdout
    assert not [o for o in report["outcomes"] if o["status"] == "failed"], result.stdout
    census_equal(bundle, server, tmp_path, tmp_path / "u.json")
    pfx(env, *update, tmp_path / "again.json")
    again = read_report(tmp_path / "again.json")
    assert not [o for o in again["outcomes"] if o["status"] in ("updated", "failed")]
