"""What a run tells whoever watches it, pure: the phase it is in (connecting, reading,
planning, writing), how far each kind has got, notices as they happen (where it connects, each
retry), and each request (method, path, status, milliseconds; never headers or bodies).

`Watcher` hears nothing (a quiet run, and the library's default); the CLI's display
(pfx.cli.progress) draws what it hears. `Conduct` carries a watcher and the cap on requests a
minute (--max-rate) from a command to the one seam that talks to a server (pfx.server.api).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Conduct", "Watcher"]


class Watcher:
    """Hears what a run does (see module doc); this one ignores all of it."""

    def phase(self, name: str) -> None:
        """A phase begins: `connecting`, `reading source`, `reading destination`, `reading
        server`, `planning`, `writing`, `checking`, `writing bundle`."""

    def listed(self, kind: str, done: int, total: int | None) -> None:
        """Items of `kind` read so far in this phase, of `total` (None: not known yet)."""

    def settled(self, kind: str, done: int, total: int) -> None:
        """Records settled so far (every kind), of `total`; `kind`: the last one's."""

    def notice(self, line: str) -> None:
        """Something the user should see as it happens (a retry, where it connects)."""

    def request(self, method: str, path: str, status: int | None, ms: float) -> None:
        """One request answered with `status` (None: no answer) after `ms` milliseconds."""


@dataclass(frozen=True)
class Conduct:
    """How a run talks to a server beyond what its profile says: who watches it, and the most
    requests it sends a minute (None: as fast as the server answers)."""

    watcher: Watcher = field(default_factory=Watcher)
    max_rate: int | None = None
