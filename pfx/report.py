"""Outcomes of an import, pure: one per record, summed into a Report that sets the exit code.

Statuses: created, updated, unchanged, skipped (reason), blocked (by which dependency),
failed (why), not-attempted (the run stopped first); with `--prune`, destination records the
bundle does not hold are deleted, or kept (naming what still uses them, pfx.prune). A
created, updated or unchanged record may carry named `losses` (fields the destination cannot
hold); such records are counted apart as `with-losses`. The exit code is documented on
`Report.exit_code` and in README.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pfx.errors import EX_UNAVAILABLE
from pfx.model import Loss
from pfx.standby import Deferred, Held
from pfx.tested import Untested
from pfx.watched import WatchingAutomation

Status = Literal[
    "created", "updated", "unchanged", "skipped", "blocked", "failed", "not-attempted",
    "deleted", "kept",
]  # fmt: skip
STATUSES: tuple[Status, ...] = (
    "created", "updated", "unchanged", "skipped", "blocked", "failed", "not-attempted",
    "deleted", "kept",
)  # fmt: skip
GOOD: frozenset[str] = frozenset({"created", "updated", "unchanged", "deleted"})
# Statuses that say what the destination holds of a bundle record (deletions are not one).
ARRIVED: frozenset[str] = frozenset({"created", "updated", "unchanged"})

# Why a record was skipped, as a stable code for machines; `reason` says it for people.
SkipCode = Literal[
    "differs", "immutable", "unsupported", "needs-secrets", "not-permitted", "limit-reached"
]
# Skips that keep a difference by the user's policy: the import is otherwise complete.
BY_POLICY: frozenset[str] = frozenset({"differs"})

# Exit codes of import (README, `pfx import --help`). Precedence: 4 > 5 > 3 > 6 > 0.
EXIT_OK = 0
# The run stopped (the destination stopped answering): sysexits' EX_UNAVAILABLE.
EXIT_STOPPED = EX_UNAVAILABLE
EXIT_KEPT = 3
EXIT_INCOMPLETE = 4
EXIT_LOSSES = 5
EXIT_CHANGES = 6
# Which code wins when several apply (a stop above all), for whatever combines outcomes.
PRECEDENCE = (EXIT_STOPPED, EXIT_INCOMPLETE, EXIT_LOSSES, EXIT_KEPT, EXIT_CHANGES, EXIT_OK)


def worst_exit(codes: Iterable[int]) -> int:
    """The code that wins among `codes` by PRECEDENCE (EXIT_OK when there are none)."""
    return min(codes, key=PRECEDENCE.index, default=EXIT_OK)


# The column that counts records with named losses, apart from their status.
WITH_LOSSES = "with-losses"


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
    # Fields of a created, updated or unchanged record that the destination does not hold.
    losses: list[Loss] = Field(default_factory=list)
    # --prune: what still uses a kept record, as labels ("deployment etl/daily").
    held_by: list[str] = Field(default_factory=list)
    # --prune: what stops with a deleted record: a deployment's schedules, as a person reads
    # them; its last run (start time and state); a flow's runs, which Prefect deletes with it.
    schedules: list[str] = Field(default_factory=list)
    last_run: str | None = None
    flow_runs: int | None = None

    @property
    def label(self) -> str:
        return f"{self.kind} {'/'.join(self.key)}"

    @property
    def lossy(self) -> bool:
        """Whether it arrived without some of the user's data (server-set flags aside)."""
        return any(not loss.server_set for loss in self.losses)


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
    # Why the run ended before every record was settled (one line), or None.
    stopped: str | None = None
    # The user read the plan's losses and accepts them: records with losses count as complete.
    accept_losses: bool = False
    # With --standby: each state standby held back, with the bundle's value (pfx cutover).
    standby: list[Held] = Field(default_factory=list)
    # With --standby --prune: the deletions that wait for `pfx cutover`, in deletion order.
    deferred: list[Deferred] = Field(default_factory=list)
    # With --prune and --report: the file beside the report that keeps the last state of
    # every record the run deletes (or cutover will), to restore them (`pfx import` it).
    deleted_bundle: str | None = None
    # The destination's release when it is newer than the newest pfx is tested with; payloads
    # then follow its OpenAPI document as for any release.
    untested: Untested | None = None
    # The destination's enabled automations that may act on the events this import's writes
    # emit (pfx.watched): named by the plan, with a hint (README).
    watched_by: list[WatchingAutomation] = Field(default_factory=list)

    def totals(self) -> dict[str, dict[str, int]]:
        """Per kind, the number of records in each status (every status listed)."""
        table: dict[str, Counter[str]] = {}
        for o in self.outcomes:
            row = table.setdefault(o.kind, Counter())
            row[o.status] += 1
            row[WITH_LOSSES] += 1 if o.lossy else 0
        columns = (*STATUSES, WITH_LOSSES)
        return {k: {s: c.get(s, 0) for s in columns} for k, c in table.items()}

    def counts(self) -> dict[str, int]:
        """Records per status, and (apart: they also have a status) those with losses."""
        c = Counter(o.status for o in self.outcomes)
        return {s: c.get(s, 0) for s in STATUSES} | {
            WITH_LOSSES: sum(1 for o in self.outcomes if o.lossy)
        }

    @property
    def ok(self) -> bool:
        return all(o.status in GOOD for o in self.outcomes)

    @property
    def exit_code(self) -> int:
        """0 complete; 69 stopped early; 3 only differences kept by policy (or records
        --prune kept because something still uses them); 4 records failed, blocked, not
        attempted or skipped for another reason; 5 records arrived with named losses (0 under
        accept_losses); 6 (dry run) changes would be written. Precedence 4 > 5 > 3 > 6 > 0."""
        if self.stopped:
            return EXIT_STOPPED
        bad = [o for o in self.outcomes if o.status not in GOOD]
        if any(not _by_policy(o) for o in bad):
            return EXIT_INCOMPLETE
        if not self.accept_losses and any(o.lossy for o in self.outcomes):
            return EXIT_LOSSES
        if bad:
            return EXIT_KEPT
        changes = ("created", "updated", "deleted")
        if self.dry_run and any(o.status in changes for o in self.outcomes):
            return EXIT_CHANGES
        return EXIT_OK

    def needing_secrets(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.code == "needs-secrets"]


def _by_policy(outcome: Outcome) -> bool:
    """A difference the user's policy keeps: a differing record skipped, a record --prune
    keeps because something that stays uses it."""
    return outcome.status == "kept" or (outcome.status == "skipped" and outcome.code in BY_POLICY)
