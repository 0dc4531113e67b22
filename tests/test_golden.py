"""Golden bundles: every bundle under fixtures/golden/*/ reads, forever, as its expected.json says.

A failure here means this pfx no longer reads a format it once wrote. Do not remake a golden
to fix it: fix the reader, or bump the major version (schemas/FORMAT.md, "Version check").
"""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from pfx import bundle, bundlefile
from pfx.authenticity import UNAUTHENTICATED, authenticity, open_keys
from pfx.errors import BundleError
from pfx.graph import build_graph
from pfx.jsontypes import JSON
from pfx.secrets import unseal
from pfx.secretsfile import gather_secrets, template

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden"
DIRS = sorted(p.parent for p in GOLDEN.glob("*/bundle.pfx"))


def expected(directory: Path) -> dict[str, JSON]:
    data = json.loads((directory / "expected.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_there_is_a_golden_for_format_1_0() -> None:
    """The first format version has its golden bundle, README and expected decoding; so has
    1.3, the first with kinds appended to the kinds table, and 1.4, the first sealed one."""
    assert GOLDEN / "v1.0" in DIRS and GOLDEN / "v1.3" in DIRS and GOLDEN / "v1.4" in DIRS
    for directory in DIRS:
        assert (directory / "README.md").is_file() and (directory / "expected.json").is_file()


@pytest.mark.parametrize("directory", DIRS, ids=[d.name for d in DIRS])
def test_golden_decodes_as_expected(directory: Path) -> None:
    """The golden bundle verifies and decodes to the manifest and records it was made with."""
    want = expected(directory)
    decoded = bundlefile.read_bundle(directory / "bundle.pfx")
    m = decoded.manifest
    assert list(m.version) == want["version"]
    assert m.reader == want["reader"] and m.pfx_version == want["pfx_version"]
    assert m.created == want["created"]
    # Fields added by later minors (source.cloud in 1.1) are unset in an older bundle.
    assert m.source.model_dump(mode="json", exclude_unset=True) == want["source"]
    assert m.counts == want["counts"]
    assert m.digest == want["digest"]
    assert [list(e) for e in m.edges] == want["edges"]
    assert [s.model_dump(mode="json") for s in m.skipped] == want["skipped"]
    got = [
        {
            "kind": r.kind,
            "key": list(r.key),
            "id": r.id,
            "refs": [ref.model_dump(mode="json") for ref in r.refs],
            "secrets": r.secrets.mode if r.secrets else None,
        }
        for r in decoded.records
    ]
    assert got == want["records"]
    summary = m.secrets.model_dump(include={"mode", "withheld", "encrypted", "plaintext"})
    assert summary == want["secrets"]


@pytest.mark.parametrize("directory", DIRS, ids=[d.name for d in DIRS])
def test_golden_graph_is_as_expected(directory: Path) -> None:
    """The golden records give the same dependencies, outside refs and late refs."""
    want = expected(directory)
    records = bundlefile.read_bundle(directory / "bundle.pfx").records
    graph = build_graph(records)
    graph.sorter()  # no cycle
    deps = {
        records[i].label: sorted(records[j].label for j in d) for i, d in sorted(graph.deps.items())
    }
    assert deps == want["deps"]
    outside = {records[i].label: [r.path for r in refs] for i, refs in graph.outside.items()}
    assert outside == want["outside"]
    late = {records[i].label: [r.path for r in refs] for i, refs in graph.late.items()}
    assert late == want["late"]


@pytest.mark.parametrize("directory", DIRS, ids=[d.name for d in DIRS])
def test_golden_secrets_open_as_expected(directory: Path) -> None:
    """The golden passphrase decrypts the encrypted values; the template lists the withheld."""
    want = expected(directory)
    decoded = bundlefile.read_bundle(directory / "bundle.pfx")
    passphrase = want["passphrase"]
    assert isinstance(passphrase, str)
    key = open_keys(decoded.manifest, passphrase)
    decrypted = {
        r.label: unseal(r, key)
        for r in decoded.records
        if r.secrets and r.secrets.mode == "encrypted"
    }
    assert decrypted == want["decrypted"]
    assert template(decoded) == want["template"]
    gathered = gather_secrets(decoded, passphrase=lambda: passphrase, environ={})
    withheld = [
        i for i, r in enumerate(decoded.records) if r.secrets and r.secrets.mode == "withheld"
    ]
    assert sorted(gathered.missing) == withheld


@pytest.mark.parametrize("directory", DIRS, ids=[d.name for d in DIRS])
def test_golden_says_whether_it_is_authenticated(directory: Path) -> None:
    """A golden sealed with its passphrase (1.4) authenticates with it, and fails with its
    manifest changed by a byte; older goldens read as they did, said to be unauthenticated."""
    want = expected(directory)
    path = directory / "bundle.pfx"
    manifest = bundlefile.verify_bundle(path, str(want["passphrase"]))
    sealed = bool(want.get("authenticated", False))
    assert (manifest.auth is not None) == sealed
    assert (authenticity(manifest, checked=True) == UNAUTHENTICATED) != sealed
    if sealed:
        raw = orjson.loads(next(iter(bundlefile.iter_lines(path))))
        raw["created"] = "2026-01-01T00:00:01Z"
        lines = list(bundlefile.iter_lines(path))
        forged = bundle.decode([orjson.dumps(raw, option=orjson.OPT_SORT_KEYS) + b"\n", *lines[1:]])
        with pytest.raises(BundleError, match="changed after it was sealed"):
            open_keys(forged.manifest, str(want["passphrase"]))
