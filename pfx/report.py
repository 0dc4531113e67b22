"""Outcomes of an import, pure: one per record, summed into a Report that sets the exit code.

Statuses: created, updated, unchanged, skipped (reason), blocked (by which dependency),
failed (why). Exit 0 only when every record is created, updated or unchanged.
"""

from __future__ import annotations

from collections import Counter
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["created", "updated", "unchanged", "skipped", "blocked", "failed"]
STATUSES: tuple[Status, ...] = ("created", "updated", "unchanged", "skipped", "blocked", "failed")
GOOD: frozenset[str] = frozenset({"created", "updated", "unchanged"})

# Why a record was skipped, as a stable code for machines; `reason` says it for people.
SkipCode = Literal[
    "differs", "unsupported", "needs-secrets", "not-permitted", "limit-reached", "dry-run"
]


class Outcome(BaseModel):
    """What happened to one record of the bundle."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    key: tuple[str, ...]
    status: Status
    reason: str = ""
    code: SkipCode | None = None
    # Top-level fields that differ from the destination (names only, never values).
    fields: list[str] = Field(default_factory=list)
    # The dependency that blocked this record, as "kind key".
    blocked_by: str | None = None
    # Secret fields a needs-secrets record is missing.
    missing_secrets: list[str] = Field(default_factory=list)
    destination_id: str | None = None

    @property
    def label(self) -> str:
        return f"{self.kind} {'/'.join(self.key)}"


class Report(BaseModel):
    """Every record's outcome; the totals equal the bundle's counts."""

    model_config = ConfigDict(extra="forbid")

    bundle: str
    destination: str
    dry_run: bool = False
    on_conflict: str = "skip"
    outcomes: list[Outcome]
    requests: int = 0
    seconds: float = 0.0

    def totals(self) -> dict[str, dict[str, int]]:
        """Per kind, the number of records in each status (every status listed)."""
        table: dict[str, Counter[str]] = {}
        for o in self.outcomes:
            table.setdefault(o.kind, Counter())[o.status] += 1
        return {k: {s: c.get(s, 0) for s in STATUSES} for k, c in table.items()}

    def counts(self) -> dict[str, int]:
        c = Counter(o.status for o in self.outcomes)
        return {s: c.get(s, 0) for s in STATUSES}

    @property
    def ok(self) -> bool:
        return all(o.status in GOOD for o in self.outcomes)

    @property
    def exit_code(self) -> int:
        """0: all created, updated or unchanged; 1: something skipped, blocked or failed."""
        return 0 if self.ok else 1

    def needing_secrets(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.code == "needs-secrets"]
