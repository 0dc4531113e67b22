"""The `pfx` command line: a thin click layer over the library.

group.py holds the group and its shared options; commands.py, importcommand.py, workflows.py
and backups.py
register their commands onto it when imported here.
"""

from __future__ import annotations

from pfx.cli import backups, commands, importcommand, workflows
from pfx.cli.group import cli

__all__ = ["backups", "cli", "commands", "importcommand", "main", "workflows"]


def main() -> None:
    cli(prog_name="pfx")
