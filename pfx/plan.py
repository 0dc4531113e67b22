"""The import plan, pure: bundle records x destination inventory x conflict policy -> actions.

A record whose natural key exists on the destination is compared in portable form (ids as
natural-key tokens, server fields dropped): equal is `unchanged`, else it `differs` and the
policy decides (skip keeps the destination's, update overwrites, fail refuses everything).
Kinds without unique names (automations) are paired by content first, then by name. How
records and destination items are paired and compared is pfx.comparison's, shared with
`diff` and replay's read-backs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from pfx.comparison import (
    Inventory,
    bundle_index,
    compared,
    differing,
    field_changes,
    match,
)
from pfx.graph import Graph
from pfx.jsontypes import JSONObject
from pfx.kinds import kind_named
from pfx.kinds.base import Destination, Kind
from pfx.losses import held, record_losses
from pfx.model import Loss, Record
from pfx.openapi import Accepts
from pfx.sameness import Change

Policy = Literal["skip", "update", "fail"]
Verb = Literal[
    "create",
    "unchanged",
    "update",
    "finish",
    "skip",
    "immutable",
    "conflict",
    "unsupported",
    "needs-secrets",
]


@dataclass
class Action:
    """What import will do with one record, and why."""

    verb: Verb
    fields: list[str] = field(default_factory=list)
    reason: str = ""
    dest: JSONObject | None = None
    missing_secrets: list[str] = field(default_factory=list)
    # Fields the destination cannot hold (pfx.losses), known before any write.
    losses: list[Loss] = field(default_factory=list)
    # A warning for a record the destination holds but cannot use (Kind.caveat).
    caveat: str = ""
    # The values behind `fields`, destination -> bundle: what an update would write.
    changes: list[Change] = field(default_factory=list)

    @property
    def dest_id(self) -> str | None:
        value = self.dest.get("id") if self.dest else None
        return value if isinstance(value, str) else None


@dataclass
class Plan:
    """One action per record (same order), and the id map of records that already exist."""

    records: Sequence[Record]
    actions: list[Action]
    ids: dict[str, str]
    policy: Policy
    # Ordinal -> a dependency that is neither in the bundle nor on the destination.
    unresolved: dict[int, str] = field(default_factory=dict)
    # What the destination accepts: replay fits every call to it (pfx.losses.fitted).
    accepts: Accepts | None = None
    # What the plan knew of the destination and of missing secrets, to plan a record again
    # (`replan`) when another run made it meanwhile.
    destination: Destination = field(default_factory=Destination)
    missing_secrets: dict[int, list[str]] = field(default_factory=dict)
    # Ordinal -> the natural key of the destination item the record pairs with
    # (pfx.comparison.match): what `--prune` leaves alone.
    paired: dict[int, tuple[str, ...]] = field(default_factory=dict)

    def conflicts(self) -> list[tuple[Record, Action]]:
        return [
            (r, a) for r, a in zip(self.records, self.actions, strict=True) if a.verb == "conflict"
        ]

    def table(self) -> dict[str, dict[str, int]]:
        table: dict[str, dict[str, int]] = {}
        for record, action in zip(self.records, self.actions, strict=True):
            row = table.setdefault(record.kind, {})
            row[action.verb] = row.get(action.verb, 0) + 1
        return table


def plan_import(
    records: Sequence[Record],
    graph: Graph,
    inventory: Inventory,
    *,
    policy: Policy = "skip",
    destination: Destination | None = None,
    missing_secrets: dict[int, list[str]] | None = None,
) -> Plan:
    """Decide an action for every record (see module doc); writes nothing."""
    destination = destination or Destination()
    missing_secrets = missing_secrets or {}
    ours_tokens = bundle_index(records).tokens()
    theirs_tokens = inventory.index.tokens()

    def ours(i: int) -> JSONObject:
        return compared(records[i], destination, ours_tokens)

    matches = match(records, inventory, ours, theirs_tokens)
    actions: list[Action] = []
    ids: dict[str, str] = {}
    for i, record in enumerate(records):
        kind = kind_named(record.kind)
        lacking = lacks(kind, destination)
        if lacking:
            actions.append(Action("unsupported", reason=lacking))
            continue
        key = matches.get(i)
        dest = None if key is None else inventory.get(record.kind, key)
        if dest is None:
            actions.append(_absent(i, record, kind, destination, missing_secrets))
            continue
        if record.id and isinstance(dest.get("id"), str):
            ids[record.id] = str(dest["id"])
        mine = compared(record, destination, ours_tokens)
        theirs = inventory.shape(kind, dest, theirs_tokens)
        fit = _Fit(policy, destination, missing_secrets.get(i))
        actions.append(_existing(i, record, dest, mine, theirs, fit, graph, actions))
    # Refs to records outside the bundle resolve through the destination's inventory.
    unresolved: dict[int, str] = {}
    for i, refs in graph.outside.items():
        for ref in refs:
            found = inventory.get(ref.kind, ref.key)
            if found is None:
                unresolved.setdefault(i, f"{ref.kind} {'/'.join(ref.key)}")
            elif ref.id and isinstance(found.get("id"), str):
                ids.setdefault(ref.id, str(found["id"]))
    _name_losses(records, actions, destination)
    return Plan(
        records,
        actions,
        ids,
        policy,
        unresolved,
        destination.accepts,
        destination,
        missing_secrets,
        matches,
    )


def written_by(plan: Plan) -> list[tuple[str, str, str | None]]:
    """Each record the plan writes: (kind, label, its destination id; None for a create)."""
    return [
        (r.kind, r.label, a.dest_id if a.verb != "create" else None)
        for r, a in zip(plan.records, plan.actions, strict=True)
        if a.verb in ("create", "update", "finish")
    ]


def replan(
    plan: Plan, graph: Graph, i: int, dest: JSONObject, mine: JSONObject, theirs: JSONObject
) -> Action:
    """Plan record `i` again, now that the destination holds `dest` (another run created it
    after this plan was made: its create was refused as a duplicate), exactly as a record the
    destination already held is planned: equal is `unchanged`, else the policy decides.
    `mine` and `theirs` are both sides' portable shapes; the plan's action is replaced."""
    record = plan.records[i]
    fit = _Fit(plan.policy, plan.destination, plan.missing_secrets.get(i))
    action = _existing(i, record, dest, mine, theirs, fit, graph, plan.actions)
    _name_losses([record], [action], plan.destination)
    plan.actions[i] = action
    return action


@dataclass(frozen=True)
class _Fit:
    """What decides a record's action besides its content: the conflict policy, the
    destination, and its secret values that are missing."""

    policy: Policy
    destination: Destination
    missing: list[str] | None


def _existing(
    i: int,
    record: Record,
    dest: JSONObject,
    mine: JSONObject,
    theirs: JSONObject,
    fit: _Fit,
    graph: Graph,
    actions: list[Action],
) -> Action:
    """The action of a record the destination holds as `dest` (see module doc)."""
    kind = kind_named(record.kind)
    own = kind.owned(dest, fit.destination)
    if own:
        return Action("unchanged", reason=own, dest=dest)
    fields = differing(kind, mine, theirs)
    if not fields:
        return Action("unchanged", dest=dest)
    if _only_late_missing(kind, mine, theirs) and _made_here(i, graph, actions):
        # An interrupted import created it but did not finish it: finish, whatever the
        # policy (nobody else made it this way).
        action = Action("finish", fields, "completes an interrupted create", dest)
    else:
        action = _differs(kind, fields, dest, fit.policy, fit.missing)
    secret = set(record.secrets.fields) if record.secrets else set()
    action.changes = field_changes(kind, fields, mine, theirs, secret, ours_is_new=True)
    return action


def lacks(kind: Kind, destination: Destination) -> str | None:
    """Why the destination cannot hold any record of `kind` (its release does not have the
    kind: Kind.endpoint is not in its OpenAPI), or None. Unknown OpenAPI: assumed present."""
    accepts = destination.accepts
    if kind.endpoint is None or accepts is None or accepts.offers(kind.endpoint):
        return None
    return (
        f"{accepts.server} does not have {kind.name} records "
        f"(its API offers no {kind.endpoint}); not imported"
    )


def _name_losses(
    records: Sequence[Record], actions: list[Action], destination: Destination
) -> None:
    """Each record the destination will hold: what of it the destination cannot hold, and
    whether it can use it (Kind.caveat)."""
    for record, action in zip(records, actions, strict=True):
        if action.verb not in ("create", "update", "finish", "unchanged"):
            continue
        kind = kind_named(record.kind)
        if action.verb == "unchanged" and action.dest is not None:
            # What the destination lacks of it: the same losses a create would have.
            lost = record_losses(record, "create", None, destination.accepts, destination)
            action.losses = held(lost, record.data, kind.kept(action.dest))
        else:
            action.losses = record_losses(
                record, action.verb, action.dest, destination.accepts, destination
            )
        action.caveat = kind.caveat(record, destination) or ""


def _differs(
    kind: Kind, fields: list[str], dest: JSONObject, policy: Policy, missing: list[str] | None
) -> Action:
    """What the policy does with a record that exists on the destination with other content."""
    if policy == "fail":
        return Action("conflict", fields, "exists with different content", dest)
    if policy == "skip":
        return Action("skip", fields, "exists with different content (kept)", dest)
    fixed = sorted(set(fields) & kind.immutable)
    if fixed:
        reason = (
            f"exists with different {', '.join(fixed)}, which the server fixes when "
            f"the {kind.name} is created; kept (delete it on the destination to replace it)"
        )
        return Action("immutable", fields, reason, dest)
    if missing:
        return Action("needs-secrets", fields, dest=dest, missing_secrets=missing)
    return Action("update", fields, dest=dest)


def _made_here(i: int, graph: Graph, actions: list[Action]) -> bool:
    """Whether record `i` can have been left half-made by an earlier import: it has late refs
    (set after creation), or everything it depends on is as the bundle says (a pool's default
    queue in its initial state is pfx's to configure only when the pool is the bundle's)."""
    if graph.late.get(i):
        return True
    done = ("unchanged", "create", "finish")
    return all(j >= len(actions) or actions[j].verb in done for j in graph.deps.get(i, ()))


def _absent(
    i: int, record: Record, kind: Kind, destination: Destination, missing: dict[int, list[str]]
) -> Action:
    reason = kind.unsupported(record, destination)
    if reason:
        return Action("unsupported", reason=reason)
    if missing.get(i):
        return Action(
            "needs-secrets",
            reason="secret values were withheld at export",
            missing_secrets=missing[i],
        )
    return Action("create")


def _only_late_missing(kind: Kind, ours: JSONObject, theirs: JSONObject) -> bool:
    """An interrupted import created this record as `create` first leaves it (late
    references not yet set; a pool's default queue not yet configured)."""
    if kind.early is None:
        return False
    early = kind.early(ours)
    return not differing(kind, early, theirs)
