"""The dependency graph: creation order, cycles, late, soft and outside references."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pfx.errors import GraphError
from pfx.graph import build_graph, dependents
from pfx.model import Record, Ref


def var(name: str, *refs: Ref) -> Record:
    return Record(kind="variable", key=(name,), data={"name": name}, refs=list(refs))


def ref(name: str, kind: str = "variable", soft: bool = False, late: bool = False) -> Ref:
    return Ref(kind=kind, key=(name,), path=f"value.{name}", soft=soft, late=late)


def test_dependencies_come_first() -> None:
    """A record is created after every record it refers to, whatever the bundle order."""
    records = [var("a", ref("b"), ref("c")), var("b", ref("c")), var("c")]
    graph = build_graph(records)
    assert graph.deps == {0: {1, 2}, 1: {2}}
    assert graph.order() == [2, 1, 0]
    assert dependents(graph) == {1: {0}, 2: {0, 1}}


def test_order_method_gives_a_valid_order() -> None:
    """Graph.order() returns dependencies first (it must not prepare the sorter twice)."""
    records = [var("a", ref("b")), var("b")]
    assert build_graph(records).order() == [1, 0]


@settings(max_examples=50, deadline=None)
@given(st.data())
def test_any_acyclic_graph_orders_dependencies_first(data: st.DataObject) -> None:
    """For random acyclic refs, every record comes after all of its dependencies."""
    n = data.draw(st.integers(min_value=1, max_value=12))
    records = []
    for i in range(n):
        targets = data.draw(
            st.sets(st.integers(min_value=i + 1, max_value=n - 1)) if i < n - 1 else st.just(set())
        )
        records.append(var(f"v{i}", *(ref(f"v{j}") for j in sorted(targets))))
    graph = build_graph(records)
    order = graph.order()
    assert sorted(order) == list(range(n))
    position = {ordinal: p for p, ordinal in enumerate(order)}
    for i, deps in graph.deps.items():
        assert all(position[j] < position[i] for j in deps)


def test_cycle_is_an_error_naming_the_records() -> None:
    """A dependency cycle raises GraphError naming each record in it."""
    records = [var("a", ref("b")), var("b", ref("c")), var("c", ref("a")), var("d")]
    with pytest.raises(GraphError) as e:
        build_graph(records).sorter()
    message = str(e.value)
    assert message.startswith("dependency cycle: ")
    for name in ("variable a", "variable b", "variable c"):
        assert name in message
    assert "variable d" not in message


def test_self_reference_is_not_a_cycle() -> None:
    """A record that refers to itself does not wait for itself."""
    graph = build_graph([var("a", ref("a"))])
    assert graph.deps == {}
    assert graph.order() == [0]


def test_late_refs_do_not_order() -> None:
    """A late ref is set after creation, so two records pointing at each other late are fine."""
    records = [var("a", ref("b", late=True)), var("b", ref("a"))]
    graph = build_graph(records)
    assert graph.deps == {1: {0}}
    assert graph.late == {0: [records[0].refs[0]]}
    assert graph.order() == [0, 1]


def test_late_ref_to_absent_record_is_late_not_outside() -> None:
    """A late ref whose target is not in the bundle is kept for later, not counted outside."""
    graph = build_graph([var("a", ref("zzz", late=True))])
    assert graph.outside == {}
    assert list(graph.late) == [0]


def test_soft_ref_orders_only_when_present() -> None:
    """A soft ref orders creation when its target is in the bundle and is ignored otherwise."""
    records = [var("a", ref("b", soft=True), ref("gone", soft=True)), var("b")]
    graph = build_graph(records)
    assert graph.deps == {0: {1}}
    assert graph.outside == {}


def test_hard_ref_to_absent_record_is_outside() -> None:
    """A hard ref to a record not in the bundle lands in `outside`, for the destination to have."""
    outside = Ref(kind="flow", key=("elsewhere",), id="0b0c5e2a-6f4e-4b8e-9d7a-3c1f2e4d5a6b")
    records = [var("a", outside, ref("b")), var("b")]
    graph = build_graph(records)
    assert graph.outside == {0: [outside]}
    assert graph.deps == {0: {1}}


def test_refs_match_by_kind_and_key() -> None:
    """A ref to a flow named like a variable does not point at the variable."""
    graph = build_graph([var("a", ref("b", kind="flow")), var("b")])
    assert graph.deps == {}
    assert list(graph.outside) == [0]
