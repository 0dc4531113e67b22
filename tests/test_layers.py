"""The layers of pfx, read from its source: no import circle (imports inside functions and
under TYPE_CHECKING count), the pure core never imports the shell nor an I/O library, every
module is placed in one layer, and every module stays under 400 lines."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "pfx"
MAX_LINES = 400

# The pure core: data, rules and encodings, no I/O. Everything else is the shell: the seam to
# Prefect (pfx.server), files, the CLI, and the pipelines that join them to the core.
CORE = {
    "pfx",
    "pfx.authenticity",
    "pfx.bundle",
    "pfx.census",
    "pfx.changetext",
    "pfx.checksums",
    "pfx.cloud",
    "pfx.comparison",
    "pfx.diff",
    "pfx.errors",
    "pfx.escaping",
    "pfx.graph",
    "pfx.ids",
    "pfx.invariants",
    "pfx.jsonline",
    "pfx.jsontypes",
    "pfx.keying",
    "pfx.limits",
    "pfx.losses",
    "pfx.mapping",
    "pfx.model",
    "pfx.notification_policy",
    "pfx.openapi",
    "pfx.outcomes",
    "pfx.picture",
    "pfx.plan",
    "pfx.promotion",
    "pfx.prune",
    "pfx.records",
    "pfx.render",
    "pfx.render.automations",
    "pfx.render.blocks",
    "pfx.render.commands",
    "pfx.render.core",
    "pfx.render.deployments",
    "pfx.render.model",
    "pfx.render.pools",
    "pfx.render.requests",
    "pfx.render.script",
    "pfx.render.settings",
    "pfx.render.templates",
    "pfx.render.yamltext",
    "pfx.report",
    "pfx.repository",
    "pfx.repository.hashes",
    "pfx.repository.history",
    "pfx.repository.model",
    "pfx.repository.reference",
    "pfx.repository.retention",
    "pfx.sameness",
    "pfx.scope",
    "pfx.sealing",
    "pfx.secretdiff",
    "pfx.secrets",
    "pfx.select",
    "pfx.standby",
    "pfx.tested",
    "pfx.twins",
    "pfx.watched",
    "pfx.watching",
    "pfx.zstdframe",
}
CORE_PACKAGES = ("pfx.kinds",)
SHELL = {
    "pfx.__main__",
    "pfx.boundary",
    "pfx.bundlefile",
    "pfx.cutover",
    "pfx.deleting",
    "pfx.diffing",
    "pfx.exporting",
    "pfx.files",
    "pfx.flows",
    "pfx.importing",
    "pfx.interrupts",
    "pfx.output",
    "pfx.passphrase",
    "pfx.prefect_types",
    "pfx.profiles",
    "pfx.prunetext",
    "pfx.readback",
    "pfx.render.files",
    "pfx.render.setup_api",
    "pfx.replay",
    "pfx.repository.backing",
    "pfx.repository.checking",
    "pfx.repository.fetching",
    "pfx.repository.hashfile",
    "pfx.repository.logbook",
    "pfx.repository.repo",
    "pfx.repository.store",
    "pfx.repository.text",
    "pfx.retry",
    "pfx.schemagen",
    "pfx.secretsfile",
}
SHELL_PACKAGES = ("pfx.cli", "pfx.server")
# Libraries that do I/O or belong to the shell's frameworks: never imported by the core.
SHELL_LIBRARIES = ("click", "httpx", "anyio", "prefect", "zstandard", "rich")


def modules() -> dict[str, Path]:
    """Every module of pfx by dotted name."""
    out: dict[str, Path] = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imported(name: str, path: Path, known: set[str]) -> tuple[set[str], set[str]]:
    """The pfx modules and the top-level outside packages that module `name` imports,
    anywhere in it (functions and TYPE_CHECKING blocks included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    ours: set[str] = set()
    outside: set[str] = set()
    for target in found:
        if target.split(".")[0] != "pfx":
            outside.add(target.split(".")[0])
            continue
        while target not in known:
            target = target.rpartition(".")[0]
        # A package's __init__ importing its own modules is how a package is made, not a
        # circle; a module importing its own name is not an import.
        own = path.name == "__init__.py" and target.startswith(name + ".")
        if target != name and not own:
            ours.add(target)
    return ours, outside


@cache
def graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """The pfx modules each module imports, and the outside packages."""
    found = modules()
    known = set(found)
    edges: dict[str, set[str]] = {}
    libraries: dict[str, set[str]] = {}
    for name, path in found.items():
        edges[name], libraries[name] = imported(name, path, known)
    return edges, libraries


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), and self-loops."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def layer(name: str) -> str | None:
    """ "core" or "shell", by the lists above; None for a module placed in neither."""
    for where, names, packages in (("core", CORE, CORE_PACKAGES), ("shell", SHELL, SHELL_PACKAGES)):
        if name in names or any(name == p or name.startswith(p + ".") for p in packages):
            return where
    return None


def test_no_import_circles() -> None:
    """No group of pfx modules imports itself round, counting every import statement."""
    edges, _ = graph()
    assert circles(edges) == []


def test_the_walker_finds_circles_through_function_and_type_checking_imports(
    tmp_path: Path,
) -> None:
    """The walker counts an import inside a function and one under TYPE_CHECKING."""
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(edges) == [["a", "b", "c"]]
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pfx.x import y\n"
    source += "def f():\n    import pfx.z\n"
    path = tmp_path / "probe.py"
    path.write_text(source)
    ours, outside = imported("pfx.probe", path, {"pfx", "pfx.x", "pfx.z", "pfx.probe"})
    assert ours == {"pfx.x", "pfx.z"} and outside == {"typing"}


def test_every_module_is_in_one_layer() -> None:
    """A new module says where it belongs: the pure core, or the shell."""
    unplaced = [n for n in modules() if layer(n) is None]
    assert unplaced == []


@pytest.mark.parametrize("name", sorted(n for n in modules() if layer(n) == "core"))
def test_the_core_imports_no_shell(name: str) -> None:
    """A core module imports only core modules and no I/O library."""
    edges, libraries = graph()
    assert sorted(m for m in edges[name] if layer(m) != "core") == []
    assert sorted(libraries[name] & set(SHELL_LIBRARIES)) == []


def test_every_module_is_under_the_line_budget() -> None:
    """No module of pfx is over 400 lines."""
    long = {
        name: n
        for name, path in modules().items()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
