"""What a run shows on stderr while it works (a pfx.watching.Watcher): on a terminal a rich
progress display (the phase, each kind, done/total, rate and time left); elsewhere (a CI log)
one timestamped line per phase and a status line every few seconds, so a long run never looks
hung; with -q nothing. Notices (where it connects, each retry) appear as they happen, and with
-v/--verbose each request (method, path, status, milliseconds; never headers or bodies).
Nothing here ever writes to stdout, which may carry a bundle or a report.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from pfx.errors import UsageError
from pfx.escaping import safe_text
from pfx.watching import Conduct, Watcher

# Seconds between status lines when stderr is not a terminal; the environment variable sets
# another (a CI service that kills jobs silent for less, a log that wants fewer lines).
PLAIN_EVERY = 5.0
PLAIN_EVERY_ENV = "PFX_PROGRESS_SECONDS"


@contextlib.contextmanager
def watching(*, quiet: bool, verbose: bool, stream: TextIO | None = None) -> Iterator[Watcher]:
    """The watcher of one command's run (see module doc), stopped (a terminal's display
    erased) when the block ends, before the command prints its result."""
    stream = stream or sys.stderr
    if quiet and not verbose:
        yield Watcher()
        return
    terminal = not quiet and _is_terminal(stream)
    shown: Terminal | Plain = (
        Terminal(stream, verbose=verbose)
        if terminal
        else Plain(stream, progress=not quiet, verbose=verbose, every=plain_every())
    )
    shown.start()
    try:
        yield shown
    finally:
        shown.stop()


@contextlib.contextmanager
def conducting(*, quiet: bool, verbose: bool, max_rate: int | None) -> Iterator[Conduct]:
    """The Conduct of one command's run: its watcher (`watching`) and --max-rate."""
    with watching(quiet=quiet, verbose=verbose) as watcher:
        yield Conduct(watcher, max_rate)


def plain_every(text: str | None = None) -> float:
    """Seconds between plain status lines: PFX_PROGRESS_SECONDS, else PLAIN_EVERY."""
    text = os.environ.get(PLAIN_EVERY_ENV) if text is None else text
    if text is None or not text.strip():
        return PLAIN_EVERY
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise UsageError(f"{PLAIN_EVERY_ENV}={text!r}: expected a number of seconds above 0")
    return seconds


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def request_line(method: str, path: str, status: int | None, ms: float) -> str:
    """One request as -v logs it."""
    answer = "no answer" if status is None else str(status)
    return f"{method} {path} -> {answer} ({ms:.0f} ms)"


class Terminal(Watcher):
    """A rich progress display on a terminal: a row per kind while reading, one row while
    writing, erased when the run ends (the command then prints its result)."""

    def __init__(self, stream: TextIO, *, verbose: bool) -> None:
        self.verbose = verbose
        self.console = Console(file=stream, highlight=False)
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            CountColumn(),
            RateColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
            # stdout may carry a bundle or a report: never redirected, never written.
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self.phase_name = ""
        self.rows: dict[str, TaskID] = {}

    def start(self) -> None:
        self.progress.start()

    def stop(self) -> None:
        self.progress.stop()

    def phase(self, name: str) -> None:
        for row in self.rows.values():
            self.progress.remove_task(row)
        self.rows = {}
        self.phase_name = name
        self.rows[name] = self.progress.add_task(name, total=None)

    def listed(self, kind: str, done: int, total: int | None) -> None:
        self._row(kind, f"{self.phase_name}: {kind}", done, total)

    def settled(self, kind: str, done: int, total: int) -> None:
        self._row(self.phase_name, f"{self.phase_name}: {kind}", done, total)

    def _row(self, name: str, description: str, done: int, total: int | None) -> None:
        row = self.rows.get(name)
        if row is None:
            row = self.rows[name] = self.progress.add_task(description, total=total)
        self.progress.update(row, completed=done, total=total, description=safe_text(description))

    def notice(self, line: str) -> None:
        self.console.print(f"pfx: {safe_text(line)}", markup=False)

    def request(self, method: str, path: str, status: int | None, ms: float) -> None:
        if self.verbose:
            self.console.print(
                f"pfx: {safe_text(request_line(method, path, status, ms))}", markup=False
            )


class CountColumn(ProgressColumn):
    """done/total, done alone while the total is not known, nothing before anything is."""

    def render(self, task: Task) -> Text:
        done = int(task.completed)
        if task.total is not None:
            return Text(f"{done}/{int(task.total)}")
        return Text(str(done) if done else "")


class RateColumn(ProgressColumn):
    """Items a second, as rich estimates it over the last half minute."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.0f}/s" if speed else "")


class Plain(Watcher):
    """Timestamped lines for a log (see module doc): a line when a phase begins and for each
    notice, and a status line every PLAIN_EVERY seconds from a background thread."""

    def __init__(
        self, stream: TextIO, *, progress: bool, verbose: bool, every: float = PLAIN_EVERY
    ) -> None:
        self.stream = stream
        self.progress = progress
        self.verbose = verbose
        self.every = every
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None
        self.phase_name = ""
        self.phase_started = time.monotonic()
        self.counts: dict[str, tuple[int, int | None]] = {}
        self.writing: tuple[str, int, int] | None = None

    def start(self) -> None:
        if self.progress:
            self.thread = threading.Thread(target=self._tick, name="pfx-progress", daemon=True)
            self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        if self.thread is not None:
            self.thread.join(timeout=1.0)

    def phase(self, name: str) -> None:
        with self.lock:
            self.phase_name = name
            self.phase_started = time.monotonic()
            self.counts = {}
            self.writing = None
            # "connecting" says itself: its notice names the URL and profile.
            if self.progress and name != "connecting":
                self._line(name)

    def listed(self, kind: str, done: int, total: int | None) -> None:
        with self.lock:
            self.counts[kind] = (done, total)

    def settled(self, kind: str, done: int, total: int) -> None:
        with self.lock:
            self.writing = (kind, done, total)

    def notice(self, line: str) -> None:
        if self.progress:
            with self.lock:
                self._line(line)

    def request(self, method: str, path: str, status: int | None, ms: float) -> None:
        if self.verbose:
            with self.lock:
                self._line(request_line(method, path, status, ms))

    def status(self) -> str:
        """The current phase and how far it has got, in one line."""
        if self.writing is not None:
            kind, done, total = self.writing
            line = f"{self.phase_name}: {done}/{total} records"
            seconds = time.monotonic() - self.phase_started
            if done and seconds > 0:
                rate = done / seconds
                line += f", {rate:.0f}/s, about {(total - done) / rate:.0f} s left"
            return f"{line} (last: {kind})"
        going = [
            f"{kind} {done}/{'?' if total is None else total}"
            for kind, (done, total) in self.counts.items()
            if total is None or done < total
        ]
        finished = len(self.counts) - len(going)
        parts = going + ([f"{finished} kinds read"] if finished else [])
        return f"{self.phase_name}: " + (", ".join(parts) if parts else "waiting for the server")

    def _tick(self) -> None:
        while not self.stopped.wait(self.every):
            with self.lock:
                if self.phase_name:
                    self._line(self.status())

    def _line(self, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        self.stream.write(f"{stamp} pfx: {safe_text(text)}\n")
        self.stream.flush()
