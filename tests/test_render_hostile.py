"""Hostile names and values rendered: the setup script runs no command from the data (run with
stub `prefect`/`python3` that record what they were asked), and Prefect's own prefect.yaml
loader finds no step pfx did not write."""

from __future__ import annotations

import io
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pfx.model import Record, Ref, SecretSlot
from pfx.render import render

# A name that, written raw into a `# ...` comment, ends the comment, closes the function the
# comment sits in and runs `pwned` at the top level of the script (issue 19, item 1).
SHELL = "d\n}\npwned shell\nf() { #"
# A name that, written raw into a YAML end-of-line comment, adds a top-level build step
# (issue 19, item 2); \u2028 and \x85 are line breaks to YAML too.
YAML_BUILD = "x\nbuild:\n- prefect.deployments.steps.run_shell_script:\n    script: pwned yaml\n#"
UNICODE_BREAKS = "x\u2028build: [pwned]\x85pull: [pwned]\r#"
DEP_ID = "11111111-1111-4111-8111-111111111111"
FLOW_ID = "22222222-2222-4222-8222-222222222222"
BLOCK_ID = "33333333-3333-4333-8333-333333333333"


def hostile_records() -> list[Record]:
    """Records of a server someone hostile could write to: names with newlines and line
    separators, limits that are shell text, a block whose key closes the function."""
    flow = Record(kind="flow", key=(YAML_BUILD,), id=FLOW_ID, data={"name": YAML_BUILD})
    deployment = Record(
        kind="deployment",
        key=(YAML_BUILD, SHELL),
        id=DEP_ID,
        data={
            "name": SHELL,
            "flow_id": FLOW_ID,
            "entrypoint": "flows/etl.py:etl",
            "work_pool_name": UNICODE_BREAKS,
            "work_queue_name": "default",
            "parameters": {"x": BLOCK_ID},
            "job_variables": {"env": {"P": "{{ prefect.variables.v }}"}},
            "tags": [SHELL],
            "schedules": [],
            "pull_steps": [],
            "description": SHELL,
            "version": UNICODE_BREAKS,
        },
        refs=[Ref(kind="flow", key=(YAML_BUILD,), id=FLOW_ID, path="flow_id")],
    )
    block = Record(
        kind="block-document",
        key=("secret", SHELL),
        id=BLOCK_ID,
        data={"name": SHELL, "data": {"value": "********"}, "is_anonymous": False},
        refs=[Ref(kind="block-schema", key=(SHELL, "1"), path="block_schema_id")],
        secrets=SecretSlot(mode="withheld", fields=["data.value"]),
    )
    gcl = Record(
        kind="global-concurrency-limit",
        key=("g",),
        data={"name": "g", "limit": "1; pwned limit", "slot_decay_per_second": "$(pwned)"},
    )
    gcl2 = Record(
        kind="global-concurrency-limit",
        key=("h",),
        data={"name": "h", "limit": 2, "slot_decay_per_second": "0.5 && pwned decay"},
    )
    tag = Record(
        kind="tag-concurrency-limit",
        key=("t",),
        data={"tag": "t", "concurrency_limit": "3 `pwned tag`"},
    )
    automation = Record(
        kind="automation",
        key=(UNICODE_BREAKS, "1"),
        id="44444444-4444-4444-8444-444444444444",
        data={
            "name": UNICODE_BREAKS,
            "description": YAML_BUILD,
            "enabled": True,
            "tags": [],
            "trigger": {"type": "event", "match": {"prefect.resource.id": f"x.{DEP_ID}"}},
            "actions": [{"type": "pause-deployment", "deployment_id": DEP_ID}],
            "actions_on_trigger": [],
            "actions_on_resolve": [],
        },
    )
    return [flow, block, gcl, gcl2, tag, deployment, automation]


def issue_records() -> list[Record]:
    """The issue's own example: one deployment named to close the script's function, with a
    run-time template so that the script names it in a comment."""
    records = hostile_records()
    flow = Record(kind="flow", key=("etl",), id=FLOW_ID, data={"name": "etl"})
    deployment = records[5].model_copy(update={"key": ("etl", SHELL)})
    deployment.data["work_pool_name"] = "pool"
    # One more before it, so that the function it closes is not empty (bash refuses those).
    before = deployment.model_copy(
        update={"key": ("etl", "a"), "id": "55555555-5555-4555-8555-555555555555"}
    )
    return [flow, before, deployment]


