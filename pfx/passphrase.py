"""Where a passphrase comes from: a file, PFX_PASSPHRASE, or a prompt on a terminal."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from pfx.errors import SecretsError, UsageError


def read_passphrase(path: Path | None, *, confirm: bool = False) -> str:
    """The passphrase, from `path`, else $PFX_PASSPHRASE, else a prompt (terminals only)."""
    if path is not None:
        try:
            text = Path(path).read_text().rstrip("\r\n")
        except OSError as e:
            raise UsageError(f"cannot read passphrase file {path}: {e.strerror}") from None
        if not text:
            raise SecretsError(f"passphrase file {path} is empty")
        return text
    env = os.environ.get("PFX_PASSPHRASE")
    if env:
        return env
    if not sys.stdin.isatty():
        raise SecretsError("a passphrase is needed: use --passphrase-file or set PFX_PASSPHRASE")
    import click

    return str(click.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm))


def given_passphrase(path: Path | None) -> Callable[[], str] | None:
    """A source of the passphrase the user gave (a file, or PFX_PASSPHRASE), or None: for
    commands that open encrypted secrets only when asked to (`diff`), never by a prompt."""
    if path is None and not os.environ.get("PFX_PASSPHRASE"):
        return None
    return lambda: read_passphrase(path)
