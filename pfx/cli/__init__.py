"""The `pfx` command line: a thin click layer over the library."""

from __future__ import annotations

from pfx.cli.commands import cli, main

__all__ = ["cli", "main"]
