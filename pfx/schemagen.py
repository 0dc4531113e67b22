"""JSON Schemas of the files pfx writes, generated from its pydantic models.

`python -m pfx.schemagen schemas` (`make schemas`) writes them; tests/test_schemas.py fails when
the committed files differ from what `generate()` returns. schemas/FORMAT.md explains them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from pfx.jsontypes import JSON
from pfx.model import Manifest, Record
from pfx.report import Report
from pfx.repository.model import SnapshotEntry

DIALECT = "https://json-schema.org/draft/2020-12/schema"
NOTE = "Generated from pfx's models by `python -m pfx.schemagen schemas`; do not edit."


class SecretsFile(BaseModel):
    """A secrets file: withheld secret values by block (`<type slug>/<name>`), then by field path.

    `pfx secrets template` writes one with nulls; import reads it with --secrets-file. Keys
    other than these are ignored; a null value counts as missing.
    """

    model_config = ConfigDict(title="SecretsFile")

    format: Literal["pfx-secrets"]
    version: Literal[1] = 1
    blocks: dict[str, dict[str, JSON]]


class ReportTotals(BaseModel):
    """What `pfx import --report` adds to the Report: its totals and exit code."""

    # Per kind, the number of records in each status.
    totals: dict[str, dict[str, int]]
    # The number of records in each status.
    counts: dict[str, int]
    exit_code: int


SchemaDict = dict[str, JSON]


def report_file_schema() -> SchemaDict:
    """The report file: the Report model's fields plus ReportTotals' (see output.write_report)."""
    schema: SchemaDict = Report.model_json_schema(mode="validation")
    extra = ReportTotals.model_json_schema(mode="validation")
    properties = schema["properties"]
    required = schema["required"]
    assert isinstance(properties, dict) and isinstance(required, list)
    properties |= extra["properties"]
    required += extra["required"]
    schema["title"] = "ReportFile"
    schema["description"] = "The file `pfx import --report` writes: every record's outcome."
    return schema


SCHEMAS: dict[str, Callable[[], SchemaDict]] = {
    "manifest.schema.json": lambda: Manifest.model_json_schema(mode="validation"),
    "record.schema.json": lambda: Record.model_json_schema(mode="validation"),
    "secrets-file.schema.json": lambda: SecretsFile.model_json_schema(mode="validation"),
    "report.schema.json": report_file_schema,
    # A backup repository's index entry (schemas/REPOSITORY.md).
    "snapshot-entry.schema.json": lambda: SnapshotEntry.model_json_schema(mode="validation"),
}


def generate() -> dict[str, str]:
    """File name -> schema text (sorted keys, two-space indent, trailing newline)."""
    out: dict[str, str] = {}
    for name, make in SCHEMAS.items():
        schema: SchemaDict = {"$schema": DIALECT, "$id": name, "$comment": NOTE}
        schema |= make()
        out[name] = json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return out


def write(directory: Path) -> list[Path]:
    """Write every schema into `directory`; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in generate().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m pfx.schemagen DIRECTORY", file=sys.stderr)
        return 2
    for path in write(Path(argv[0])):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
