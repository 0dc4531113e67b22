"""The outcome rules, pure: what a record's plan action and its writes become, and what a
record that is not on the destination blocks. The run (importing.Replay) and the dry run
(`predict`) go through one Ledger, so a dry run predicts the run record by record.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pfx.graph import Graph
from pfx.model import Record, Ref
from pfx.plan import Action, Plan
from pfx.report import Outcome, Status

# Verbs that leave the record on the destination (in some form): dependents may proceed.
PRESENT = frozenset({"create", "unchanged", "update", "finish", "skip", "immutable"})
# Verbs that need writes.
WRITES = frozenset({"create", "update", "finish"})


def outcome(record: Record, status: Status, **extra: Any) -> Outcome:
    return Outcome(kind=record.kind, key=record.key, status=status, **extra)


def settled(record: Record, action: Action) -> Outcome:
    """The outcome of a record whose action needs no write."""
    dest_id = action.dest_id
    if action.verb == "unchanged":
        return outcome(record, "unchanged", destination_id=dest_id, reason=action.reason)
    if action.verb == "skip":
        return outcome(
            record,
            "skipped",
            code="differs",
            fields=action.fields,
            reason="exists on the destination with different "
            f"{', '.join(action.fields)}; kept (use --on-conflict update)",
            destination_id=dest_id,
        )
    if action.verb == "immutable":
        return outcome(
            record,
            "skipped",
            code="immutable",
            fields=action.fields,
            reason=action.reason,
            destination_id=dest_id,
        )
    if action.verb == "unsupported":
        return outcome(record, "skipped", code="unsupported", reason=action.reason)
    if action.verb == "needs-secrets":
        return outcome(
            record,
            "skipped",
            code="needs-secrets",
            missing_secrets=action.missing_secrets,
            reason="needs secret values: " + ", ".join(action.missing_secrets),
            destination_id=dest_id,
        )
    raise AssertionError(f"{action.verb} needs a write")


def written(record: Record, action: Action, dest_id: str | None, note: str = "") -> Outcome:
    """The outcome of a record whose writes all succeeded."""
    if action.verb == "create":
        return outcome(record, "created", destination_id=dest_id, reason=note)
    return outcome(
        record, "updated", fields=action.fields, destination_id=action.dest_id, reason=note
    )


def api_failure(record: Record, status: int | None, text: str) -> Outcome:
    """A per-record API answer: permissions and plan limits are skips, the rest failures."""
    if status == 403:
        return outcome(
            record,
            "skipped",
            code="not-permitted",
            reason=f"the destination does not permit it: {text}",
        )
    if status in (402, 403, 422) and "limit" in text.lower():
        return outcome(record, "skipped", code="limit-reached", reason=text)
    if status == 409:
        text = f"already exists on the destination (created meanwhile by someone else?): {text}"
    return outcome(record, "failed", reason=text)


def meanwhile_conflict(record: Record, action: Action) -> Outcome:
    """A record another run made meanwhile with other content, under --on-conflict fail (the
    run is under way: only this record fails)."""
    return outcome(
        record,
        "failed",
        fields=action.fields,
        reason="made meanwhile by another run with different "
        f"{', '.join(action.fields)}; kept (--on-conflict fail)",
        destination_id=action.dest_id,
    )


def late_failure(refs: list[Ref], known: Callable[[Ref], bool]) -> str | None:
    """Why a created record's late references cannot be set, or None when they can."""
    missing = [r for r in refs if r.id and not known(r)]
    if not missing:
        return None
    names = ", ".join(f"{r.kind} {'/'.join(r.key)}" for r in missing)
    return (
        f"created, but its references to {names} could not be set: they are not on the destination"
    )


@dataclass
class Ledger:
    """Every record's outcome so far, and which records are on the destination."""

    plan: Plan
    graph: Graph
    outcomes: dict[int, Outcome] = field(default_factory=dict)
    present: set[int] = field(default_factory=set)

    @property
    def records(self) -> Sequence[Record]:
        return self.plan.records

    def blocker(self, i: int) -> str | None:
        """The first dependency of record `i` that is not on the destination, as a label."""
        for j in sorted(self.graph.deps.get(i, ())):
            if j not in self.present:
                dep = self.outcomes.get(j)
                why = f" ({dep.status})" if dep else ""
                return f"{self.records[j].label}{why}"
        return self.plan.unresolved.get(i)

    def settle_now(self, i: int) -> bool:
        """Settle a record that needs no write (or is blocked); True if it is settled."""
        record, action = self.records[i], self.plan.actions[i]
        if action.verb in WRITES:
            blocker = self.blocker(i)
            if blocker is None:
                return False
            self.outcomes[i] = outcome(
                record,
                "blocked",
                blocked_by=blocker,
                reason=f"depends on {blocker}, which is not on the destination",
            )
            return True
        self.settle(i, settled(record, action))
        return True

    def settle(self, i: int, result: Outcome) -> None:
        """Record `i`'s outcome; whether dependents may proceed follows from it."""
        action = self.plan.actions[i]
        if result.status in ("created", "updated", "unchanged"):
            # What the plan named: losses it arrives with, a caveat on using it there.
            reason = "; ".join(r for r in (result.reason, action.caveat) if r)
            result = result.model_copy(update={"losses": action.losses, "reason": reason})
        self.outcomes[i] = result
        exists = action.verb in PRESENT and action.verb != "create"
        if result.status in ("created", "updated", "unchanged") or exists:
            # An update that failed leaves the old object: dependents can still use it.
            self.present.add(i)

    def close(self, why: str) -> list[Outcome]:
        """Every record's outcome, `not-attempted` (with `why`) for those without one."""
        return [
            self.outcomes.get(i) or outcome(r, "not-attempted", reason=why)
            for i, r in enumerate(self.records)
        ]


def predict(plan: Plan, graph: Graph) -> list[Outcome]:
    """The outcomes the run would have if every write succeeded: the dry run."""
    ledger = Ledger(plan, graph)
    for i in graph.order():
        if not ledger.settle_now(i):
            note = "dry run: would be " + (
                "created" if plan.actions[i].verb == "create" else "updated"
            )
            ledger.settle(i, written(plan.records[i], plan.actions[i], None, note))
    position = {(r.kind, r.key): i for i, r in enumerate(plan.records)}

    def known(ref: Ref) -> bool:
        j = position.get((ref.kind, ref.key))
        return (j is not None and j in ledger.present) or (ref.id or "") in plan.ids

    for i, refs in sorted(graph.late.items()):
        result = ledger.outcomes[i]
        if result.status not in ("created", "updated"):
            continue
        why = late_failure(refs, known)
        if why:
            ledger.outcomes[i] = result.model_copy(update={"status": "failed", "reason": why})
    return ledger.close("dry run")
