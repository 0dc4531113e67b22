"""The format is a document: committed JSON Schemas are current, files match them, FORMAT.md too."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from pfx import bundlefile, schemagen
from pfx.jsontypes import JSON
from pfx.kinds import KINDS
from pfx.model import (
    Auth,
    External,
    Manifest,
    Partial,
    Record,
    Ref,
    SecretSlot,
    SecretsSummary,
    Skipped,
    Source,
)
from pfx.output import write_report
from pfx.report import Outcome, Report
from pfx.secretsfile import template

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "schemas"
GOLDEN = ROOT / "fixtures" / "golden" / "v1.0" / "bundle.pfx"
GOLDENS = sorted((ROOT / "fixtures" / "golden").glob("*/bundle.pfx"))
FORMAT = (SCHEMAS / "FORMAT.md").read_text(encoding="utf-8")

jsonschema = pytest.importorskip("jsonschema")


def test_committed_schemas_are_current() -> None:
    """schemas/*.schema.json are exactly what pfx.schemagen generates from the models now."""
    generated = schemagen.generate()
    committed = {p.name for p in SCHEMAS.glob("*.schema.json")}
    assert committed == set(generated), (
        "schemas/ has other files than generated: run `make schemas`"
    )
    for name, text in generated.items():
        current = (SCHEMAS / name).read_text(encoding="utf-8")
        assert current == text, f"schemas/{name} is stale: run `make schemas`"


def test_generation_is_stable() -> None:
    """Generating twice gives the same text: sorted keys, two-space indent, one final newline."""
    first, second = schemagen.generate(), schemagen.generate()
    assert first == second
    for text in first.values():
        assert text.endswith("}\n") and not text.endswith("\n\n")
        assert json.loads(text)["$schema"] == schemagen.DIALECT


def test_schemagen_writes_files(tmp_path: Path) -> None:
    """`python -m pfx.schemagen DIR` writes every schema into DIR."""
    assert schemagen.main([str(tmp_path)]) == 0
    assert {p.name for p in tmp_path.iterdir()} == set(schemagen.generate())
    assert schemagen.main([]) == 2


def check(name: str, instance: JSON) -> None:
    v = jsonschema.Draft202012Validator(json.loads((SCHEMAS / name).read_text(encoding="utf-8")))
    errors = [e.message for e in v.iter_errors(instance)]
    assert not errors, f"{name}: {errors}"


@pytest.mark.parametrize("golden", GOLDENS, ids=[g.parent.name for g in GOLDENS])
def test_golden_bundle_matches_the_schemas(golden: Path) -> None:
    """Every golden manifest and record is valid under the committed schemas."""
    lines = list(bundlefile.iter_lines(golden))
    check("manifest.schema.json", json.loads(lines[0]))
    for line in lines[1:]:
        check("record.schema.json", json.loads(line))


def test_secrets_template_matches_the_schema() -> None:
    """A secrets file from `pfx secrets template` is valid under secrets-file.schema.json."""
    check("secrets-file.schema.json", template(bundlefile.read_bundle(GOLDEN)))


def test_report_file_matches_the_schema(tmp_path: Path) -> None:
    """The file `pfx import --report` writes is valid under report.schema.json."""
    report = Report(
        bundle="snap.pfx",
        destination="http://127.0.0.1:4201/api",
        outcomes=[
            Outcome(kind="flow", key=("etl",), status="created", destination_id="x"),
            Outcome(
                kind="variable", key=("a",), status="skipped", code="differs", fields=["value"]
            ),
        ],
    )
    path = tmp_path / "report.json"
    write_report(path, report)
    check("report.schema.json", json.loads(path.read_text()))


def test_a_broken_record_fails_the_schema() -> None:
    """The record schema is not vacuous: a record without a key is invalid."""
    v = jsonschema.Draft202012Validator(
        json.loads((SCHEMAS / "record.schema.json").read_text(encoding="utf-8"))
    )
    assert list(v.iter_errors({"kind": "flow", "data": {}}))


# --- FORMAT.md --------------------------------------------------------------------------------


def documented_kinds() -> list[str]:
    """Kind names of FORMAT.md's kinds table, in its order."""
    return re.findall(r"^\| \d+ \| `([a-z-]+)` \|", FORMAT, flags=re.MULTILINE)


def test_format_lists_the_registry_kinds_in_order() -> None:
    """FORMAT.md's kinds table holds exactly the registry's kinds, in bundle order."""
    assert documented_kinds() == [kind.name for kind in KINDS], (
        "schemas/FORMAT.md's kinds table differs from pfx/kinds/__init__.py: update the table "
        "(an appended kind is a minor format version, a reordered one a major)"
    )


MODELS: list[type[BaseModel]] = [
    Manifest,
    Auth,
    Source,
    SecretsSummary,
    Skipped,
    Partial,
    External,
    Record,
    Ref,
    SecretSlot,
]


@pytest.mark.parametrize("model", MODELS, ids=[m.__name__ for m in MODELS])
def test_format_documents_every_field(model: type[BaseModel]) -> None:
    """FORMAT.md names every field of every model a bundle holds."""
    missing = [name for name in model.model_fields if f"`{name}`" not in FORMAT]
    assert not missing, f"schemas/FORMAT.md does not describe {model.__name__} fields {missing}"


def test_format_names_the_current_version() -> None:
    """FORMAT.md specifies the version pfx writes and has a change log entry for it."""
    from pfx.model import FORMAT_MAJOR, FORMAT_MINOR

    version = f"{FORMAT_MAJOR}.{FORMAT_MINOR}"
    assert FORMAT.splitlines()[2].startswith(f"Version {version}.")
    assert f"- **{version}**" in FORMAT


def test_format_record_shapes_follow_the_kinds() -> None:
    """FORMAT.md's record shapes table says what each kind's `shape` says (key parts, fields)."""
    from pfx.kinds import KINDS

    names = {
        "str": "string",
        "int": "integer",
        "number": "number",
        "object": "object",
        "array": "array",
    }
    rows = re.findall(r"^\| `([a-z-]+)` \| (\d+) \| (.*) \|$", FORMAT, flags=re.MULTILINE)
    documented = {kind: (int(parts), fields.strip()) for kind, parts, fields in rows}
    for kind in KINDS:
        fields = ", ".join(
            f"`{k}` {names[v.rstrip('?')]}{' or absent' if v.endswith('?') else ''}"
            for k, v in kind.shape.fields.items()
        )
        assert documented.get(kind.name) == (kind.shape.key, fields), (
            f"schemas/FORMAT.md's record shapes table differs from pfx/kinds for {kind.name}"
        )
