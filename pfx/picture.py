"""A bundle's dependency edges as a picture's source, pure: Graphviz DOT or a mermaid flowchart.

Each record is a node labelled with its kind and natural key; an edge goes from a record to
what it refers to (the manifest's `edges`). In a partial bundle, records included as a
dependency are dashed and the records it needs on the destination (outside the bundle)
dotted, so "included as a dependency" can be seen. Names are untrusted: each label is made
safe for a terminal (pfx.escaping) and then quoted by the format's own rules; node ids are
pfx's (`n0`, `n1`, ...), never a name.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass, field
from typing import Literal

from pfx.escaping import safe_text
from pfx.model import Manifest, Record
from pfx.records import heads_of
from pfx.select import select

Format = Literal["dot", "mermaid"]
# What a node outside the bundle (needed on the destination) adds to its key.
OUTSIDE = " (on the destination)"
Ident = tuple[str, tuple[str, ...]]


@dataclass
class Picture:
    """Nodes (kind, key) by position, edges between positions, and how nodes are drawn."""

    nodes: list[Ident]
    edges: Sequence[tuple[int, int]]
    # Positions of records included as a dependency of a picked one (partial bundles).
    dependencies: Set[int] = frozenset()
    # Records the bundle refers to but does not hold, and who refers to each.
    outside: list[tuple[Ident, list[int]]] = field(default_factory=list)


def bundle_picture(records: Sequence[Record], manifest: Manifest) -> Picture:
    """The picture of a bundle: its records, its manifest's edges and, for a partial bundle,
    what was included as a dependency (its selectors picked again) and what it needs."""
    heads = heads_of(records)
    picture = Picture([(h.kind, h.key) for h in heads], list(manifest.edges))
    sel = manifest.selection
    if sel is None:
        return picture
    picked = select(
        records, sel.include, sel.exclude, available=lambda *_: True, require_match=False
    )
    chosen = {(r.kind, r.key) for r in picked.chosen}
    picture.dependencies = {n for n, ident in enumerate(picture.nodes) if ident not in chosen}
    for external in sel.external:
        ident = (external.kind, external.key)
        needers = [
            n
            for n, h in enumerate(heads)
            if any((link.kind, link.key) == ident and not link.soft for link in h.links)
        ]
        picture.outside.append((ident, needers))
    return picture


def picture_source(picture: Picture, form: Format) -> str:
    """The picture as DOT (`dot -Tsvg`) or mermaid (```mermaid in Markdown)."""
    return _dot(picture) if form == "dot" else _mermaid(picture)


def label_text(ident: Ident) -> tuple[str, str]:
    """A node's two label lines, kind and key, with unsafe characters escaped."""
    kind, key = ident
    return safe_text(kind), safe_text("/".join(key))


def dot_escaped(text: str) -> str:
    """`text` for inside a DOT double-quoted string, shown exactly: backslashes and quotes
    escaped (a backslash would otherwise start `\\n`, `\\N`, `\\G`, ... escapes)."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


# Mermaid entity codes (`#quot;`): the characters that could end a quoted label, start an
# entity, or become markup (HTML, markdown strings). `#` goes first.
_MERMAID: tuple[tuple[str, str], ...] = (
    ("#", "#35;"),
    ('"', "#quot;"),
    ("<", "#lt;"),
    (">", "#gt;"),
    ("&", "#amp;"),
    ("`", "#96;"),
)


def mermaid_escaped(text: str) -> str:
    """`text` for inside a mermaid double-quoted label, shown exactly (entity codes)."""
    for char, code in _MERMAID:
        text = text.replace(char, code)
    return text


def _label(ident: Ident, form: Format, note: str = "") -> str:
    """A node's label in the format's quoting: kind, a line break of pfx's own, key."""
    kind, key = label_text(ident)
    if form == "dot":
        return f'"{dot_escaped(kind)}\\n{dot_escaped(key + note)}"'
    return f'"{mermaid_escaped(kind)}<br/>{mermaid_escaped(key + note)}"'


def _outside_start(picture: Picture) -> int:
    return len(picture.nodes)


def _dot(picture: Picture) -> str:
    lines = [
        "digraph pfx {",
        "  rankdir=LR;",
        '  node [shape=box, fontname="Helvetica"];',
    ]
    for n, ident in enumerate(picture.nodes):
        style = ", style=dashed" if n in picture.dependencies else ""
        lines.append(f"  n{n} [label={_label(ident, 'dot')}{style}];")
    start = _outside_start(picture)
    for m, (ident, _) in enumerate(picture.outside):
        label = _label(ident, "dot", OUTSIDE)
        lines.append(f"  n{start + m} [label={label}, style=dotted];")
    lines += [f"  n{i} -> n{j};" for i, j in picture.edges]
    for m, (_, needers) in enumerate(picture.outside):
        lines += [f"  n{i} -> n{start + m} [style=dotted];" for i in needers]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid(picture: Picture) -> str:
    lines = ["flowchart LR"]
    lines += [f"  n{n}[{_label(ident, 'mermaid')}]" for n, ident in enumerate(picture.nodes)]
    start = _outside_start(picture)
    for m, (ident, _) in enumerate(picture.outside):
        lines.append(f"  n{start + m}[{_label(ident, 'mermaid', OUTSIDE)}]")
    lines += [f"  n{i} --> n{j}" for i, j in picture.edges]
    for m, (_, needers) in enumerate(picture.outside):
        lines += [f"  n{i} -.-> n{start + m}" for i in needers]
    if picture.dependencies:
        lines.append("  classDef dependency stroke-dasharray: 5 5")
        members = ",".join(f"n{n}" for n in sorted(picture.dependencies))
        lines.append(f"  class {members} dependency")
    if picture.outside:
        lines.append("  classDef outside stroke-dasharray: 2 2")
        members = ",".join(f"n{start + m}" for m in range(len(picture.outside)))
        lines.append(f"  class {members} outside")
    return "\n".join(lines) + "\n"
