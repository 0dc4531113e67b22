"""The newest Prefect release pfx is tested with (the newest of `make compat`'s matrix,
fixtures/releases.py), and how a server of a newer release is named: pfx goes on with it."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

# The one place this is said; `make compat` fails while its matrix lacks it or the package
# index offers a newer minor release.
NEWEST_TESTED = "3.9.1"

_MINOR = re.compile(r"^(\d+)\.(\d+)")


class Untested(BaseModel):
    """A server whose Prefect release is newer than the newest pfx is tested with."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    release: str
    newest_tested: str

    @property
    def line(self) -> str:
        return (
            f"Prefect {self.release} is newer than the newest release pfx is tested with "
            f"({self.newest_tested})"
        )


def minor_release(version: str) -> tuple[int, int] | None:
    """(major, minor) of a release string ("3.10.0rc1" -> (3, 10)); None if it has none."""
    m = _MINOR.match(version.strip())
    return (int(m[1]), int(m[2])) if m else None


def untested(server_version: str | None) -> Untested | None:
    """The server release when its minor (or major) release is newer than NEWEST_TESTED's; a
    newer patch release of a tested minor one is tested (`make compat` says the same)."""
    found = minor_release(server_version) if server_version else None
    newest = minor_release(NEWEST_TESTED)
    if found is None or newest is None or found <= newest:
        return None
    return Untested(release=str(server_version), newest_tested=NEWEST_TESTED)
