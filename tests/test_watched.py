"""The destination's automations that watch what an import writes (pfx.watched, pure), and the
plan that names them against a real server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from fixtures.servers import Server
from pfx.jsontypes import JSONObject
from pfx.watched import Written, watching_automations
from tests.running import json_out, ok, pfx

POOL = "11111111-1111-4111-8111-111111111111"
OTHER = "22222222-2222-4222-8222-222222222222"


def automation(name: str, trigger: JSONObject, enabled: bool = True) -> JSONObject:
    return {"id": f"{name}-id", "name": name, "enabled": enabled, "trigger": trigger}


def event(expect: list[str], **match: Any) -> JSONObject:
    return {"type": "event", "expect": expect, "posture": "Reactive", **match}


PAUSE_ON_NOT_READY = automation(
    "pause-when-not-ready",
    event(
        ["prefect.work-pool.not-ready"], match={"prefect.resource.id": f"prefect.work-pool.{POOL}"}
    ),
)
ANY_POOL = automation(
    "any-pool-change",
    event(["prefect.work-pool.*"], match={"prefect.resource.id": "prefect.work-pool.*"}),
)
FAILED_RUNS = automation(
    "failed-runs",
    event(["prefect.flow-run.Failed"], match={"prefect.resource.id": "prefect.flow-run.*"}),
)


def names(automations: list[JSONObject], written: list[Written]) -> dict[str, list[str]]:
    return {w.name: w.watches for w in watching_automations(automations, written)}


def test_an_update_of_a_watched_pool_names_the_automation() -> None:
    """Updating the pool an automation watches by id names it; creating another pool, or a
    flow-run automation, does not; `prefect.work-pool.*` watches creates too."""
    autos = [PAUSE_ON_NOT_READY, ANY_POOL, FAILED_RUNS]
    updated: list[Written] = [("work-pool", "work-pool k8s", POOL)]
    assert names(autos, updated) == {
        "pause-when-not-ready": ["work-pool k8s"],
        "any-pool-change": ["work-pool k8s"],
    }
    created: list[Written] = [("work-pool", "work-pool new", None)]
    assert names(autos, created) == {"any-pool-change": ["work-pool new"]}
    other: list[Written] = [
        ("work-pool", "work-pool other", OTHER),
        ("variable", "variable x", None),
    ]
    assert names([PAUSE_ON_NOT_READY, FAILED_RUNS], other) == {}


def test_disabled_nested_and_related_triggers() -> None:
    """A disabled automation is not named; a compound trigger's inner trigger counts; so does
    match_related naming the written deployment; an `expect` of other events does not."""
    deployment = f"prefect.deployment.{OTHER}"
    compound = automation(
        "compound",
        {
            "type": "compound",
            "require": "all",
            "triggers": [
                event(
                    ["prefect.deployment.updated"],
                    match_related={"prefect.resource.id": deployment},
                )
            ],
        },
    )
    disabled = automation("off", PAUSE_ON_NOT_READY["trigger"], enabled=False)
    runs_of_it = automation(
        "runs-of-it",
        event(["prefect.flow-run.Failed"], match_related={"prefect.resource.id": deployment}),
    )
    written: list[Written] = [
        ("deployment", "deployment f/d", OTHER),
        ("work-pool", "work-pool k8s", POOL),
    ]
    assert names([compound, disabled, runs_of_it], written) == {"compound": ["deployment f/d"]}


def test_the_plan_names_automations_that_watch_the_import(
    new_server: Callable[[str], Server], profiles_env: Callable[..., dict[str, str]], tmp_path: Path
) -> None:
    """A dry run that would update a pool names the destination's enabled automation that
    pauses that pool when it is not ready (text and --json), and points to --standby."""
    src, dst = new_server("src"), new_server("dst")
    env = profiles_env(src=src, dst=dst)
    pool = {"name": "etl", "type": "process", "concurrency_limit": 3}
    with (
        httpx.Client(base_url=src.url, timeout=60) as s,
        httpx.Client(base_url=dst.url, timeout=60) as d,
    ):
        s.post("/work_pools/", json=pool).raise_for_status()
        made = d.post("/work_pools/", json=pool | {"concurrency_limit": 1})
        made.raise_for_status()
        pool_id = made.json()["id"]
        watcher = automation(
            "pause-etl-when-not-ready",
            event(
                ["prefect.work-pool.not-ready"],
                match={"prefect.resource.id": f"prefect.work-pool.{pool_id}"},
            ),
        )
        watcher.pop("id")
        watcher["actions"] = [
            {"type": "pause-work-pool", "source": "selected", "work_pool_id": pool_id}
        ]
        d.post("/automations/", json=watcher).raise_for_status()
    bundle = tmp_path / "snap.pfx"
    ok(env, "export", "-p", "src", "-o", bundle, "-q", "--include", "work-pool:etl")
    plan = pfx(env, "import", bundle, "-p", "dst", "--dry-run", "--on-conflict", "update")
    assert plan.returncode == 6, plan.stdout + plan.stderr
    assert "note: 1 enabled automation on the destination watch" in plan.stdout
    assert "--standby" in plan.stdout
    assert "automation pause-etl-when-not-ready" in plan.stdout
    assert "watches work-pool etl" in plan.stdout
    as_json = json_out(
        pfx(env, "import", bundle, "-p", "dst", "--dry-run", "--on-conflict", "update", "--json")
    )
    [found] = as_json["watched_by"]  # type: ignore[misc]
    assert found["name"] == "pause-etl-when-not-ready" and found["watches"] == ["work-pool etl"]
    # Nothing to write, nothing named: a second run of the same import with skip.
    skip = pfx(env, "import", bundle, "-p", "dst", "--dry-run")
    assert "watch what this import writes" not in skip.stdout
