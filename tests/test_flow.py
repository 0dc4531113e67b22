"""Backups that run themselves, as a user sets them up: the documented prefect.yaml entry for
`pfx.flows:backup` deployed with `prefect deploy`, a process work pool, a real `prefect worker`
that picks up a run of the deployment, and the snapshot in the repository afterwards."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson

from fixtures.servers import Server
from tests.conftest import prefect_free_environ
from tests.running import ok

PREFECT = str(Path(sys.executable).parent / "prefect")

README = Path(__file__).resolve().parents[1] / "README.md"
DOCUMENTED_REPOSITORY = "s3://backups/prefect-prod"


def documented_prefect_yaml(repository: Path) -> str:
    """The prefect.yaml entry README "Backups that run themselves" documents, as written,
    with this test's repository."""
    text = README.read_text(encoding="utf-8")
    (entry,) = [
        m.group(1)
        for m in re.finditer(r"^```yaml\n(.*?)^```", text, re.S | re.M)
        if "pfx.flows:backup" in m.group(1)
    ]
    assert DOCUMENTED_REPOSITORY in entry
    return entry.replace(DOCUMENTED_REPOSITORY, str(repository))


def prefect_env(server: Server, home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    return prefect_free_environ() | {
        "PREFECT_API_URL": server.url,
        "PREFECT_HOME": str(home),
        "PREFECT_PROFILES_PATH": str(home / "profiles.toml"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_WORKER_PREFETCH_SECONDS": "1",
    }


def prefect(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [PREFECT, "--no-prompt", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, f"prefect {args}: {done.stdout}\n{done.stderr}"
    return done


def test_scheduled_deployment_run_by_a_worker_lands_a_snapshot(
    new_server: Callable[[str], Server], tmp_path: Path
) -> None:
    """prefect.yaml deploys pfx.flows:backup with an hourly schedule onto a process pool; a
    worker runs it (a run triggered through the API, not waited for); the run completes and
    the repository holds an encrypted snapshot of the server the flow ran on."""
    server = new_server("orchestrator")
    env = prefect_env(server, tmp_path / "home")
    project = tmp_path / "project"
    project.mkdir()
    repo = tmp_path / "repo"
    (project / "prefect.yaml").write_text(documented_prefect_yaml(repo))
    prefect(env, project, "work-pool", "create", "backups", "--type", "process")
    secret = subprocess.run(
        [
            sys.executable,
            "-c",
            "from prefect.blocks.system import Secret; "
            "Secret(value='flow passphrase').save('pfx-backup-passphrase')",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert secret.returncode == 0, secret.stderr
    prefect(env, project, "deploy", "--all")

    with httpx.Client(base_url=server.url, timeout=30) as api:
        (deployment,) = api.post("/deployments/filter", json={}).json()
        assert deployment["entrypoint"] == "pfx.flows:backup"
        assert [s["schedule"]["cron"] for s in deployment["schedules"]] == ["0 * * * *"]
        run = api.post(f"/deployments/{deployment['id']}/create_flow_run", json={}).json()
        worker = subprocess.Popen(
            [PREFECT, "worker", "start", "--pool", "backups", "--type", "process"],
            env=env,
            cwd=project,
            stdout=open(tmp_path / "worker.log", "wb"),  # noqa: SIM115 - closed with the process
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            state = ""
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline:
                state = api.get(f"/flow_runs/{run['id']}").json()["state"]["type"]
                if state in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
                    break
                time.sleep(1)
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
        log = (tmp_path / "worker.log").read_text(errors="replace")
        assert state == "COMPLETED", f"flow run {state}:\n{log[-4000:]}"

    user = prefect_free_environ() | {"PFX_PASSPHRASE": "flow passphrase"}
    (snapshot,) = orjson.loads(ok(user, "snapshots", "--repo", repo, "--json").stdout)
    assert snapshot["source"] == server.url and snapshot["secrets"] == "encrypted"
    ok(user, "verify", f"{repo}@latest")
