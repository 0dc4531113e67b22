"""Text from a bundle or a server made safe to show, pure: control characters, line breaks
and bidirectional overrides escaped, so a name can neither start a new line (of a comment, a
script, a terminal) nor repaint one.
"""

from __future__ import annotations

import re

# C0 and C1 controls and DEL (ESC starts terminal sequences; \x85 is a YAML line break),
# Unicode line and paragraph separators, bidirectional marks and overrides (text that reads
# in another order than it runs), the byte-order mark, and lone surrogates (unprintable).
UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def safe_text(text: str) -> str:
    """`text` with every unsafe character written as a Python-style escape (`\\n`, `\\x1b`,
    `\\u2028`); other text, Unicode included, unchanged."""
    if not UNSAFE.search(text):
        return text
    return UNSAFE.sub(_escape, text)


def is_safe(text: str) -> bool:
    """Whether `text` has no character `safe_text` would escape."""
    return UNSAFE.search(text) is None


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
