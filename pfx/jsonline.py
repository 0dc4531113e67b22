"""Canonical JSON lines: the one writer and reader of bundle JSON, with one nesting limit.

The writer (orjson) refuses values nested deeper than MAX_DEPTH; the reader refuses the same,
so whatever export writes, verify and import read, and whatever they read, pfx's own recursive
walks over record data (id rewriting, comparison) handle without hitting Python's limit.
"""

from __future__ import annotations

import re

import orjson

from pfx.jsontypes import JSON
from pfx.limits import MAX_ELEMENTS

# orjson's own serialization limit: a container nested 255 deep is refused. Prefect's server
# answers with the same encoder, so nothing it can list is deeper than this either.
MAX_DEPTH = 254


# A JSON string, escapes included (unrolled: no backtracking per character).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')


class TooDeep(ValueError):
    """A value is nested deeper than MAX_DEPTH."""


class TooLarge(ValueError):
    """A line holds more JSON values than a reader parses (limits.MAX_ELEMENTS)."""


def dump_line(value: JSON) -> bytes:
    """`value` as one canonical JSON line (sorted keys, no spaces, "\\n"); TooDeep when nested
    deeper than MAX_DEPTH."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS) + b"\n"
    except orjson.JSONEncodeError as e:
        if "recursion" in str(e).lower():
            raise TooDeep(f"nested deeper than {MAX_DEPTH} levels") from None
        raise


def load_line(line: bytes, max_elements: int = MAX_ELEMENTS) -> JSON:
    """One JSON line; ValueError (with a short reason) when it is not JSON, too deep, or
    holds more than `max_elements` values (counted before it is parsed)."""
    if elements_bound(line) > max_elements:
        raise TooLarge(f"more than {max_elements} JSON values (a reader's limit)")
    try:
        value: JSON = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        raise ValueError(f"not JSON ({str(e).split(':', 1)[0]})") from None
    # Every bracket counts at most one level, also those inside strings: most lines are
    # shallow by this bound and need no walk.
    if line.count(b"{") + line.count(b"[") > MAX_DEPTH and depth_of(value) > MAX_DEPTH:
        raise TooDeep(f"nested deeper than {MAX_DEPTH} levels")
    return value


def elements_bound(line: bytes) -> int:
    """At most how many JSON values `line` holds: every value but the first of a container
    follows a comma, and each container opens with a bracket. Brackets and commas inside
    strings are left out when the quick count is high."""
    quick = line.count(b",") + line.count(b"[") + line.count(b"{") + 1
    if quick <= MAX_ELEMENTS:
        return quick
    bare = _STRING.sub(b'""', line)
    return bare.count(b",") + bare.count(b"[") + bare.count(b"{") + 1


def depth_of(value: JSON) -> int:
    """Nesting depth of containers: 0 for a scalar, 1 for `[]` or `{}` (iterative walk)."""
    deepest = 0
    stack: list[tuple[JSON, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in node if isinstance(v, dict | list))
    return deepest
