"""`pfx inspect --graph`: the manifest's edges as DOT (read back by a real DOT parser) or
mermaid, every name shown exactly and none able to end its label, and a partial bundle's
dependencies drawn apart."""

from __future__ import annotations

import re
from pathlib import Path

import pydot
import pytest
from click.testing import CliRunner

from pfx.cli import cli
from pfx.escaping import safe_text
from pfx.picture import Picture, picture_source

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "fixtures" / "golden" / "v1.3" / "bundle.pfx"

# Names Prefect allows in flows, deployments and pools, chosen to end or escape a label.
HOSTILE = [
    'quote " inside',
    "back\\slash \\n not a break \\",
    "new\nline",
    'end"]; n0 -> n1; x["',
    "--> arrow ]) }",
    "#quot; #35; entity",
    "<b>html</b> & `markdown`",
    "esc \x1b[31m red",
    "bidi \u202e reversed",
]


def hostile_picture() -> Picture:
    nodes = [("flow", (name,)) for name in HOSTILE]
    nodes.append(("deployment", (HOSTILE[0], HOSTILE[3])))
    edges = [(len(HOSTILE), 0), (len(HOSTILE), 3)]
    outside = [(("work-pool", (HOSTILE[2],)), [len(HOSTILE)])]
    return Picture(nodes, edges, dependencies={0, 3}, outside=outside)


def dot_unquoted(label: str) -> str:
    """The text a DOT double-quoted label shows (pfx's own `\\n` as a line break)."""
    assert label.startswith('"') and label.endswith('"'), label
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), label[1:-1])


def test_dot_is_valid_and_every_label_shows_exactly_its_name() -> None:
    """A DOT parser reads every node and edge back; each label is the kind, a line break and
    the key made safe for a terminal, whatever quotes, backslashes or markup it holds."""
    picture = hostile_picture()
    (graph,) = pydot.graph_from_dot_data(picture_source(picture, "dot"))
    nodes = {n.get_name(): n for n in graph.get_nodes() if n.get_name() not in ("node",)}
    assert len(nodes) == len(picture.nodes) + len(picture.outside)
    for n, (kind, key) in enumerate(picture.nodes):
        label = dot_unquoted(nodes[f"n{n}"].get_label())
        assert label == f"{kind}\n{safe_text('/'.join(key))}"
    outside = dot_unquoted(nodes[f"n{len(picture.nodes)}"].get_label())
    assert outside == f"work-pool\n{safe_text(HOSTILE[2])} (on the destination)"
    edges = {(e.get_source(), e.get_destination()) for e in graph.get_edges()}
    assert edges == {("n9", "n0"), ("n9", "n3"), ("n9", "n10")}
    assert nodes["n0"].get_style() == "dashed" and nodes["n1"].get_style() is None


MERMAID_LINE = re.compile(
    r'^  n\d+\["[^"<>`\n]*<br/>[^"<>`\n]*"\]$'  # a node: pfx's own line break only
    r"|^  n\d+ (-->|-\.->) n\d+$"  # an edge
    r"|^  classDef \w+ [\w:\- ]+$|^  class (n\d+,)*n\d+ \w+$"
)


def test_mermaid_labels_cannot_end_or_mark_up() -> None:
    """Every mermaid line is a node, an edge or a class: no name holds a quote, a bracket
    that closes its node, markup or a line break; entity codes show the characters."""
    text = picture_source(hostile_picture(), "mermaid")
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    for line in lines[1:]:
        assert MERMAID_LINE.match(line), line
    assert "#quot;" in text and "#35;quot;" in text and "#lt;b#gt;" in text and "#96;" in text
    assert "class n0,n3 dependency" in text and "n9 -.-> n10" in text


def test_inspect_graph_of_a_bundle() -> None:
    """`pfx inspect BUNDLE --graph` prints one node per record and one edge per manifest
    edge; --format mermaid the same as a flowchart; --format without --graph is refused."""
    from pfx.bundlefile import read_bundle

    read = read_bundle(GOLDEN)
    runner = CliRunner()
    dot = runner.invoke(cli, ["inspect", str(GOLDEN), "--graph"])
    assert dot.exit_code == 0, dot.output
    (graph,) = pydot.graph_from_dot_data(dot.stdout)
    names = [n.get_name() for n in graph.get_nodes() if n.get_name() != "node"]
    assert len(names) == len(read.records)
    assert len(graph.get_edges()) == len(read.manifest.edges) > 0
    mermaid = runner.invoke(cli, ["inspect", str(GOLDEN), "--graph", "--format", "mermaid"])
    assert mermaid.exit_code == 0 and mermaid.stdout.startswith("flowchart LR\n")
    assert mermaid.stdout.count(" --> ") == len(read.manifest.edges)
    alone = runner.invoke(cli, ["inspect", str(GOLDEN), "--format", "dot"])
    assert alone.exit_code == 2 and "add --graph" in alone.stderr


@pytest.mark.parametrize("form", ["dot", "mermaid"])
def test_partial_bundle_draws_its_dependencies_apart(form: str, tmp_path: Path) -> None:
    """In a partial bundle (selected offline from the golden one by import's selection),
    records included as a dependency are drawn dashed, the chosen ones solid."""
    from pfx.bundle import Bundle
    from pfx.bundlefile import read_bundle
    from pfx.model import Partial
    from pfx.picture import bundle_picture
    from pfx.select import select

    read = read_bundle(GOLDEN)
    dependent = read.records[read.manifest.edges[0][0]]  # a record that refers to another
    selector = f"{dependent.kind}:{'/'.join(dependent.key)}"
    picked = select(read.records, [selector])
    manifest = read.manifest.model_copy(update={"selection": Partial(include=[selector])})
    picture = bundle_picture(Bundle(manifest, picked.records, []).records, manifest)
    chosen = picture.nodes.index((dependent.kind, dependent.key))
    assert picture.dependencies == set(range(len(picture.nodes))) - {chosen}
    assert picture.dependencies
    manifest = manifest.model_copy(update={"edges": [(chosen, n) for n in picture.dependencies]})
    text = picture_source(bundle_picture(picked.records, manifest), form)  # type: ignore[arg-type]
    dashed = "style=dashed" if form == "dot" else "dependency"
    assert text.count(dashed) == (len(picture.dependencies) if form == "dot" else 2)
