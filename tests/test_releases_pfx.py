"""pfx across Prefect releases, end to end on real servers of each release (`make compat`; not
in `make test`, whose one cross-release pair is tests/test_compat.py): what issue 8 is done
when. Judged on the destination by the independent census (fixtures/compare.py)."""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures import compare
from fixtures.compat import GOOD, PairResult, pfx, rerun, seed_release, start_pair, user_env
from fixtures.releases import release
from pfx.bundlefile import read_bundle

pytestmark = [pytest.mark.server, pytest.mark.compat]


@dataclass
class Run:
    """One pair's import: pfx's exit code and report, and both servers' census after it."""

    exit_code: int
    report: dict[str, Any]
    src: compare.Census
    dst: compare.Census
    baseline: compare.Census
    output: str
    # The checksum of every block schema on the destination before and after the import.
    schemas_before: list[str]
    schemas_after: list[str]
    # The bundle manifest's `skipped`: what export named instead of carrying.
    skipped: list[tuple[str, tuple[str, ...]]]
    # What `probe` answered on the destination after the import (None: no probe).
    probed: Any = None
    # The same import again as a dry run: its exit code and every record not unchanged.
    rerun_exit: int | None = None
    rerun: list[str] = field(default_factory=list)
    # `pfx diff BUNDLE -p src` right after the export: every record it names (none, when the
    # live side is read as export reads it, release quirks included).
    live_diff: list[Any] = field(default_factory=list)

    def verdicts(self) -> list[compare.Verdict]:
        return compare.compare(self.src, self.dst, self.baseline)

    def losses(self) -> dict[str, list[str]]:
        return {
            f"{o['kind']} {'/'.join(o['key'])}": [loss["field"] for loss in o["losses"]]
            for o in self.report["outcomes"]
            if o.get("losses")
        }


def run_pair(
    src_name: str,
    dst_name: str,
    workdir: Path,
    prepare: Any = None,
    probe: Any = None,
    dst_env: dict[str, str] | None = None,
) -> Run:
    """Seed a `src_name` server as its user has it, export it, import into `dst_name`; then
    `probe(destination url)`, if given, while the destination still runs."""
    src, dst = release(src_name), release(dst_name)
    s, d = start_pair(src, dst, workdir, dst_env)
    try:
        seed_release(src, s, workdir, deployments=6)
        if prepare is not None:
            prepare(s.url)
        baseline = compare.take(d.url)
        before = _checksums(d.url)
        env = user_env(workdir / "user", {"src": s, "dst": d})
        bundle, report_path = workdir / "snap.pfx", workdir / "report.json"
        exported = pfx(env, "export", "-p", "src", "-o", str(bundle), "--secrets", "encrypt", "-q")
        assert exported.returncode == 0, exported.stderr
        live = pfx(env, "diff", str(bundle), "-p", "src", "--json")
        assert live.returncode in (0, 1), live.stderr
        imported = pfx(env, "import", str(bundle), "-p", "dst", "--report", str(report_path))
        report = json.loads(report_path.read_text())
        skipped = [(x.kind, x.key) for x in read_bundle(bundle).manifest.skipped]
        dst_census = compare.take(d.url)
        again = PairResult(src.name, dst.name)
        rerun(again, env, bundle, workdir / "rerun.json", report)
        return Run(
            imported.returncode,
            report,
            compare.take(s.url),
            dst_census,
            baseline,
            imported.stdout + imported.stderr,
            before,
            _checksums(d.url),
            skipped,
            probe(d.url) if probe is not None else None,
            again.rerun_exit,
            again.rerun,
            json.loads(live.stdout)["records"],
        )
    finally:
        s.stop()
        d.stop()


def _checksums(url: str) -> list[str]:
    with httpx.Client(base_url=url, timeout=120) as client:
        schemas = client.post("/block_schemas/filter", json={"limit": 200}).json()
    return sorted(str(x["checksum"]) for x in schemas)


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)


# The destination services an automation needs to fire, and its events to be read back (the
# harness turns every service off).
LIVE_AUTOMATIONS = {
    "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "true",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_ENABLED": "true",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL": "0.5",
}


def _fail_a_critical_run(url: str) -> list[tuple[str, str]]:
    """Fail a flow run tagged `critical` (the 2.20 seed's active policy watches it) and return
    the automation action events that followed: (event, automation name)."""
    with httpx.Client(base_url=url, timeout=60) as client:
        flow = client.post("/flows/", json={"name": "pfx-live-check"}).json()
        run = client.post(
            "/flow_runs/",
            json={
                "flow_id": flow["id"],
                "tags": ["critical"],
                "state": {"type": "RUNNING", "name": "Running"},
            },
        ).json()
        client.post(
            f"/flow_runs/{run['id']}/set_state",
            json={"state": {"type": "FAILED", "name": "Failed"}, "force": True},
        ).raise_for_status()
        query = {"filter": {"event": {"prefix": ["prefect.automation.action."]}}, "limit": 50}
        seen: list[tuple[str, str]] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not seen:
            time.sleep(1)
            events = client.post("/events/filter", json=query).json().get("events", [])
            seen = [(e["event"], e["resource"].get("prefect.resource.name", "")) for e in events]
        return seen


