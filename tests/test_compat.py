"""One cross-release pair end to end (a 3.4 server, seeded as a user's, into a 3.8 server) with
pfx's CLI and profiles, judged by the census comparison of both servers
(fixtures/compare.py); `make compat` runs the whole matrix the same way."""

from __future__ import annotations

import pytest

from fixtures import compare
from fixtures.compat import PairResult, is_named, run_pair
from fixtures.releases import is_own, release


@pytest.fixture(scope="module")
def pair_34_to_38() -> PairResult:
    """3.4 -> 3.8 run once for this module (the 3.4 virtualenv is installed by `make test`
    beforehand, or here on first use)."""
    return run_pair("3.4", "3.8", deployments=30)


@pytest.mark.server
def test_pair_runs_end_to_end(pair_34_to_38: PairResult) -> None:
    """Both servers start, the seed lands, export succeeds and import writes a report."""
    r = pair_34_to_38
    assert r.error == "", r.error
    assert r.export_exit == 0
    assert r.records > 400, r
    assert r.census.get("equal", 0) > 250, r.census


@pytest.mark.server
def test_every_source_resource_arrives_equal_or_named(pair_34_to_38: PairResult) -> None:
    """Every 3.4 resource is on 3.8 equal by the census, or pfx's report names it."""
    assert pair_34_to_38.findings == []


@pytest.mark.server
def test_complete_import_exits_zero(pair_34_to_38: PairResult) -> None:
    """A 3.4 -> 3.8 import where nothing was lost exits 0 (issue 8's "Done when")."""
    assert pair_34_to_38.exit_code == 0


@pytest.mark.server
def test_the_import_again_leaves_everything_unchanged(pair_34_to_38: PairResult) -> None:
    """A dry run of the same import afterwards finds every record unchanged and exits 0:
    fields 3.8 has and 3.4 lacks (filled in by 3.8) are not differences."""
    assert pair_34_to_38.rerun == []
    assert pair_34_to_38.rerun_exit == 0


def test_census_names_a_dropped_field_and_ignores_release_noise() -> None:
    """The comparison flags a source value the destination lacks, and not the normalised
    release differences (ids, `Z` vs `+00:00`, 2.x infra_overrides, destination-only
    fields, the destination's own system types)."""
    src = compare.Census("src")
    dst = compare.Census("dst")
    base = compare.Census("base", {"block-type": {("secret",): {}}})
    src.records, _ = compare._normalise_all(
        {
            "flow": [{"id": "f" * 8 + "-0000-0000-0000-" + "0" * 12, "name": "f"}],
            "deployment": [
                {
                    "id": "d" * 8 + "-0000-0000-0000-" + "0" * 12,
                    "flow_id": "f" * 8 + "-0000-0000-0000-" + "0" * 12,
                    "name": "d",
                    "infra_overrides": {"image": "x"},
                    "is_schedule_active": False,
                    "paused": False,
                    "schedules": [{"anchor": "2024-01-01T00:00:00+00:00"}],
                    "concurrency_options": {"grace_period_seconds": 60},
                }
            ],
            "block-type": [{"id": "b" * 8 + "-0000-0000-0000-" + "0" * 12, "slug": "secret"}],
        }
    )
    dst.records, _ = compare._normalise_all(
        {
            "flow": [{"id": "e" * 8 + "-0000-0000-0000-" + "0" * 12, "name": "f", "labels": {}}],
            "deployment": [
                {
                    "id": "c" * 8 + "-0000-0000-0000-" + "0" * 12,
                    "flow_id": "e" * 8 + "-0000-0000-0000-" + "0" * 12,
                    "name": "d",
                    "job_variables": {"image": "x"},
                    "paused": True,
                    "schedules": [{"anchor": "2024-01-01T00:00:00Z"}],
                    "concurrency_options": {},
                    "version_info": {"type": "git"},
                }
            ],
        }
    )
    verdicts = {v.label: v for v in compare.compare(src, dst, base)}
    assert verdicts["flow f"].state == "equal"
    assert verdicts["block-type secret"].state == "own"
    assert verdicts["deployment f/d"].state == "differs"
    assert verdicts["deployment f/d"].fields == [
        "concurrency_options.grace_period_seconds (dropped)"
    ]


def test_releases_are_pinned_as_compat_md_says() -> None:
    """Releases resolve by short name or exact version to COMPAT.md's pins, unknown ones are
    refused, and the project's own Prefect is the 3.8 of the matrix (its fast path)."""
    assert release("3.4").pins == ("prefect==3.4.25", "fastapi==0.118.0", "importlib_metadata")
    assert release("2.20.27").name == "2.20"
    with pytest.raises(KeyError):
        release("3.9")
    assert is_own(release("3.8"))
    assert not is_own(release("3.7"))


def test_a_loss_pfx_names_covers_the_census_path() -> None:
    """A loss named at a dotted path (list items as `.0`) covers the census's differing path
    below it (list items as `[0]`), and nothing beside it."""
    v = compare.Verdict("automation", ("a", "1"), "differs", ["actions[0].force (dropped)"])
    named = {("automation", ("a",)): {"actions.0.force"}}
    assert is_named(v, named)
    assert not is_named(v, {("automation", ("a",)): {"actions.1.force"}})
