"""How changes read, pure: the text of `pfx diff` and of a dry run's plan, in one look.

A record line starts with its marker: `+` added (or to be created), `-` removed (or to be
deleted), `~` changed (or to be updated), `!` any other outcome (skipped, blocked, failed,
kept, ...), each with its own colour when colour is asked for. Values are JSON; a key one side
lacks is `absent` (null is a value); a long value is cut, and the text says so (`full` shows
every value whole). Names from bundles and servers are escaped (pfx.escaping) before any
colour is added, so none can paint the terminal.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import orjson

from pfx.escaping import safe_text
from pfx.jsontypes import JSON, JSONObject
from pfx.secrets import MASK

if TYPE_CHECKING:
    from pfx.diff import Diff, RecordDiff
    from pfx.sameness import Change

# Longest value shown whole unless `full`: a field and its value fit a terminal line.
WIDTH = 80
# What a value on one side only reads as: not JSON (a string would be quoted).
ABSENT = "absent"
CUT = "\u2026"  # an ellipsis: where a cut value ends

_RESET = "\x1b[0m"
COLOURS = {
    "+": "\x1b[32m",  # green
    "-": "\x1b[31m",  # red
    "~": "\x1b[33m",  # yellow
    "!": "\x1b[35m",  # magenta
    "head": "\x1b[1m",  # bold
}
# Outcome statuses by marker; any status not named here is `!` (pfx.report may grow more).
MARKS = {
    "added": "+",
    "created": "+",
    "removed": "-",
    "deleted": "-",
    "changed": "~",
    "updated": "~",
}


def mark(status: str) -> str:
    """The marker of a record line for `status` (module doc)."""
    return MARKS.get(status, "!")


@dataclass
class Style:
    """How to show values: coloured or not, whole or cut at `width`; `cut` counts the values
    that were cut, so the text can say so."""

    colour: bool = False
    full: bool = False
    width: int = WIDTH
    cut: int = 0


@dataclass
class Lines:
    """Text lines, each with the colour of its marker (or none): escaped, then painted."""

    style: Style
    lines: list[tuple[str, str | None]] = field(default_factory=list)

    def add(self, text: str, paint: str | None = None) -> None:
        self.lines.append((text, paint))

    def text(self) -> str:
        out = []
        for text, paint in self.lines:
            safe = safe_text(text)
            if paint is not None and self.style.colour:
                safe = f"{COLOURS[paint]}{safe}{_RESET}"
            out.append(safe)
        return "\n".join(out)


def value_text(value: JSON, style: Style) -> str:
    """`value` as JSON on one line, cut at the style's width unless `full` (counted)."""
    if value == MASK:
        return "(secret, not shown)"
    text = orjson.dumps(value).decode()
    if style.full or len(text) <= style.width:
        return text
    style.cut += 1
    return text[: style.width - 1] + CUT


def _side(value: JSON, absent: bool, style: Style) -> str:
    return ABSENT if absent else value_text(value, style)


def add_changes(out: Lines, changes: Iterable[Change], indent: str) -> None:
    """One line per changed value, `path: old -> new`; two (`- old`, `+ new`) when they are
    long; a secret is only said to have changed."""
    style = out.style
    for c in changes:
        if c.secret:
            out.add(f"{indent}{c.path}: secret changed (value not shown)", "~")
            continue
        old = _side(c.old, c.old_absent, style)
        new = _side(c.new, c.new_absent, style)
        if len(old) + len(new) <= style.width:
            out.add(f"{indent}{c.path}: {old} -> {new}")
        else:
            out.add(f"{indent}{c.path}:")
            out.add(f"{indent}  - {old}", "-")
            out.add(f"{indent}  + {new}", "+")


def change_lines(changes: Iterable[Change], indent: str, style: Style | None = None) -> list[str]:
    """The lines of `add_changes`, uncoloured and escaped (for texts that are not a diff)."""
    out = Lines(style or Style())
    add_changes(out, changes, indent)
    return out.text().split("\n") if out.lines else []


# How deep a record's content opens into dotted paths (`data.host`, `labels.team`); deeper
# objects (a schema's `fields.definitions`) are one value each, cut like any other.
CONTENT_DEPTH = 2


def add_content(out: Lines, content: JSONObject, indent: str, paint: str) -> None:
    """A record's data, one line per field (objects open into dotted paths, CONTENT_DEPTH
    deep; lists whole)."""
    for path, value in leaves(content, CONTENT_DEPTH):
        out.add(f"{indent}{path}: {value_text(value, out.style)}", paint)


def leaves(value: JSONObject, depth: int, path: str = "") -> list[tuple[str, JSON]]:
    """(dotted path, value) of each value in `value`, objects opened `depth` levels deep."""
    found: list[tuple[str, JSON]] = []
    for key, inner in value.items():
        where = f"{path}.{key}" if path else key
        if isinstance(inner, dict) and inner and depth > 1:
            found += leaves(inner, depth - 1, where)
        else:
            found.append((where, inner))
    return found


def table_lines(rows: dict[str, dict[str, int]], columns: Sequence[str]) -> list[str]:
    """Counts per kind (rows) and column, aligned: the one table renderer."""
    width = max((len(k) for k in rows), default=4)
    lines = [f"  {'kind':<{width}}  " + "  ".join(f"{c:>9}" for c in columns)]
    for kind, row in rows.items():
        lines.append(f"  {kind:<{width}}  " + "  ".join(f"{row.get(c, 0):>9}" for c in columns))
    return lines


def cut_note(style: Style) -> list[str]:
    """The line that says values were cut, when some were."""
    if not style.cut:
        return []
    n = style.cut
    return [
        f"({n} value{'s' if n != 1 else ''} cut at {style.width} characters, ending in "
        f"{CUT}; --full shows every value whole)"
    ]


def diff_text(diff: Diff, style: Style) -> str:
    """A diff for people: the two sides, each differing record under its marker with its
    changed values (added and removed ones with their content), counts per kind, a summary."""
    out = Lines(style)
    out.add(f"--- {diff.left}", "head")
    out.add(f"+++ {diff.right}", "head")
    out.lines += [(f"note: {note}", None) for note in diff.notes]
    for r in diff.records:
        _record(out, r)
    c = diff.counts()
    if diff.same:
        out.add(f"equal: {c['equal']} records, no differences")
        return out.text()
    out.add("")
    out.lines += [(line, None) for line in table_lines(diff.by_kind(), (*_STATUSES, "equal"))]
    out.lines += [(line, None) for line in cut_note(style)]
    n = len(diff.records)
    out.add(
        f"{n} record{'s differ' if n != 1 else ' differs'} ({c['added']} added, {c['removed']} "
        f"removed, {c['changed']} changed), {c['equal']} equal"
    )
    return out.text()


_STATUSES = ("added", "removed", "changed")


def _record(out: Lines, r: RecordDiff) -> None:
    marker = mark(r.status)
    out.add(f"{marker} {r.status:<8} {r.label}", marker)
    if r.status == "changed":
        add_changes(out, r.changes, "    ")
    elif r.content is not None:
        add_content(out, r.content, "    ", marker)