def write_stubs(bin_dir: Path, log: Path) -> None:
    """`prefect`, `python3` and `pwned` that append their arguments to `log` and succeed."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name in ("prefect", "python3", "pwned"):
        stub = bin_dir / name
        stub.write_text(
            "#!/bin/sh\n"
            f'printf "%s" "{name}" >> "{log}"\n'
            f'for a in "$@"; do printf " [%s]" "$a" >> "{log}"; done\n'
            f'printf "\\n" >> "{log}"\n'
            "cat > /dev/null\n"
        )
        stub.chmod(stub.stat().st_mode | stat.S_IXUSR)


def run_script(directory: Path, *sections: str) -> list[str]:
    """Run prefect-setup.sh with only the stubs and coreutils on PATH; every call they saw."""
    log = directory / "calls.log"
    write_stubs(directory / "bin", log)
    env = {"PATH": f"{directory / 'bin'}{os.pathsep}/usr/bin:/bin", "HOME": str(directory)}
    subprocess.run(
        ["bash", str(directory / "prefect-setup.sh"), *sections],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return log.read_text().splitlines() if log.exists() else []


def written(tmp_path: Path, records: list[Record], source: str = "bundle evil.pfx") -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    out = render(records, source=source)
    for name, text in out.files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def test_names_never_become_shell_commands(tmp_path: Path) -> None:
    """Every section of the rendered script, run with stubs, calls only `prefect` and
    `python3`: no name, key or limit from the data runs as a command."""
    for name, records in (("issue", issue_records()), ("all", hostile_records())):
        directory = written(tmp_path / name, records)
        script = (directory / "prefect-setup.sh").read_text()
        assert subprocess.run(["bash", "-n", str(directory / "prefect-setup.sh")]).returncode == 0
        for sections in ((), ("deployments",), ("no-such-section",)):
            calls = run_script(directory, *sections)
            assert not [c for c in calls if not c.startswith(("prefect ", "python3 "))], calls
        assert "pwned" not in "".join(
            line for line in script.splitlines() if not line.lstrip().startswith(("pfx_api", "#"))
        )
    named = written(tmp_path / "source", [], source="bundle x\n}\npwned source\n#.pfx")
    assert not [c for c in run_script(named) if c.startswith("pwned")]


def test_names_never_become_build_steps(tmp_path: Path) -> None:
    """Prefect's own prefect.yaml loader finds no build, push or pull step pfx did not write,
    and both YAML files read back as exactly the values of the records."""
    from prefect.cli.deploy._config import _load_deploy_configs_and_actions
    from rich.console import Console

    directory = written(tmp_path, hostile_records())
    console = Console(file=io.StringIO())
    configs, actions = _load_deploy_configs_and_actions(directory / "prefect.yaml", console=console)
    assert actions["build"] == [] and actions["push"] == []
    assert actions["pull"] is None
    assert [c["name"] for c in configs] == [SHELL]
    assert configs[0]["pull"] == []
    doc: dict[str, Any] = yaml.safe_load((directory / "prefect.yaml").read_text())
    assert set(doc) <= {"definitions", "deployments"}
    automations = yaml.safe_load((directory / "automations.yaml").read_text())
    assert set(automations) == {"automations"}
    assert automations["automations"][0]["name"] == UNICODE_BREAKS
    assert automations["automations"][0]["description"] == YAML_BUILD


# --- any text at all --------------------------------------------------------------------------

texts = st.lists(
    st.characters(codec="utf-8", exclude_categories=("Cs",))
    | st.sampled_from(["\n", "\r", "\x85", "\u2028", "\x1b", "'", '"', "$(", "`", "#", "}", "{{"]),
    max_size=12,
).map("".join)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    names=st.lists(texts, min_size=4, max_size=4),
    value=texts,
    limit=st.one_of(texts, st.integers()),
)
def test_any_text_renders_inert(names: list[str], value: str, limit: str | int) -> None:
    """Names, values and limits of any text render to a script that bash parses and that
    holds only pfx's commands, and to YAML that Prefect's loader reads without a step pfx did
    not write (the render reads every file back itself and refuses what is not pfx's)."""
    import tempfile

    from prefect.cli.deploy._config import _load_deploy_configs_and_actions
    from rich.console import Console

    flow, deployment, variable, pool = names
    records = [
        Record(kind="flow", key=(flow,), id=FLOW_ID, data={"name": flow}),
        Record(
            kind="deployment",
            key=(flow, deployment),
            id=DEP_ID,
            data={
                "name": deployment,
                "flow_id": FLOW_ID,
                "entrypoint": "flows/x.py:x",
                "work_pool_name": pool,
                "description": value,
                "version": value,
                "tags": [value],
                "parameters": {value: value},
            },
        ),
        Record(kind="variable", key=(variable,), data={"name": variable, "value": value}),
        Record(kind="global-concurrency-limit", key=(value,), data={"name": value, "limit": limit}),
    ]
    out = render(records, source=value)
    with tempfile.TemporaryDirectory() as where:
        directory = Path(where)
        for name, text in out.files.items():
            (directory / name).write_text(text)
        parsed = subprocess.run(["bash", "-n", str(directory / "prefect-setup.sh")])
        assert parsed.returncode == 0
        configs, actions = _load_deploy_configs_and_actions(
            directory / "prefect.yaml", console=Console(file=io.StringIO())
        )
    assert actions == {"build": [], "push": [], "pull": None}
    assert len(configs) <= 1


def test_a_templated_name_is_named_and_nothing_waits_for_it() -> None:
    """A deployment whose name `prefect deploy` would resolve is named as not rendered, and
    the setup script sets nothing on it after deploying."""
    import json

    record = Record(
        kind="deployment",
        key=("etl", "{{ $USER }}"),
        id=DEP_ID,
        data={
            "name": "{{ $USER }}",
            "flow_id": FLOW_ID,
            "entrypoint": "flows/etl.py:etl",
            "work_pool_name": "pool",
            "job_variables": {"env": {"T": "{{ prefect.variables.v }}"}},
        },
    )
    out = render([record], source="t")
    assert yaml.safe_load(out.files["prefect.yaml"])["deployments"] == []
    assert json.loads(out.files["prefect-setup.json"])["sections"]["deployments"] == []
    (omission,) = out.omissions
    assert omission.field == "*" and "name holds {{ ... }}" in omission.reason
