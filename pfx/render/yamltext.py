"""YAML text for rendered files: PyYAML (the library Prefect itself loads prefect.yaml with),
named anchors for values shared on purpose, and end-of-line comments on lines holding ids.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

import yaml  # type: ignore[import-untyped]  # no stubs installed; Prefect ships PyYAML

from pfx.escaping import is_safe, safe_text
from pfx.ids import UUID
from pfx.jsontypes import JSON
from pfx.render.model import RenderCheckError


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]
    """SafeDumper that names the anchors of shared values (`&pool-k8s`, not `&id001`) and
    never indents list items less than their key (the style of Prefect's own docs)."""

    anchor_names: ClassVar[dict[int, str]] = {}

    def generate_anchor(self, node: object) -> str:
        for obj_id, name in self.anchor_names.items():
            if self.represented_objects.get(obj_id) is node:
                return name
        # Only values listed in anchor_names are shared; anything else is a bug upstream.
        raise ValueError("unexpected shared value in rendered YAML")

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _string(dumper: Any, value: str) -> Any:
    # Multi-line strings (rrules with DTSTART) and any with a control character or a Unicode
    # line break stay on one line, double-quoted with escapes (\n, \x1b, \L), so a comment can
    # follow any line (see comment_ids) and no line break of the data reaches the file.
    style = '"' if not is_safe(value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _string)


def dump(document: Mapping[str, Any], anchors: Mapping[str, object] | None = None) -> str:
    """`document` as block-style YAML, keys in the order given, Unicode as is.

    `anchors` maps an anchor name to a value object that occurs more than once in `document`
    (the same object, by identity): it is written once with `&name` and aliased with `*name`.
    """

    class Dumper(_Dumper):
        anchor_names: ClassVar[dict[int, str]] = {
            id(value): name for name, value in (anchors or {}).items()
        }

    text = yaml.dump(
        dict(document),
        Dumper=Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=1_000_000,
    )
    return str(text)


def comment_ids(text: str, names: Mapping[str, str]) -> str:
    """`text` with `# <what the id names>` after every line that holds an id in `names`.

    Safe on the output of `dump`: with an unbounded width every scalar sits on one line, so
    a comment after it ends that line and nothing else.
    """
    out: list[str] = []
    # Split at "\n" only: dump writes no other line break (see _string), and str.splitlines
    # would also split at characters that are data.
    for line in text.removesuffix("\n").split("\n"):
        found = [
            names[m.group(0).lower()] for m in UUID.finditer(line) if m.group(0).lower() in names
        ]
        if found:
            # A name is data: escaped, it cannot end the comment and start a line of YAML.
            line = f"{line}  # {safe_text(', '.join(dict.fromkeys(found)))}"
        out.append(line)
    return "\n".join(out) + "\n"


def checked_yaml(text: str, document: Mapping[str, Any]) -> str:
    """`text`, once it reads back (with PyYAML's safe loader, as Prefect reads prefect.yaml)
    as exactly `document`: no key, value or step that pfx did not mean to write."""
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise RenderCheckError(f"rendered YAML does not parse: {e}") from None
    if loaded != dict(document):
        raise RenderCheckError("rendered YAML does not read back as the document pfx wrote")
    return text


def header(lines: list[str]) -> str:
    """Comment lines that open a rendered file."""
    return "".join(f"# {safe_text(line)}".rstrip() + "\n" for line in lines)


def sorted_json(value: JSON) -> JSON:
    """`value` with object keys sorted at every depth, so output does not depend on the
    order a server listed them in."""
    if isinstance(value, dict):
        return {k: sorted_json(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [sorted_json(v) for v in value]
    return value


SLUG = re.compile(r"[^A-Za-z0-9_.-]+")


def anchor_name(*parts: str) -> str:
    """A readable YAML anchor name from `parts` (YAML anchors allow no spaces or brackets)."""
    return "-".join(SLUG.sub("_", p) for p in parts if p)
