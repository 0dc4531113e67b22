"""`pfx render`: prefect.yaml, automations.yaml and prefect-setup.sh, proven by deploying them
with Prefect's own CLI onto a fresh real server and comparing it with the source by census."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from fixtures.inventory import read_all
from fixtures.seed import SeedInfo
from fixtures.servers import Server
from pfx.bundle import Bundle
from pfx.model import Record, Ref
from pfx.render import Omission, render
from pfx.secrets import env_name
from tests.conftest import user_env
from tests.running import json_out, load, ok, pfx

# Server-made fields of a deployment (ids, times, state), never configuration.
SERVER_MADE = {
    "id", "created", "updated", "flow_id", "status", "last_polled", "created_by", "updated_by",
    "work_queue_id", "work_pool_id", "concurrency_limit",
}  # fmt: skip
SCHEDULE_MADE = {"id", "created", "updated", "deployment_id"}


# --- the round trip against real servers ----------------------------------------------------


@pytest.fixture(scope="module")
def rendered(
    seeded_source: tuple[Server, SeedInfo], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Bundle, dict[str, Any]]:
    """The seeded source exported with the pfx CLI and rendered from the bundle."""
    server, _ = seeded_source
    home = tmp_path_factory.mktemp("render")
    env = user_env(home, src=server)
    ok(env, "export", "-p", "src", "-o", home / "snap.pfx", "-q")
    summary = json_out(ok(env, "render", home / "snap.pfx", "-o", home / "infra", "--json"))
    (home / "env.json").write_text(json.dumps(env))
    return home / "infra", load(home / "snap.pfx"), summary


def test_prefect_deploy_recreates_the_sources_deployments(
    rendered: tuple[Path, Bundle, dict[str, Any]],
    seeded_source: tuple[Server, SeedInfo],
    new_server: Callable[[str], Server],
) -> None:
    """prefect-setup.sh, `prefect deploy --all` and `prefect automation create --from-file`
    make a fresh server equal to the source in every field the render did not list."""
    infra, bundle, summary = rendered
    source, _ = seeded_source
    omitted = _omissions(summary)
    dst = new_server("rendered")
    env = _prefect_env(dst, bundle.records)
    _write_stub_flows(infra, bundle.records)

    _run(["bash", str(infra / "prefect-setup.sh"), "blocks", "pools"], infra, env)
    _run([_prefect(), "--no-prompt", "deploy", "--all"], infra, env)
    _run(["bash", str(infra / "prefect-setup.sh"), "deployments"], infra, env)
    # Exit 1 when some automation was refused (the render lists which and why).
    _run([_prefect(), "automation", "create", "--from-file", "automations.yaml"], infra, env, 1)

    differences = _deployment_differences(source.url, dst.url)
    unlisted = [d for d in differences if not _listed(d, omitted)]
    assert not unlisted, f"differences the render did not list: {unlisted}"
    differences = _automation_differences(source.url, dst.url)
    unlisted = [d for d in differences if not _listed(d, omitted)]
    assert not unlisted, f"automation differences the render did not list: {unlisted}"


def test_prefect_loads_the_rendered_files(rendered: tuple[Path, Bundle, dict[str, Any]]) -> None:
    """Prefect's own loaders read prefect.yaml (every deployment, no validation error) and
    every entry of automations.yaml."""
    from prefect.cli.deploy._config import _load_deploy_configs_and_actions
    from prefect.events.schemas.automations import AutomationCore
    from rich.console import Console

    infra, bundle, summary = rendered
    console = Console(file=io.StringIO())
    configs, _ = _load_deploy_configs_and_actions(infra / "prefect.yaml", console=console)
    assert console.file.getvalue() == ""  # type: ignore[attr-defined]
    deployable = [r for r in bundle.records if r.kind == "deployment" and _has_pool(r)]
    assert [c["name"] for c in configs] == [r.key[1] for r in deployable]
    assert summary["counts"]["deployments"] == len(deployable)
    automations = yaml.safe_load((infra / "automations.yaml").read_text())["automations"]
    for entry in automations:
        AutomationCore.model_validate(entry)
    kept = summary["counts"]["automations"] + summary["counts"]["triggers"]
    assert kept == sum(1 for r in bundle.records if r.kind == "automation")


def test_a_live_server_renders_as_its_bundle(
    rendered: tuple[Path, Bundle, dict[str, Any]],
) -> None:
    """`pfx render -p PROFILE` (read in memory) writes the same files as rendering its export,
    but for the line naming the source."""
    infra, _, summary = rendered
    env = json.loads((infra.parent / "env.json").read_text())
    live = infra.parent / "live"
    again = json_out(ok(env, "render", "-p", "src", "-o", live, "--json"))
    assert again["counts"] == summary["counts"]
    assert again["not_rendered"] == summary["not_rendered"]
    for name in ("prefect.yaml", "automations.yaml", "prefect-setup.sh"):
        ours, theirs = (infra / name).read_text(), (live / name).read_text()
        assert _without_source(ours) == _without_source(theirs), name


def _without_source(text: str) -> list[str]:
    return [line for line in text.splitlines() if "rendered by pfx from" not in line.lower()]


def test_render_is_stable(rendered: tuple[Path, Bundle, dict[str, Any]], tmp_path: Path) -> None:
    """The same bundle renders to the same bytes."""
    infra, bundle, _ = rendered
    again = render(bundle.records, source="bundle snap.pfx")
    for name, text in again.files.items():
        assert (infra / name).read_text() == text, name


def test_setup_commands_recreate_variables_and_limits(
    new_server: Callable[[str], Server], tmp_path: Path
) -> None:
    """The script's `prefect variable set`, `prefect gcl create` and `prefect
    concurrency-limit create` commands recreate every JSON shape and setting exactly."""
    values: list[Any] = ["123", -4.25, None, {"a": [1, True], "b": "x"}]
    records = [
        Record(kind="variable", key=(f"v{i}",), data={"name": f"v{i}", "value": v, "tags": ["t"]})
        for i, v in enumerate(values)
    ]
    gcl = {"name": "g", "limit": 3, "active": False, "slot_decay_per_second": 0.5}
    records.append(Record(kind="global-concurrency-limit", key=("g",), data=gcl))
    tag = {"tag": "db", "concurrency_limit": 2, "active": True, "slot_decay_per_second": 0}
    records.append(Record(kind="tag-concurrency-limit", key=("db",), data=tag))
    for name, text in render(records, source="test").files.items():
        (tmp_path / name).write_text(text)
    dst = new_server("setup")
    _run(
        ["bash", str(tmp_path / "prefect-setup.sh"), "variables", "limits"],
        tmp_path,
        _prefect_env(dst, []),
    )
    variables = {v["name"]: (v["value"], v["tags"]) for v in read_all(dst.url, "variable")}
    assert variables == {f"v{i}": (v, ["t"]) for i, v in enumerate(values)}
    (limit,) = read_all(dst.url, "global-concurrency-limit")
    assert {k: limit[k] for k in gcl} == gcl
    (tag_limit,) = read_all(dst.url, "tag-concurrency-limit")
    assert (tag_limit["tag"], tag_limit["concurrency_limit"]) == ("db", 2)


# --- pure rendering --------------------------------------------------------------------------


def _deployment(name: str, pool: str | None, ident: str, **data: Any) -> Record:
    body: dict[str, Any] = {
        "name": name,
        "entrypoint": "flows/etl.py:etl",
        "work_pool_name": pool,
        "work_queue_name": "default" if pool else None,
        "parameters": {},
        "job_variables": {},
        "tags": [],
        "schedules": [],
        "pull_steps": [],
        "paused": False,
        "enforce_parameter_schema": True,
        "description": "d",
        "version": "1",
    } | data
    return Record(kind="deployment", key=("etl", name), id=ident, data=body)


DEP_A = "11111111-1111-1111-1111-111111111111"


def test_shared_pools_are_anchored_and_triggers_belong_to_their_deployment() -> None:
    """Pools used twice are written once with an anchor; an automation that only runs a
    deployment becomes its trigger; a deployment without a pool is listed, not written."""
    records = [
        _deployment("a", "k8s", DEP_A),
        _deployment("b", "k8s", "22222222-2222-2222-2222-222222222222"),
        _deployment("served", None, "33333333-3333-3333-3333-333333333333"),
        Record(
            kind="automation",
            key=("rerun", "1"),
            id="44444444-4444-4444-4444-444444444444",
            data={
                "name": "rerun",
                "description": "",
                "enabled": True,
                "tags": [],
                "trigger": {"type": "event", "expect": ["x"], "posture": "Reactive"},
                "actions": [
                    {
                        "type": "run-deployment",
                        "source": "selected",
                        "deployment_id": DEP_A,
                        "parameters": {"n": 1},
                        "job_variables": None,
                    }
                ],
                "actions_on_trigger": [],
                "actions_on_resolve": [],
            },
            refs=[Ref(kind="deployment", key=("etl", "a"), id=DEP_A)],
        ),
    ]
    out = render(records, source="test")
    text = out.files["prefect.yaml"]
    assert "&pool-k8s-default" in text and text.count("*pool-k8s-default") == 2
    doc = yaml.safe_load(text)
    assert [d["name"] for d in doc["deployments"]] == ["a", "b"]
    assert doc["deployments"][0]["triggers"][0]["parameters"] == {"n": 1}
    from prefect.cli.deploy._triggers import _initialize_deployment_triggers

    (trigger,) = _initialize_deployment_triggers("a", doc["deployments"][0]["triggers"])
    assert trigger.name == "rerun" and trigger.expect == {"x"}
    assert "triggers" not in doc["deployments"][1]
    assert yaml.safe_load(out.files["automations.yaml"])["automations"] == []
    assert Omission("deployment", ("etl", "served"), "*", _reason(out, "served")) in out.omissions


def test_selectors_pick_what_is_rendered() -> None:
    """--include picks deployments by KIND:GLOB; --exclude leaves one out."""
    records = [
        _deployment(n, "k8s", f"{i}1111111-1111-1111-1111-111111111111")
        for i, n in enumerate(["etl-a", "etl-b", "other"], start=1)
    ]
    picked = render(
        records, source="t", include=["deployment:etl/etl-*"], exclude=["deployment:*/etl-b"]
    )
    assert [d["name"] for d in yaml.safe_load(picked.files["prefect.yaml"])["deployments"]] == [
        "etl-a"
    ]


def test_secrets_are_never_written_and_templates_wait_for_deploy() -> None:
    """A withheld secret becomes an environment-variable marker; run-time templates stay out of
    prefect.yaml and are set by the script's deployments section."""
    from pfx.model import SecretSlot

    block = Record(
        kind="block-document",
        key=("secret", "db"),
        id="55555555-5555-5555-5555-555555555555",
        data={"name": "db", "data": {"value": "********"}, "is_anonymous": False},
        refs=[Ref(kind="block-schema", key=("sha256:secret", "3.8.8"), path="block_schema_id")],
        secrets=SecretSlot(mode="withheld", fields=["data.value"]),
    )
    dep = _deployment(
        "a", "k8s", DEP_A, job_variables={"env": {"P": "{{ prefect.blocks.secret.db }}"}}
    )
    out = render([block, dep], source="test")
    script = out.files["prefect-setup.sh"]
    env = env_name(block, "data.value")
    assert env in script.split("blocks() {")[1]
    requests = json.loads(out.files["prefect-setup.json"])["sections"]
    (create,) = requests["blocks"]
    assert create["body"]["data"] == {"value": "********"}
    assert create["secrets"] == [{"at": ["data", "value"], "env": env}]
    doc = yaml.safe_load(out.files["prefect.yaml"])
    assert doc["deployments"][0]["work_pool"]["job_variables"] == {}
    assert "python3 prefect-setup.py deployments" in script.split("deployments() {")[1]
    (late,) = requests["deployments"]
    assert late["id"] == {"at": [], "kind": "deployment", "key": ["etl", "a"]}
    assert late["body"] == {"job_variables": {"env": {"P": "{{ prefect.blocks.secret.db }}"}}}


def test_default_storage_is_set_by_name_and_saved_searches_are_named() -> None:
    """The default result storage becomes a `PUT /admin/storage` request of the blocks section
    naming its block (the setup client looks its id up on the target); saved searches are
    named."""
    block_id = "66666666-6666-4666-8666-666666666666"
    storage = Record(
        kind="default-result-storage",
        key=("default",),
        data={"default_result_storage_block_id": block_id},
        refs=[
            Ref(
                kind="block-document",
                key=("s3-bucket", "results"),
                id=block_id,
                path="default_result_storage_block_id",
            )
        ],
    )
    search = Record(kind="saved-search", key=("late",), data={"name": "late", "filters": []})
    out = render([storage, search], source="test")
    blocks = out.files["prefect-setup.sh"].split("blocks() {")[1].split("}\n")[0]
    assert blocks.strip() == "python3 prefect-setup.py blocks"
    (request,) = json.loads(out.files["prefect-setup.json"])["sections"]["blocks"]
    assert (request["method"], request["path"]) == ("PUT", "/admin/storage")
    assert request["ids"] == [
        {
            "at": ["default_result_storage_block_id"],
            "kind": "block-document",
            "key": ["s3-bucket", "results"],
        }
    ]
    assert [(o.kind, o.key, o.field) for o in out.omissions] == [("saved-search", ("late",), "*")]


def test_render_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    """A missing bundle, or a bundle and a profile at once: one-line error, exit 2, nothing
    written."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    result = pfx(env, "render", tmp_path / "nope.pfx", "-o", tmp_path / "out")
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    both = pfx(env, "render", tmp_path / "nope.pfx", "-p", "prod", "-o", tmp_path / "out")
    assert both.returncode == 2 and "not both" in both.stderr
    assert not (tmp_path / "out").exists()


# --- helpers ----------------------------------------------------------------------------------


def _reason(out: Any, name: str) -> str:
    return next(o.reason for o in out.omissions if o.key == ("etl", name))


def _has_pool(record: Record) -> bool:
    return isinstance(record.data.get("work_pool_name"), str)


def _prefect() -> str:
    return str(Path(sys.executable).parent / "prefect")


def _prefect_env(server: Server, records: list[Record]) -> dict[str, str]:
    """The target server for the prefect CLI, and a stand-in for every withheld secret."""
    from tests.conftest import prefect_free_environ

    env = prefect_free_environ() | {
        "PREFECT_API_URL": server.url,
        "PREFECT_HOME": str(server.home / "cli"),
        "PREFECT_SERVER_EPHEMERAL_ENABLED": "false",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    for record in records:
        for path in record.secrets.fields if record.secrets else []:
            env[env_name(record, path)] = "stand-in secret"
    return env


def _write_stub_flows(infra: Path, records: list[Record]) -> None:
    """A flow with the source flow's name at every entrypoint the render wrote."""
    for record in records:
        if record.kind != "deployment" or not _has_pool(record):
            continue
        path, func = str(record.data["entrypoint"]).split(":")
        target = infra / path
        target.parent.mkdir(parents=True, exist_ok=True)
        flow = record.key[0]
        target.write_text(
            f"from prefect import flow\n\n\n@flow(name={flow!r})\ndef {func}():\n    pass\n"
        )


def _run(argv: list[str], cwd: Path, env: dict[str, str], *accepted: int) -> None:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode in (0, *accepted), (
        f"{argv} -> {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )


def _omissions(summary: dict[str, Any]) -> set[tuple[tuple[str, ...], str, str]]:
    return {(tuple(o["key"]), o["kind"], o["field"]) for o in summary["not_rendered"]}


Difference = tuple[tuple[str, ...], str, str]  # (key, kind, field path)


def _listed(difference: Difference, omitted: set[tuple[tuple[str, ...], str, str]]) -> bool:
    key, kind, field = difference
    for o_key, o_kind, o_field in omitted:
        # Automations are keyed by name and an ordinal by content: match them by name.
        same = o_key[: len(key)] == key if kind == "automation" else o_key == key
        if same and o_kind == kind and (o_field in (field, "*") or _under(o_field, field)):
            return True
    return False


def _under(listed: str, field: str) -> bool:
    # A listed "schedules[x].max_scheduled_runs" or "labels" covers exactly that field.
    return listed.split(".")[0] == field.split(".")[0] and listed.startswith(field)


def _deployments(url: str) -> dict[tuple[str, ...], dict[str, Any]]:
    flows = {f["id"]: f["name"] for f in read_all(url, "flow")}
    out: dict[tuple[str, ...], dict[str, Any]] = {}
    for d in read_all(url, "deployment"):
        data = {k: v for k, v in d.items() if k not in SERVER_MADE}
        labels = data.get("labels") or {}
        data["labels"] = {k: v for k, v in labels.items() if k != "prefect.flow.id"}
        gcl = data.get("global_concurrency_limit")
        if isinstance(gcl, dict):
            own = str(gcl.get("name", "")).startswith("deployment:")
            fields = ("limit", "active", "slot_decay_per_second") if own else ("name",)
            data["global_concurrency_limit"] = {k: gcl.get(k) for k in fields}
        data["schedules"] = {
            s.get("slug"): {k: v for k, v in s.items() if k not in SCHEDULE_MADE}
            for s in d.get("schedules") or []
        }
        out[(flows[d["flow_id"]], d["name"])] = data
    return out


def _deployment_differences(src: str, dst: str) -> list[Difference]:
    source, target = _deployments(src), _deployments(dst)
    differences: list[Difference] = []
    for key, s in source.items():
        d = target.get(key)
        if d is None:
            differences.append((key, "deployment", "*"))
            continue
        for field in sorted(set(s) | set(d)):
            if field == "schedules":
                differences += _schedule_differences(key, s[field], d[field])
            elif s.get(field) != d.get(field):
                differences.append((key, "deployment", field))
    assert not set(target) - set(source), "deployments the source does not have"
    return differences


def _schedule_differences(
    key: tuple[str, ...], source: dict[str, Any], target: dict[str, Any]
) -> list[Difference]:
    out: list[Difference] = []
    for slug in sorted(set(source) | set(target), key=str):
        s, d = source.get(slug) or {}, target.get(slug) or {}
        for field in sorted(set(s) | set(d)):
            if s.get(field) != d.get(field):
                out.append((key, "deployment", f"schedules[{slug}].{field}"))
    return out


def _automations(url: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for a in read_all(url, "automation"):
        data = {k: v for k, v in a.items() if k not in ("id", "created", "updated")}
        data["trigger"] = _without_ids(data["trigger"])
        out.setdefault(a["name"], []).append(data)
    return out


def _without_ids(trigger: Any) -> Any:
    if isinstance(trigger, dict):
        return {k: _without_ids(v) for k, v in trigger.items() if k != "id"}
    if isinstance(trigger, list):
        return sorted((_without_ids(v) for v in trigger), key=repr)
    return trigger


def _automation_differences(src: str, dst: str) -> list[Difference]:
    """Per automation name, the fields that no same-named destination automation matches."""
    source, target = _automations(src), _automations(dst)
    differences: list[Difference] = []
    for name, items in source.items():
        others = target.get(name, [])
        if len(others) != len(items):
            differences.append(((name,), "automation", "*"))
        for item in items:
            for field in item:
                if not any(o.get(field) == item[field] for o in others):
                    differences.append(((name,), "automation", field))
    return differences
