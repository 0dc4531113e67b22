"""Where a passphrase comes from: a file, PFX_PASSPHRASE, or a prompt on a terminal.

A passphrase file is UTF-8 text (a trailing newline is not part of it) of at most 64 KiB;
anything else is refused in one line that shows none of its bytes.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pfx.errors import SecretsError, UsageError

MAX_BYTES = 64 * 1024


def read_passphrase(path: Path | None, *, confirm: bool = False) -> str:
    """The passphrase, from `path`, else $PFX_PASSPHRASE, else a prompt (terminals only)."""
    given = given_passphrase(path)
    if given is not None:
        return given
    if not sys.stdin.isatty():
        raise SecretsError("a passphrase is needed: use --passphrase-file or set PFX_PASSPHRASE")
    import click

    return str(click.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm))


def given_passphrase(path: Path | None) -> str | None:
    """The passphrase from `path`, else $PFX_PASSPHRASE, else None (never a prompt)."""
    if path is not None:
        return _from_file(Path(path))
    return os.environ.get("PFX_PASSPHRASE") or None


class Passphrase:
    """A passphrase read when first needed (prompting on a terminal only then), or asked
    for without a prompt (`given`): what import hands to the library."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._text: str | None = None

    def __call__(self) -> str:
        if self._text is None:
            self._text = read_passphrase(self.path)
        return self._text

    def given(self) -> str | None:
        if self._text is None:
            self._text = given_passphrase(self.path)
        return self._text


def _from_file(path: Path) -> str:
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError as e:
        raise UsageError(f"cannot read passphrase file {path}: {e.strerror or e}") from None
    if len(raw) > MAX_BYTES:
        raise SecretsError(f"passphrase file {path} is longer than {MAX_BYTES // 1024} KiB")
    try:
        text = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        # The error names the offending byte: never shown, it is part of a secret.
        raise SecretsError(f"passphrase file {path} is not UTF-8 text") from None
    if not text:
        raise SecretsError(f"passphrase file {path} is empty")
    return text
