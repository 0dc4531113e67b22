"""Selectors and the dependency closure, pure: grammar, closure, dangling exclusions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pfx.errors import UsageError
from pfx.model import Record, Ref
from pfx.select import external_refs, parse_selector, select


def rec(
    kind: str, *key: str, refs: list[Ref] | None = None, tags: list[str] | None = None
) -> Record:
    data: dict[str, object] = {"name": key[-1]}
    if tags is not None:
        data["tags"] = list(tags)
    return Record(kind=kind, key=key, data=data, refs=refs or [])  # type: ignore[arg-type]


def ref(kind: str, *key: str, soft: bool = False, late: bool = False) -> Ref:
    return Ref(kind=kind, key=key, path="x", soft=soft, late=late)


FLOW = rec("flow", "etl")
POOL = rec("work-pool", "k8s-dev")
QUEUE = rec("work-queue", "k8s-dev", "default", refs=[ref("work-pool", "k8s-dev")])
VAR = rec("variable", "etl_bucket")
OTHER_VAR = rec("variable", "unused")
DEP = rec(
    "deployment",
    "etl",
    "prod",
    tags=["nightly"],
    refs=[
        ref("flow", "etl"),
        ref("work-pool", "k8s-dev"),
        ref("work-queue", "k8s-dev", "default", soft=True),
        ref("variable", "etl_bucket"),
    ],
)
OTHER = rec("deployment", "etl", "dev", refs=[ref("flow", "etl")])
AUTO = rec("automation", "pause-etl", "1", refs=[ref("deployment", "etl", "prod")])
ALL = [FLOW, VAR, OTHER_VAR, POOL, QUEUE, OTHER, DEP, AUTO]


def labels(records: list[Record]) -> list[str]:
    return [r.label for r in records]


def test_one_deployment_brings_its_closure() -> None:
    """A selected deployment brings flow, pool, queue and variable, each named as a dependency."""
    sel = select(ALL, ["deployment:etl/prod"])
    assert labels(sel.records) == [
        "flow etl",
        "variable etl_bucket",
        "work-pool k8s-dev",
        "work-queue k8s-dev/default",
        "deployment etl/prod",
    ]
    assert labels(sel.chosen) == ["deployment etl/prod"]
    assert sel.because(VAR) == "included as a dependency of deployment etl/prod"
    assert sel.because(POOL) == "included as a dependency of deployment etl/prod"
    assert sel.because(DEP) is None
    assert sel.left_out == 3


def test_globs_kinds_and_tags() -> None:
    """KIND:GLOB matches the joined key, kind:KIND a whole kind, tag:TAG tagged records."""
    assert labels(select(ALL, ["variable:etl_*"]).records) == ["variable etl_bucket"]
    assert labels(select(ALL, ["deployment:*/dev"]).records) == ["flow etl", "deployment etl/dev"]
    assert set(labels(select(ALL, ["tag:nightly"]).chosen)) == {"deployment etl/prod"}
    assert labels(select(ALL, ["kind:variable"]).records) == [
        "variable etl_bucket",
        "variable unused",
    ]
    # Automations carry an ordinal: their name alone selects them.
    assert "automation pause-etl/1" in labels(select(ALL, ["automation:pause-etl"]).chosen)


def test_exclude_without_include_keeps_the_rest() -> None:
    """--exclude alone removes what it matches from everything."""
    sel = select(ALL, [], ["kind:automation", "variable:unused"])
    assert "automation pause-etl/1" not in labels(sel.records)
    assert "variable unused" not in labels(sel.records)
    assert len(sel.records) == len(ALL) - 2


def test_excluding_a_needed_record_names_both() -> None:
    """An exclusion that leaves a selected record dangling is an error naming both."""
    with pytest.raises(UsageError, match=r"deployment etl/prod needs work-pool k8s-dev"):
        select(ALL, ["deployment:etl/prod"], ["kind:work-pool"])


def test_excluded_dependency_on_the_destination_is_used() -> None:
    """At import, an excluded dependency the destination already has is fine."""
    sel = select(
        ALL,
        ["deployment:etl/prod"],
        ["kind:work-pool"],
        available=lambda kind, key: kind == "work-pool",
    )
    assert "work-pool k8s-dev" not in labels(sel.records)
    assert list(sel.on_destination) == [("work-pool", ("k8s-dev",))]
    with pytest.raises(UsageError, match="destination does not have"):
        select(ALL, ["deployment:etl/prod"], ["kind:flow"], available=lambda kind, key: False)


def test_excluded_soft_dependency_is_not_an_error() -> None:
    """A soft ref (the server makes a missing queue) may be excluded."""
    sel = select(ALL, ["deployment:etl/prod"], ["kind:work-queue"])
    assert "work-queue k8s-dev/default" not in labels(sel.records)
    assert external_refs(sel.records) == []


def test_bad_selectors_are_usage_errors() -> None:
    """Unknown kinds, missing parts, and includes or excludes matching nothing are one-line
    errors (an exclude with a typo would otherwise export what it meant to leave out)."""
    for text in ("deployment", "nope:x", "kind:nope", "tag:", "flow:"):
        with pytest.raises(UsageError, match="bad selector"):
            parse_selector(text)
    with pytest.raises(UsageError, match="--include 'deployment:nothing/\\*' matches no record"):
        select(ALL, ["deployment:nothing/*"])
    with pytest.raises(UsageError, match="--exclude 'variable:tmp_\\*' matches no record"):
        select(ALL, ["deployment:etl/prod"], ["variable:tmp_*"])
    assert select(ALL, exclude=["variable:tmp_*"], require_match=False).records


def test_external_refs_name_targets_outside() -> None:
    """Hard refs to records outside the list are reported once each; soft ones are not."""
    assert labels_of(external_refs([DEP])) == [
        ("flow", ("etl",)),
        ("variable", ("etl_bucket",)),
        ("work-pool", ("k8s-dev",)),
    ]


def labels_of(refs: list[Ref]) -> list[tuple[str, tuple[str, ...]]]:
    return [(r.kind, r.key) for r in refs]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_selection_is_closed_and_minimal(data: st.DataObject) -> None:
    """For random graphs, the selection holds no dangling hard ref, and every record in it
    is either chosen or needed by another record in it."""
    n = data.draw(st.integers(min_value=1, max_value=10))
    records = []
    for i in range(n):
        targets = data.draw(st.sets(st.integers(min_value=0, max_value=n - 1), max_size=3))
        refs = [ref("variable", f"v{j}") for j in sorted(targets) if j != i]
        records.append(rec("variable", f"v{i}", refs=refs))
    picked = data.draw(st.sets(st.integers(min_value=0, max_value=n - 1), min_size=1))
    sel = select(records, [f"variable:v{i}" for i in sorted(picked)])
    assert external_refs(sel.records) == []
    kept = {r.key for r in sel.records}
    needed = {ref.key for r in sel.records for ref in r.refs}
    assert kept <= {(f"v{i}",) for i in picked} | needed
    assert {(f"v{i}",) for i in picked} <= kept


def test_partial_bundle_declares_what_it_refers_to_outside() -> None:
    """verify refuses a partial bundle with an undeclared outside ref, and accepts it declared."""
    from pfx.bundle import decode, encode
    from pfx.errors import BundleError
    from pfx.model import External, Partial, Source

    source = Source(url="http://x/api")
    records = [QUEUE]
    partial = Partial(include=["work-queue:k8s-dev/default"])
    lines = list(encode(records, source=source, created="t", selection=partial))
    with pytest.raises(BundleError, match="neither in the partial bundle nor declared external"):
        decode(lines)
    external = [External(kind=r.kind, key=r.key) for r in external_refs(records)]
    partial = Partial(include=["work-queue:k8s-dev/default"], external=external)
    bundle = decode(list(encode(records, source=source, created="t", selection=partial)))
    assert bundle.manifest.selection is not None
    assert [e.key for e in bundle.manifest.selection.external] == [("k8s-dev",)]
