"""The dependency graph of a bundle's records, pure: ordering edges, missing refs, cycles.

Built on graphlib. A late ref (automation -> automation) does not order creation; a soft ref
orders creation only when its target is in the bundle.
"""

from __future__ import annotations

import graphlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from pfx.errors import GraphError
from pfx.model import Record, Ref
from pfx.records import heads_of


@dataclass
class Graph:
    """For each record ordinal: the ordinals it waits for, and refs with no record behind them."""

    records: Sequence[Record]
    deps: dict[int, set[int]] = field(default_factory=dict)
    # Hard refs whose target is not in the bundle: satisfied only if the destination has it.
    outside: dict[int, list[Ref]] = field(default_factory=dict)
    # Late refs, resolved after every record exists.
    late: dict[int, list[Ref]] = field(default_factory=dict)

    def sorter(self) -> graphlib.TopologicalSorter[int]:
        """A prepared TopologicalSorter over every record (raises GraphError on a cycle)."""
        sorter: graphlib.TopologicalSorter[int] = graphlib.TopologicalSorter()
        for i in range(len(self.records)):
            sorter.add(i, *sorted(self.deps.get(i, ())))
        try:
            sorter.prepare()
        except graphlib.CycleError as e:
            cycle = e.args[1] if len(e.args) > 1 else []
            heads = heads_of(self.records)
            names = " -> ".join(heads[i].label for i in cycle)
            raise GraphError(f"dependency cycle: {names}") from None
        return sorter

    def order(self) -> list[int]:
        """One valid creation order (dependencies first; ordinals ascending among equals)."""
        sorter = self.sorter()
        order: list[int] = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready())
            order += ready
            sorter.done(*ready)
        return order


def build_graph(records: Sequence[Record]) -> Graph:
    """The graph of `records`; cycles are reported by Graph.sorter(). Reads only the
    records' heads (kind, key, refs), which a bundle read from a file keeps resident."""
    heads = heads_of(records)
    position = {(h.kind, h.key): i for i, h in enumerate(heads)}
    graph = Graph(records)
    for i, head in enumerate(heads):
        for link in head.links:
            j = position.get((link.kind, link.key))
            if link.late:
                graph.late.setdefault(i, []).append(link.as_ref())
            elif j is not None:
                if j != i:
                    graph.deps.setdefault(i, set()).add(j)
            elif not link.soft:
                graph.outside.setdefault(i, []).append(link.as_ref())
    return graph


def dependents(graph: Graph) -> dict[int, set[int]]:
    """Reverse edges: for each ordinal, the records that wait for it."""
    reverse: dict[int, set[int]] = {}
    for i, deps in graph.deps.items():
        for j in deps:
            reverse.setdefault(j, set()).add(i)
    return reverse