def test_v2_to_38_carries_job_variables_and_tag_limits(workdir: Path) -> None:
    """2.20 -> 3.8: infra_overrides arrive as job_variables, v1 tag limits as `tag:` limits,
    notification policies as automations that fire on 3.8."""
    run = run_pair("2.20", "3.8", workdir, probe=_fail_a_critical_run, dst_env=LIVE_AUTOMATIONS)
    assert run.exit_code in (0, 5), run.output
    src_deps = run.src.records["deployment"]
    dst_deps = run.dst.records["deployment"]
    # The census reads 2.x deployments in 3.x terms: infra_overrides as job_variables.
    overridden = {k: v for k, v in src_deps.items() if v.get("job_variables")}
    assert overridden, "the 2.20 seed has deployments with infra_overrides"
    for key, item in overridden.items():
        assert dst_deps[key]["job_variables"] == item["job_variables"], key
    src_tags = set(run.src.records.get("tag-concurrency-limit", {}))
    assert src_tags, "the 2.20 seed has v1 tag limits"
    assert src_tags <= set(run.dst.records.get("tag-concurrency-limit", {}))
    # `diff -p` reads the source as export does, v1 tag limits included (it called them
    # removed: its reader left the v1 table out).
    assert run.live_diff == [], run.live_diff
    verdicts = run.verdicts()
    missing = Counter(v.kind for v in verdicts if v.state == "missing")
    # What did not arrive was named at export, counted per kind.
    named = Counter(kind for kind, _ in run.skipped)
    assert all(named[kind] >= n for kind, n in missing.items()), (missing, run.skipped)
    # 2.x notification policies (3.x has none) arrived as automations doing the same: same
    # states, tags, block and enabled flag (census N9), and none was named instead.
    policies = [v for v in verdicts if v.kind == "flow-run-notification-policy"]
    assert len(policies) == 2, policies
    assert all(v.state == "equal" for v in policies), (policies, run.dst.dump())
    assert named["flow-run-notification-policy"] == 0, run.skipped
    # ... and live: the active policy's automation acted on a failed `critical` run.
    fired = "notification policy: Failed, Crashed (tags: critical)"
    assert ("prefect.automation.action.triggered", fired) in run.probed, run.probed
    # The same import again finds everything unchanged: fields 2.x lacks are not differences.
    assert run.rerun == [], run.rerun
    assert run.rerun_exit == run.exit_code


def _grace_period(url: str) -> None:
    """Give one 3.8 deployment a grace period, as a user would."""
    with httpx.Client(base_url=url, timeout=60) as client:
        deployment = client.post("/deployments/filter", json={"limit": 1}).json()[0]
        options = {"collision_strategy": "ENQUEUE", "grace_period_seconds": 120}
        client.patch(
            f"/deployments/{deployment['id']}", json={"concurrency_options": options}
        ).raise_for_status()


def test_38_to_34_names_grace_period_seconds(workdir: Path) -> None:
    """3.8 -> 3.4: the grace period 3.4 cannot hold is a named loss, the rest arrives except the
    default result storage, which 3.4 does not have: skipped as unsupported (exit 4)."""
    run = run_pair("3.8", "3.4", workdir, prepare=_grace_period)
    losses = run.losses()
    assert any("concurrency_options.grace_period_seconds" in f for f in losses.values()), losses
    assert "grace_period_seconds" in run.output
    bad = {(o["kind"], o["code"]) for o in run.report["outcomes"] if o["status"] not in GOOD}
    assert bad == {("default-result-storage", "unsupported")}, bad
    assert run.exit_code == 4, run.output
    # Again: nothing to do; the same loss and the same unsupported setting named again.
    assert run.rerun == [], run.rerun
    assert run.rerun_exit == 4


@pytest.mark.parametrize(
    ("source", "destination"), [("3.7", "3.8"), ("3.4", "3.8"), ("3.8", "3.9"), ("3.4", "3.9")]
)
def test_into_newer_exits_0_without_duplicate_schemas(
    source: str, destination: str, workdir: Path
) -> None:
    """3.7/3.4 -> 3.8 and 3.8/3.4 -> 3.9 exit 0; no schema is created twice; system types
    (whose logos and documentation 3.9 moved) are unchanged."""
    run = run_pair(source, destination, workdir)
    assert run.exit_code == 0, run.output
    # The destination's own schemas may share a checksum (3.8 registers some twice); the
    # import adds no second copy of any checksum.
    before, after = Counter(run.schemas_before), Counter(run.schemas_after)
    assert all(after[c] == before[c] or (before[c] == 0 and after[c] == 1) for c in after), (
        after - before
    )
    protected = [
        o
        for o in run.report["outcomes"]
        if o["kind"] == "block-type" and o["reason"] == "destination's system type"
    ]
    assert protected and all(o["status"] == "unchanged" for o in protected)
    assert not [o for o in run.report["outcomes"] if o["code"] == "differs"]
    assert run.rerun == [], run.rerun
    assert run.rerun_exit == 0
