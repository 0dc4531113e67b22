"""Two cross-release pairs end to end with pfx's CLI and profiles, judged by the census
comparison of both servers (fixtures/compare.py): a 3.4 server, seeded as a user's, into 3.8;
and 3.8 into the newest release, 3.9, run by pfx as pip installs it beside Prefect 3.9.1
(fixtures/clients.py). `make compat` runs the whole matrix the same way."""

from __future__ import annotations

import pytest

from fixtures import compare
from fixtures.compat import MATRIX, PairResult, is_named, run_pair
from fixtures.index import index_verdict
from fixtures.releases import DESTINATIONS, SOURCES, is_own, release


@pytest.fixture(scope="module")
def pair_34_to_38() -> PairResult:
    """3.4 -> 3.8 run once for this module (the 3.4 virtualenv is installed by `make test`
    beforehand, or here on first use)."""
    return run_pair("3.4", "3.8", deployments=30)


@pytest.fixture(scope="module")
def pair_38_to_39() -> PairResult:
    """3.8 -> 3.9 run once for this module by the pfx that pip installed beside Prefect 3.9.1
    (its virtualenv made by `make test` beforehand, or here on first use; pfx's own code is
    reinstalled from this working tree each run)."""
    return run_pair("3.8", "3.9", deployments=30, client="3.9")


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
    assert release("3.9").pins == ("prefect==3.9.1",)
    with pytest.raises(KeyError):
        release("3.10")
    assert is_own(release("3.8"))
    assert not is_own(release("3.7"))


def test_a_loss_pfx_names_covers_the_census_path() -> None:
    """A loss named at a dotted path (list items as `.0`) covers the census's differing path
    below it (list items as `[0]`), and nothing beside it."""
    v = compare.Verdict("automation", ("a", "1"), "differs", ["actions[0].force (dropped)"])
    named = {("automation", ("a",)): {"actions.0.force"}}
    assert is_named(v, named)
    assert not is_named(v, {("automation", ("a",)): {"actions.1.force"}})


@pytest.mark.server
def test_into_39_with_pfx_installed_beside_prefect_391(pair_38_to_39: PairResult) -> None:
    """pip install of pfx beside Prefect 3.9.1 keeps 3.9.1 and works: a 3.8 server exported,
    imported into 3.9 with nothing lost (exit 0, every record equal or the destination's own
    system type by the census), the same import again changes nothing, and `pfx export -p` of
    the 3.9 profile succeeds."""
    r = pair_38_to_39
    assert r.error == "", r.error
    assert r.records > 400, r
    assert r.findings == [] and r.unnamed == 0
    assert r.exit_code == 0
    assert (r.rerun, r.rerun_exit) == ([], 0)
    assert r.export_back_exit == 0
    assert r.unknown_types == []


def test_the_matrix_is_every_destination_from_every_source() -> None:
    """Every 3.x destination from every source release, 2.20 and 3.9 included."""
    assert set(MATRIX) | {("3.9", "3.9")} == {(s, d) for s in SOURCES for d in DESTINATIONS}
    assert ("2.20", "3.9") in MATRIX and ("3.9", "3.4") in MATRIX


def test_a_newer_minor_release_on_the_index_fails_the_matrix_and_a_patch_does_not() -> None:
    """The package index offering 3.10.0 makes the matrix stale; 3.9.4 or 3.9.1 does not; an
    index that does not answer fails too (the matrix is never silently behind)."""
    matrix = ["2.20.27", "3.4.25", "3.8.8", "3.9.1"]
    assert index_verdict("3.9.1", matrix)[0]
    assert index_verdict("3.9.4", matrix)[0]
    stale, line = index_verdict("3.10.0", matrix)
    assert not stale and "3.10.0" in line and "3.9.1" in line
    assert not index_verdict("4.0.0", matrix)[0]
    assert not index_verdict(None, matrix)[0]


def test_a_destination_key_shared_as_often_as_on_the_source_is_not_clutter() -> None:
    """Two schemas of one checksum on the source (a 3.6 server's and its 3.8 client's) arrive
    as two: not a duplicate; a third, or two where the source has one, is."""
    key = ("sha256:c",)
    src = compare.Census("src", {"block-schema": {key: {}}}, {"block-schema": [key]})
    same = compare.Census("dst", {"block-schema": {key: {}}}, {"block-schema": [key]})
    more = compare.Census("dst", {"block-schema": {key: {}}}, {"block-schema": [key, key]})
    base = compare.Census("base")
    assert [v.state for v in compare.compare(src, same, base)] == ["equal"]
    assert [v.state for v in compare.compare(src, more, base)] == ["equal", "duplicate"]
    single = compare.Census("src", {"block-schema": {key: {}}})
    assert [v.state for v in compare.compare(single, same, base)] == ["equal", "duplicate"]
