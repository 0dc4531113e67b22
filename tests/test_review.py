"""Diffs and plans read for review (pfx.changetext): markers, absent apart from null, content
of added and removed records, long values cut and said so (whole with --full), counts per
kind, colour only when asked and never inside a name, every planned outcome by name."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from pfx import bundle, bundlefile
from pfx.changetext import ABSENT, COLOURS, Style, diff_text
from pfx.diff import diff_records, reversed_diff
from pfx.graph import build_graph
from pfx.model import Record, Ref, SecretSlot, Source
from pfx.outcomes import predict
from pfx.output import plan_text
from pfx.plan import plan_import
from pfx.report import Outcome, Report
from tests.conftest import prefect_free_environ, user_env
from tests.running import one_line, pfx
from tests.test_plan import inventory, plan

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def variable(name: str, value: object, **more: object) -> Record:
    data = {"name": name, "value": value, "tags": [], **more}
    return Record(kind="variable", key=(name,), data=data)  # type: ignore[arg-type]


def pool(name: str, description: object = None, **more: object) -> Record:
    data = {"name": name, "type": "process", "description": description, **more}
    return Record(kind="work-pool", key=(name,), data=data)  # type: ignore[arg-type]


def test_absent_is_not_null() -> None:
    """A key one side lacks reads `absent`; a key holding null reads `null`; JSON says so by
    leaving the key out."""
    old = [pool("p", None, base_job_template={"variables": {"a": 1}})]
    new = [pool("p", "set", base_job_template={"variables": {"a": 1, "b": None, "c": 2}})]
    result = diff_records(old, new, names=("old", "new"))
    changes = {c.path: c for c in result.records[0].changes}
    assert changes["description"].old is None and not changes["description"].old_absent
    assert changes["base_job_template.variables.c"].old_absent
    text = diff_text(result, Style())
    assert 'description: null -> "set"' in text
    assert f"base_job_template.variables.c: {ABSENT} -> 2" in text
    assert changes["base_job_template.variables.c"].as_json() == {
        "path": "base_job_template.variables.c",
        "new": 2,
    }


def test_a_diff_seen_from_its_other_side() -> None:
    """Reversed, added and removed swap, each change reads new -> old, absent sides too."""
    old = [pool("p", None, base_job_template={"a": 1}), variable("gone", 1)]
    new = [pool("p", "set", base_job_template={"a": 1, "b": 3}), variable("new", 2)]
    forward = diff_records(old, new, names=("a", "b"))
    back = reversed_diff(forward)
    assert (back.left, back.right) == ("b", "a")
    assert {(r.label, r.status) for r in back.records} == {
        ("work-pool p", "changed"),
        ("variable gone", "added"),
        ("variable new", "removed"),
    }
    changes = {c.path: c for r in back.records for c in r.changes}
    assert (changes["description"].old, changes["description"].new) == ("set", None)
    assert changes["base_job_template.b"].new_absent and changes["base_job_template.b"].old == 3
    assert reversed_diff(back).as_json() == forward.as_json()


def test_records_on_one_side_show_their_content_without_secrets() -> None:
    """An added or a removed record is listed under + or - with each of its values; secret
    values are never shown, only said to be secret."""
    secret = Record(
        kind="block-document",
        key=("secret", "db"),
        data={"name": "db", "data": {"value": "hunter2", "note": "kept"}},
        secrets=SecretSlot(mode="plaintext", fields=["data.value"]),
    )
    result = diff_records(
        [variable("gone", 1)], [variable("new", {"a": [1, 2]}), secret], names=("a", "b")
    )
    text = diff_text(result, Style())
    assert '- removed  variable gone\n    name: "gone"\n    value: 1' in text
    assert "+ added    variable new" in text and "    value.a: [1,2]" in text
    assert "+ added    block-document secret/db" in text
    assert "data.value: (secret, not shown)" in text and 'data.note: "kept"' in text
    assert "hunter2" not in text and "hunter2" not in str(result.as_json())
    (added,) = [r for r in result.as_json()["records"] if r["key"] == ["new"]]  # type: ignore[index,union-attr]
    assert added["content"] == {"name": "new", "value": {"a": [1, 2]}, "tags": []}  # type: ignore[index]


def test_long_values_are_cut_and_said_so_unless_full() -> None:
    """A value longer than the width is cut with an ellipsis and a closing line says how
    many and that --full shows them; with full, the whole value and no such line."""
    long = "x" * 300
    result = diff_records([variable("v", "short")], [variable("v", long)], names=("a", "b"))
    cut = diff_text(result, Style())
    assert long not in cut and "\u2026" in cut
    assert "(1 value cut at 80 characters" in cut and "--full shows every value whole" in cut
    whole = diff_text(result, Style(full=True))
    assert f'+ "{long}"' in whole and "cut at" not in whole
    assert '  - "short"' in whole  # a long change reads as two lines, - old and + new


def test_counts_per_kind_and_summary() -> None:
    """The summary table counts added, removed, changed and equal records per kind, in
    bundle order, and the last line sums them."""
    old = [pool("same"), pool("changed"), variable("gone", 1), variable("kept", 2)]
    new = [pool("same"), pool("changed", "edited"), variable("kept", 2), variable("new", 3)]
    result = diff_records(old, new, names=("a", "b"))
    assert result.by_kind() == {
        "variable": {"added": 1, "removed": 1, "changed": 0, "equal": 1},
        "work-pool": {"added": 0, "removed": 0, "changed": 1, "equal": 1},
    }
    text = diff_text(result, Style())
    rows = [line.split() for line in text.splitlines() if line.startswith("  variable ")]
    assert rows == [["variable", "1", "1", "0", "1"]]
    assert text.endswith("3 records differ (1 added, 1 removed, 1 changed), 2 equal")


def test_colour_only_when_asked_and_never_inside_a_name() -> None:
    """With colour, each record line is painted by its marker; without, no escape code at
    all; a name holding an escape code is escaped before any paint is added."""
    hostile = "evil\x1b[2Jname"
    result = diff_records([variable(hostile, 1)], [variable("new", 2)], names=("a", "b"))
    plain = diff_text(result, Style())
    assert "\x1b" not in plain and "evil\\x1b[2Jname" in plain
    painted = diff_text(result, Style(colour=True))
    assert f"{COLOURS['-']}- removed  variable evil\\x1b[2Jname" in painted
    assert f"{COLOURS['+']}+ added    variable new" in painted
    assert ANSI.sub("", painted) == plain
    assert "\x1b[2J" not in painted


def test_the_plan_lists_every_create_and_update_by_name() -> None:
    """A dry run's text names each record it would create (+) and update (~, with values
    destination -> bundle), not only counts; unchanged ones stay in the table."""
    records = [pool("new-a"), pool("new-b"), pool("edited", "bundle's"), pool("same")]
    dest = [
        (
            "work-pool",
            ("edited",),
            {"name": "edited", "type": "process", "description": "dst's", "id": "d1"},
        ),
        (
            "work-pool",
            ("same",),
            {"name": "same", "type": "process", "description": None, "id": "d2"},
        ),
    ]
    p = plan(records, inventory(*dest), policy="update")
    report = Report(
        bundle="b", destination="d", dry_run=True, outcomes=predict(p, build_graph(records))
    )
    text = plan_text(p, report)
    lines = text.splitlines()
    assert "  + create     work-pool new-a" in lines and "  + create     work-pool new-b" in lines
    assert "  ~ update     work-pool edited: description" in lines
    assert '      description: "dst\'s" -> "bundle\'s"' in lines
    assert not any("work-pool same" in line for line in lines)


def test_the_plan_lists_any_outcome_status_generically() -> None:
    """Outcomes the plan text does not know by name (a deletion, a record kept) are listed
    by name under their own status, deletions with `-` after the writes."""
    records = [pool("a")]
    p = plan_import(records, build_graph(records), inventory(), policy="skip")
    outcomes = [
        Outcome(kind="work-pool", key=("a",), status="created"),
        Outcome.model_construct(kind="variable", key=("old",), status="deleted", reason=""),
        Outcome.model_construct(
            kind="variable", key=("mine",), status="kept", reason="not in the bundle"
        ),
    ]
    report = Report.model_construct(
        bundle="b",
        destination="d",
        dry_run=True,
        on_conflict="skip",
        outcomes=outcomes,
        requests=0,
        seconds=0.0,
        stopped=None,
        accept_losses=False,
        standby=[],
        untested=None,
    )
    lines = plan_text(p, report).splitlines()
    order = [
        lines.index("  + create     work-pool a"),
        lines.index("  - delete     variable old"),
        lines.index("  ! kept       variable mine: not in the bundle"),
    ]
    assert order == sorted(order)


# --- the command, as a user runs it ---------------------------------------------------------

SOURCE = Source(url="http://127.0.0.1:4200/api", profile="dev")
POOL_ID = "5f3d1c2b-0a9e-4d8c-8b7a-6e5f4d3c2b1a"
FLOW_ID = "0b0c5e2a-6f4e-4b8e-9d7a-3c1f2e4d5a6b"


def environment(pool_name: str, env_name: str, extra: list[Record] | None = None) -> list[Record]:
    """A pool, a deployment on it, and a variable naming the environment."""
    return [
        Record(kind="flow", key=("etl",), id=FLOW_ID, data={"name": "etl"}),
        Record(
            kind="work-pool",
            key=(pool_name,),
            id=POOL_ID,
            data={"name": pool_name, "type": "process"},
        ),
        Record(
            kind="deployment",
            key=("etl", "daily"),
            data={"name": "daily", "flow_id": FLOW_ID, "work_pool_name": pool_name},
            refs=[
                Ref(kind="flow", key=("etl",), id=FLOW_ID, path="flow_id"),
                Ref(kind="work-pool", key=(pool_name,), path="work_pool_name"),
            ],
        ),
        variable("env_name", env_name),
        *(extra or []),
    ]


def write(path: Path, records: list[Record]) -> Path:
    bundlefile.write_lines(
        path, bundle.encode(records, source=SOURCE, created="2026-01-01T00:00:00Z")
    )
    return path


def run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = prefect_free_environ() | {"PREFECT_SERVER_EPHEMERAL_ENABLED": "false"}
    return pfx(base | (env or {}), *args, timeout=120)


def test_diff_previews_a_map_and_selectors_offline(tmp_path: Path) -> None:
    """`pfx diff dev.pfx prod.pfx --map prod.toml` compares dev mapped as import maps it:
    equal when the map makes dev into prod (exit 0), different without it (exit 1); the
    selectors narrow both sides, and one that matches nothing on either side is refused."""
    dev = write(tmp_path / "dev.pfx", environment("k8s-dev", "dev"))
    prod = write(tmp_path / "prod.pfx", environment("k8s-prod", "prod"))
    envmap = tmp_path / "prod.toml"
    envmap.write_text(
        '[rename.work-pool]\n"k8s-dev" = "k8s-prod"\n[set.variable]\nenv_name = "prod"\n'
    )
    unmapped = run("diff", dev, prod)
    assert unmapped.returncode == 1, unmapped.stderr
    assert "- removed  work-pool k8s-dev" in unmapped.stdout
    assert "+ added    work-pool k8s-prod" in unmapped.stdout
    mapped = run("diff", dev, prod, "--map", envmap)
    assert mapped.returncode == 0, mapped.stdout + mapped.stderr
    assert "equal: 4 records, no differences" in mapped.stdout
    only = run("diff", dev, prod, "--include", "kind:variable", "--json")
    assert only.returncode == 1
    records = json.loads(only.stdout)["records"]
    assert [(r["kind"], r["status"]) for r in records] == [("variable", "changed")]
    assert records[0]["changes"] == [{"path": "value", "old": "dev", "new": "prod"}]
    typo = run("diff", dev, prod, "--exclude", "variable:env_nmae")
    assert typo.returncode == 2 and "matches no record on either side" in typo.stderr


def test_diff_exits_69_when_a_server_cannot_be_read(tmp_path: Path) -> None:
    """A server that does not answer, on either side, is exit 69 (EX_UNAVAILABLE) with one
    error line (after the notices of where it connects and each retry; -q: that line alone),
    never 1, which says the sides differ."""
    dev = write(tmp_path / "dev.pfx", environment("k8s-dev", "dev"))
    env = user_env(tmp_path / "home", dead="http://127.0.0.1:9/api") | {
        "PFX_UNREACHABLE_AFTER": "0.5"
    }
    for args in (("diff", dev, "-p", "dead"), ("diff", "--left-profile", "dead", dev)):
        done = pfx(env, *args, timeout=120)
        assert done.returncode == 69, (args, done.stdout, done.stderr)
        assert done.stderr.strip().splitlines()[-1].startswith("pfx: error: ")
        quiet = pfx(env, *args, "-q", timeout=120)
        assert quiet.returncode == 69
        assert one_line(quiet.stderr).startswith("pfx: error: ")


def in_terminal(args: list[str], env: dict[str, str]) -> str:
    """What `python -m pfx ARGS` prints when its stdout is a terminal (a pty)."""
    main, side = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pfx", *args],
            stdout=side,
            stderr=subprocess.PIPE,
            env=env,
            timeout=120,
        )
    finally:
        os.close(side)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the pty's other end is closed: all read
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    assert done.returncode == 1, done.stderr
    return b"".join(chunks).decode()


def test_colour_on_a_terminal_unless_no_color_and_never_in_a_pipe(tmp_path: Path) -> None:
    """On a terminal the diff is coloured by marker; NO_COLOR turns it off; a pipe (every
    CI log) never gets an escape code."""
    dev = write(tmp_path / "dev.pfx", environment("k8s-dev", "dev"))
    prod = write(tmp_path / "prod.pfx", environment("k8s-prod", "prod"))
    base = prefect_free_environ() | {"PREFECT_SERVER_EPHEMERAL_ENABLED": "false"}
    base.pop("NO_COLOR", None)
    coloured = in_terminal(["diff", str(dev), str(prod)], base)
    assert f"{COLOURS['-']}- removed  work-pool k8s-dev" in coloured
    assert f"{COLOURS['+']}+ added    work-pool k8s-prod" in coloured
    plain = in_terminal(["diff", str(dev), str(prod)], base | {"NO_COLOR": "1"})
    assert "\x1b[" not in plain and "- removed  work-pool k8s-dev" in plain
    piped = pfx(base, "diff", dev, prod, timeout=120)
    assert "\x1b[" not in piped.stdout and "- removed  work-pool k8s-dev" in piped.stdout
