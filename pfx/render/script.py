"""prefect-setup.sh as a structure, pure: sections of commands, each a program from a closed
set and its arguments, written with every argument quoted and every note escaped; and the
check that the text reads back as exactly those commands.

Nothing from a bundle is ever spliced into the script as text: a name is an argument (one
quoted word) or a note (a comment with its control characters escaped).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from pfx.escaping import is_safe, safe_text
from pfx.render.model import RenderCheckError

SETUP_SH = "prefect-setup.sh"
SETUP_PY = "prefect-setup.py"
SETUP_JSON = "prefect-setup.json"
# Run before `prefect deploy` (the default), and the one to run after it.
SECTIONS = ("blocks", "variables", "limits", "pools")
AFTER = "deployments"
# What a command may run: Prefect's CLI (these subcommands only), and the setup client.
PREFECT = {
    ("variable", "set"),
    ("gcl", "create"),
    ("concurrency-limit", "create"),
}
PYTHON = "python3"


@dataclass(frozen=True)
class Command:
    """One command line: a program and its arguments, each one word whatever it holds."""

    argv: tuple[str, ...]

    def __post_init__(self) -> None:
        program = self.argv[:1]
        if program == ("prefect",):
            if tuple(self.argv[1:3]) not in PREFECT:
                raise RenderCheckError(f"not a command the setup script runs: {self.argv[:3]}")
        elif self.argv != (PYTHON, SETUP_PY, *self.argv[2:3]) or len(self.argv) != 3:
            raise RenderCheckError(f"not a command the setup script runs: {self.argv[:3]}")

    @property
    def line(self) -> str:
        return " ".join(shlex.quote(word) for word in self.argv)


@dataclass
class Section:
    """A shell function of the script: notes (comment lines) and commands, in order."""

    name: str
    notes: list[str] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)


def script_text(source: str, sections: list[Section]) -> str:
    """The script: a fixed frame, one function per section, and a dispatcher that runs only
    the named sections (every one before deploying when none is named)."""
    names = " ".join(SECTIONS)
    every = "|".join(s.name for s in sections)
    lines = [
        "#!/usr/bin/env bash",
        f"# Rendered by pfx from {safe_text(source)}: creates what prefect.yaml cannot express.",
        "# Run it against the target server (`prefect profile use NAME` or PREFECT_API_URL)",
        f"# before `prefect deploy --all`. Sections: ./{SETUP_SH} [{'] ['.join(SECTIONS)}]",
        f"# (every one when none is named); `./{SETUP_SH} {AFTER}` after deploying.",
        f"# Requests to the API go through {SETUP_PY} (run with {PYTHON}, which needs the",
        f"# prefect package) and read {SETUP_JSON}. Secret values are never written here:",
        "# export the PFX_SECRET__* variables named below before the blocks section runs.",
        "set -euo pipefail",
        'cd "$(dirname "$0")"',
    ]
    for section in sections:
        lines += ["", f"{section.name}() {{"]
        lines += [f"  # {safe_text(note)}" for note in section.notes]
        lines += [f"  {c.line}" for c in section.commands]
        if not section.commands:
            lines.append("  :  # nothing to create")
        lines.append("}")
    lines += [
        "",
        f'sections=("$@"); [ $# -gt 0 ] || sections=({names})',
        'for section in "${sections[@]}"; do',
        '  case "$section" in',
        f'    {every}) "$section" ;;',
        f'    *) echo "unknown section: $section (sections: {names} {AFTER})" >&2; exit 2 ;;',
        "  esac",
        "done",
    ]
    text = "\n".join(lines) + "\n"
    check_script(text, sections)
    return text


def check_script(text: str, sections: list[Section]) -> None:
    """The script reads back as exactly the sections' commands: every line of a function
    body is a note with no character a shell or terminal would act on, or a command whose
    shell words (operators split out) are its arguments; RenderCheckError otherwise."""
    lines = text.split("\n")
    for line in lines:
        if not is_safe(line):
            raise RenderCheckError("prefect-setup.sh holds a control character")
    bodies = _bodies(lines)
    if [name for name, _ in bodies] != [s.name for s in sections]:
        raise RenderCheckError("prefect-setup.sh does not hold the sections pfx wrote")
    for (name, body), section in zip(bodies, sections, strict=True):
        notes = [line.removeprefix("  # ") for line in body if line.startswith("  # ")]
        commands = [line for line in body if not line.startswith("  # ")]
        if notes != [safe_text(n) for n in section.notes]:
            raise RenderCheckError(f"prefect-setup.sh: the notes of {name}() are not pfx's")
        if not section.commands:
            commands = [] if commands == ["  :  # nothing to create"] else commands
        if len(commands) != len(section.commands):
            raise RenderCheckError(f"prefect-setup.sh: {name}() does not hold pfx's commands")
        for line, command in zip(commands, section.commands, strict=True):
            if _words(line) != list(command.argv):
                raise RenderCheckError(f"prefect-setup.sh: {name}() runs what pfx did not write")


def _bodies(lines: list[str]) -> list[tuple[str, list[str]]]:
    """(function name, body lines) of each `name() {` ... `}` at the top level."""
    out: list[tuple[str, list[str]]] = []
    current: list[str] | None = None
    for line in lines:
        if current is None and line.endswith("() {"):
            current = []
            out.append((line.removesuffix("() {"), current))
        elif current is not None and line == "}":
            current = None
        elif current is not None:
            current.append(line)
    return out


def _words(line: str) -> list[str]:
    """The words a POSIX shell splits `line` into, with `;`, `&`, `|`, `(`, `)`, `<`, `>`
    as words of their own, and `$` or a backquote outside quotes refused (expansion)."""
    lexer = shlex.shlex(line.strip(), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    words = list(lexer)
    unquoted = "".join(_outside_quotes(line))
    if "$" in unquoted or "`" in unquoted or "\\" in unquoted:
        return [*words, "<expansion>"]
    return words


def _outside_quotes(line: str) -> list[str]:
    """The characters of `line` a shell may expand: all but those in single quotes (double
    quotes do not stop `$`, a backquote or a backslash)."""
    out: list[str] = []
    state = ""
    for char in line:
        if state == "'":
            state = "" if char == "'" else state
        elif state == '"':
            state = "" if char == '"' else state
            out.append(char)
        else:
            state = char if char in "'\"" else ""
            out.append(char)
    return out
