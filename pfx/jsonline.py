"""Canonical JSON lines: the one writer and reader of bundle JSON, with one nesting limit.

The writer (orjson) refuses values nested deeper than MAX_DEPTH; the reader refuses the same,
so whatever export writes, verify and import read, and whatever they read, pfx's own recursive
walks over record data (id rewriting, comparison) handle without hitting Python's limit.
"""

from __future__ import annotations

import orjson

from pfx.jsontypes import JSON

# orjson's own serialization limit: a container nested 255 deep is refused. Prefect's server
# answers with the same encoder, so nothing it can list is deeper than this either.
MAX_DEPTH = 254


class TooDeep(ValueError):
    """A value is nested deeper than MAX_DEPTH."""


def dump_line(value: JSON) -> bytes:
    """`value` as one canonical JSON line (sorted keys, no spaces, "\\n"); TooDeep when nested
    deeper than MAX_DEPTH."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS) + b"\n"
    except orjson.JSONEncodeError as e:
        if "recursion" in str(e).lower():
            raise TooDeep(f"nested deeper than {MAX_DEPTH} levels") from None
        raise


def load_line(line: bytes) -> JSON:
    """One JSON line; ValueError (with a short reason) when it is not JSON or too deep."""
    try:
        value: JSON = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        raise ValueError(f"not JSON ({str(e).split(':', 1)[0]})") from None
    # Every bracket counts at most one level, also those inside strings: most lines are
    # shallow by this bound and need no walk.
    if line.count(b"{") + line.count(b"[") > MAX_DEPTH and depth_of(value) > MAX_DEPTH:
        raise TooDeep(f"nested deeper than {MAX_DEPTH} levels")
    return value


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
