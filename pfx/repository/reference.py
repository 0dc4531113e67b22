"""Snapshot references, pure: `REPO@latest`, `REPO@<id prefix>`, `REPO@<ISO time>`.

A reference names one snapshot of a repository wherever a bundle path is accepted. What a
text means is decided without I/O but for one fact the caller supplies: whether it exists
as a local file (then it is a path, even with `@` in it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pfx.errors import UsageError
from pfx.repository.model import SnapshotEntry, format_time, parse_time

ID_PREFIX = re.compile(r"^[0-9a-f]{4,64}$")
GRAMMAR = "@latest, @<snapshot id prefix> or @<ISO 8601 time> such as @2026-12-01T09:00"


@dataclass(frozen=True)
class Reference:
    """One snapshot of the repository at `repo`, chosen by `how`."""

    repo: str
    how: Literal["latest", "id", "time"]
    prefix: str = ""
    at: datetime | None = None

    @property
    def text(self) -> str:
        if self.how == "latest":
            return f"{self.repo}@latest"
        if self.how == "id":
            return f"{self.repo}@{self.prefix}"
        assert self.at is not None
        return f"{self.repo}@{format_time(self.at)}"


def parse_reference(text: str, *, is_file: bool, is_dir: bool = False) -> Reference | None:
    """The reference `text` names, or None when it is a path to a bundle.

    `is_file`: `text` exists as a local file (a path, whatever it holds). A text whose part
    before the last `@` is a URL (`s3://...`, `file://...`) or an existing local directory
    is a reference, and a bad part after it is an error naming the grammar; anything else
    without a valid selector is a path (and fails as one when missing).
    """
    if is_file or "@" not in text:
        return None
    repo, _, selector = text.rpartition("@")
    looks_like_repo = "://" in repo or is_dir
    if not repo:
        return None
    try:
        return _reference(repo, selector)
    except ValueError:
        if looks_like_repo:
            raise UsageError(
                f"bad snapshot reference {text!r}: after the repository comes {GRAMMAR}"
            ) from None
        return None


def _reference(repo: str, selector: str) -> Reference:
    if selector == "latest":
        return Reference(repo, "latest")
    if ID_PREFIX.match(selector):
        return Reference(repo, "id", prefix=selector)
    if "-" in selector:
        # Extended ISO 8601 only: a basic-format time (20261201) would read as an id prefix.
        return Reference(repo, "time", at=parse_time(selector))
    raise ValueError(selector)


def choose(entries: Sequence[SnapshotEntry], ref: Reference) -> SnapshotEntry:
    """The snapshot `ref` names among `entries`; UsageError saying why there is none."""
    if not entries:
        raise UsageError(f"{ref.text}: the repository holds no snapshot")
    ordered = sorted(entries, key=lambda e: (e.at, e.id))
    if ref.how == "latest":
        return ordered[-1]
    if ref.how == "id":
        hits = {e.id: e for e in ordered if e.id.startswith(ref.prefix)}
        if not hits:
            raise UsageError(f"{ref.text}: no snapshot id starts with {ref.prefix!r}")
        if len(hits) > 1:
            ids = ", ".join(e.short for e in list(hits.values())[:5])
            raise UsageError(f"{ref.text}: ambiguous, {len(hits)} snapshots match ({ids})")
        return next(iter(hits.values()))
    assert ref.at is not None
    before = [e for e in ordered if e.at <= ref.at]
    if not before:
        raise UsageError(
            f"{ref.text}: no snapshot at or before {format_time(ref.at)} "
            f"(the oldest is {ordered[0].time})"
        )
    return before[-1]
