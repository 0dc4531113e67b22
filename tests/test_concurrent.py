"""Two imports at once (a retried CI job, a colleague): which copies of automations stay
(pfx.twins, pure), and two real imports of one bundle into one fresh destination."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import orjson

from fixtures.compare import compare, take
from fixtures.inventory import count_resources
from fixtures.seed import SeedInfo
from fixtures.servers import Server
from pfx.twins import staying
from tests.conftest import user_env
from tests.running import ok

PASSPHRASE = "two runs at once"


def test_the_first_made_copies_stay_and_each_run_decides_alike() -> None:
    """Of the copies of a group of equal records, the first made stay, as many as the group
    has records: a run whose copy came later takes a staying one no record of its holds,
    and both runs, seeing the same copies, agree on which stay."""
    copies = [("2026-01-01T00:00:02", "b"), ("2026-01-01T00:00:01", "a")]
    assert staying({0: "b"}, copies, set(), 1) == {0: "a"}  # run B gives its copy up
    assert staying({0: "a"}, copies, set(), 1) == {}  # run A keeps its own
    # Two equal records; run A made a1, a2 first, run B made b1, b2 after.
    four = [("1", "a1"), ("2", "a2"), ("3", "b1"), ("4", "b2")]
    assert staying({0: "b1", 1: "b2"}, four, set(), 2) == {0: "a1", 1: "a2"}
    assert staying({0: "a1", 1: "a2"}, four, set(), 2) == {}
    # One of B's records was already on the destination (a1, matched by the plan).
    assert staying({1: "b2"}, four, {"a1"}, 2) == {1: "a2"}
    # A copy this run cannot see yet was made later: what it keeps does not change.
    assert staying({0: "a1"}, [("1", "a1")], set(), 1) == {}


def test_two_imports_at_once_both_end_well(
    seeded_source: tuple[Server, SeedInfo],
    new_server: Callable[[str], Server],
    tmp_path: Path,
) -> None:
    """Two imports of one bundle started together into one fresh destination both exit 0
    (a create refused as a duplicate is read back and planned again; automations both made
    are settled to one copy each), and the destination ends as the bundle says: census
    equal to the source's, no duplicate automation."""
    src, _ = seeded_source
    dst = new_server("dst")
    env = user_env(tmp_path / "home", passphrase=PASSPHRASE, src=src, dst=dst)
    bundle = tmp_path / "snap.pfx"
    ok(env, "export", "-p", "src", "-o", bundle, "--secrets", "encrypt", "-q")
    argv = [sys.executable, "-m", "pfx", "import", str(bundle), "-p", "dst", "-q", "--report"]
    runs = [
        subprocess.Popen(
            [*argv, str(tmp_path / f"report-{n}.json")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in (1, 2)
    ]
    results = [(run.wait(timeout=900), *run.communicate()) for run in runs]
    for code, out, err in results:
        assert code == 0, f"{out}\n{err}"
    reports = [orjson.loads((tmp_path / f"report-{n}.json").read_bytes()) for n in (1, 2)]
    # They did run at once: some record of one run was made by the other meanwhile.
    meanwhile = [o for r in reports for o in r["outcomes"] if "another run" in o["reason"]]
    assert meanwhile, "the two imports did not overlap"
    verdicts = compare(take(src.url), take(dst.url))
    wrong = [(v.label, v.state, v.fields) for v in verdicts if v.state not in ("equal", "own")]
    assert not wrong, wrong[:10]
    assert count_resources(dst.url)["automation"] == count_resources(src.url)["automation"]
