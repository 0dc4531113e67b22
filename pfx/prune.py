"""Pruning, pure: which destination records `import --prune` deletes, which it keeps because
something that stays still refers to them, and in what order it deletes the rest.

A destination record is pruned when it is in the bundle's scope (README "Prune"): its kind is
one the bundle covers (the bundle's format knew it, its source had it and could read it, pfx
can delete it), the bundle's own selection (a partial bundle) and the import's
`--include/--exclude` choose it (by their selectors, not the dependency closure), no bundle
record pairs with it (pairing is pfx.comparison's, as the plan's), and it is not the
destination's own: a system block type or a schema of one (Kind.owned), or a pool's default
queue, which goes only with its pool. A candidate that anything staying refers to (a
destination record out of scope, a bundle record as it arrives, a kept candidate) is kept,
naming what holds it: Prefect would otherwise delete or break the holder with it (a block
document takes the deployments that store in it along, a flow its deployments).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pfx.comparison import Inventory
from pfx.kinds import ORDER, kind_named
from pfx.kinds.base import Destination
from pfx.kinds.work_queue import DEFAULT_MARK
from pfx.model import Record
from pfx.plan import Plan
from pfx.records import heads_of
from pfx.report import ARRIVED, Outcome
from pfx.scope import Scope

Key = tuple[str, ...]
Ident = tuple[str, Key]
Action = Literal["delete", "keep", "leave"]
# `--prune-max`: the most deletions in all (an int), no limit ("all"), or None: the share rule.
Limit = int | Literal["all"] | None


def destination_records(inventory: Inventory) -> list[Record]:
    """The destination's items as records (data as export keeps it, refs by its own keys),
    in registry order; an item whose refs cannot be read refers to nothing."""
    records = []
    for name in sorted(inventory.items, key=lambda n: ORDER.get(n, len(ORDER))):
        kind = kind_named(name)
        for key, item in sorted(inventory.items[name].items()):
            try:
                refs = kind.refs(item, inventory.index)
            except (KeyError, TypeError, ValueError):
                refs = []
            ident = item.get("id")
            data = kind.kept(item)
            records.append(
                Record(kind=name, key=key, id=ident if isinstance(ident, str) else None,
                       data=data, refs=refs)
            )  # fmt: skip
    return records


@dataclass
class Verdict:
    """What `--prune` does with one destination record that no bundle record pairs with."""

    record: Record
    action: Action
    # keep: what still refers to it; leave: why it is not the bundle's to prune.
    held_by: list[str] = field(default_factory=list)
    why: str = ""
    # A pool's default queue: deleted by its pool's deletion, no request of its own.
    with_pool: str | None = None
    # Deletions that can run at once share a level; lower levels go first.
    level: int = 0
    # The deletions that must succeed first: those that refer to this record (or, for a
    # default queue, its pool). One that fails leaves this record in use: not deleted.
    after: list[Ident] = field(default_factory=list)

    @property
    def ident(self) -> Ident:
        return (self.record.kind, self.record.key)

    @property
    def label(self) -> str:
        return self.record.label


@dataclass
class Pruning:
    """A verdict for every unpaired destination record: deletions first, in deletion order
    (dependents before what they use), then kept and left records."""

    verdicts: list[Verdict]
    # Per kind, the destination's records that pruning could delete at all (the guard's base).
    eligible: dict[str, int] = field(default_factory=dict)

    @property
    def deletions(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.action == "delete"]

    @property
    def kept(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.action == "keep"]

    def refusal(self, limit: Limit = None) -> str | None:
        """The one line that refuses this pruning (the guard), or None.

        Without a limit: more than half of the destination's records of a kind (so all of
        one) are refused. `limit` N: more than N deletions in all (a pool's default queue
        goes with its pool and is not counted); "all": never refused.
        """
        counted = [v for v in self.deletions if v.with_pool is None]
        if limit == "all" or not counted:
            return None
        hint = "--dry-run lists them"
        if isinstance(limit, int):
            if len(counted) <= limit:
                return None
            return (
                f"refusing to prune {len(counted)} records, more than --prune-max {limit} "
                f"({hint}; --prune-max {len(counted)} or all allows them)"
            )
        per_kind: dict[str, int] = {}
        for v in counted:
            per_kind[v.record.kind] = per_kind.get(v.record.kind, 0) + 1
        over = [
            f"{n} of {self.eligible.get(k, n)} {k} records"
            for k, n in per_kind.items()
            if 2 * n > self.eligible.get(k, n)
        ]
        if not over:
            return None
        return (
            f"refusing to prune {', '.join(over)}: more than half of a kind on the destination "
            f"({hint}; --prune-max {len(counted)} allows these {len(counted)} deletions)"
        )


def prune_after(
    plan: Plan,
    outcomes: Sequence[Outcome],
    inventory: Inventory,
    scope: Scope,
    destination: Destination,
) -> Pruning:
    """`plan_prune` for an import's `plan` over the destination's `inventory`, its bundle
    records' `outcomes` so far (predicted by a dry run, or the replay's)."""
    pairs = {i: (plan.records[i].kind, key) for i, key in plan.paired.items()}
    return plan_prune(
        destination_records(inventory),
        pairs,
        plan.records,
        lambda i: outcomes[i].status in ARRIVED,
        scope,
        destination,
    )


def plan_prune(
    theirs: Sequence[Record],
    pairs: dict[int, Ident],
    ours: Sequence[Record],
    arrives: Callable[[int], bool],
    scope: Scope,
    destination: Destination,
) -> Pruning:
    """The verdicts (see module doc). `theirs`: the destination's records
    (`destination_records`); `ours`: the bundle's records being imported, and `pairs` the
    destination record each pairs with (pfx.comparison.match); `arrives(i)`: whether record i
    is (or, in a dry run, will be) on the destination as the bundle says (created, updated,
    unchanged). A record that does not arrive so still holds what its counterpart uses."""
    by_ident = {(r.kind, r.key): r for r in theirs}
    paired = set(pairs.values())
    candidates: dict[Ident, Record] = {}
    verdicts: list[Verdict] = []
    eligible: dict[str, int] = {}
    for record in theirs:
        ident = (record.kind, record.key)
        own = _own(record, by_ident, destination)
        if not own:
            eligible[record.kind] = eligible.get(record.kind, 0) + 1
        if ident in paired:
            continue
        why = own or scope.outside(record)
        if why:
            verdicts.append(Verdict(record, "leave", why=why))
        else:
            candidates[ident] = record
    holders = _holders(candidates, theirs, pairs, ours, arrives, by_ident)
    return Pruning(_decided(candidates, holders, theirs) + verdicts, eligible)


def plan_deferred(theirs: Sequence[Record], deferred: set[Ident]) -> Pruning:
    """At cutover: the deletions standby deferred (those of `deferred` the destination still
    has), kept when anything else there uses them now, ordered as `plan_prune` orders."""
    candidates = {(r.kind, r.key): r for r in theirs if (r.kind, r.key) in deferred}
    holders = _holders(candidates, theirs, {}, [], lambda _i: True, {})
    return Pruning(_decided(candidates, holders, theirs))


def _decided(
    candidates: dict[Ident, Record], holders: list[Holder], theirs: Sequence[Record]
) -> list[Verdict]:
    """The candidates kept (with what holds them) and deleted (in order, with the default
    queues of deleted pools)."""
    held = _held(candidates, holders)
    kept = [Verdict(candidates[i], "keep", held_by=sorted(held[i])) for i in sorted(held)]
    deletions = _ordered([candidates[i] for i in candidates if i not in held])
    for verdict in list(deletions):
        if verdict.record.kind == "work-pool":
            deletions += _default_queue(verdict, theirs)
    deletions.sort(key=lambda v: v.level)
    return deletions + kept


def _own(record: Record, by_ident: dict[Ident, Record], destination: Destination) -> str:
    """Why a destination record is its own and never pruned (empty: it is not): a system
    block type or a schema of one, by the plan's rule (Kind.owned); a pool's default queue."""
    kind = kind_named(record.kind)
    own = kind.owned(record.data, destination)
    if own:
        return own
    if record.kind == "block-schema":
        for ref in record.refs:
            typed = by_ident.get((ref.kind, ref.key)) if ref.path == "block_type_id" else None
            if typed is not None and kind_named(typed.kind).owned(typed.data, destination):
                return "a schema of the destination's system type"
    if _default_of(record) is not None:
        return "its pool's default queue (it goes only with its pool)"
    return ""


def _default_of(record: Record) -> Key | None:
    """The pool whose default queue `record` is, or None."""
    if record.kind != "work-queue":
        return None
    return next((r.key for r in record.refs if r.path == DEFAULT_MARK), None)


# A holder: its ident (None: a bundle record), its label, and the (kind, key) it refers to.
Holder = tuple[Ident | None, str, list[Ident]]


def _holders(
    candidates: dict[Ident, Record],
    theirs: Sequence[Record],
    pairs: dict[int, Ident],
    ours: Sequence[Record],
    arrives: Callable[[int], bool],
    by_ident: dict[Ident, Record],
) -> list[Holder]:
    """Everything that stays, with what it refers to: destination records that are neither
    candidates nor paired (a pool's default queue holds nothing: it is part of the pool),
    and the bundle's records (refs to records of the bundle itself are never candidates)."""
    paired = set(pairs.values())
    holders: list[Holder] = []
    for record in theirs:
        ident = (record.kind, record.key)
        if ident not in candidates and ident not in paired and _default_of(record) is None:
            holders.append((ident, record.label, [(r.kind, r.key) for r in record.refs]))
    heads = heads_of(ours)
    mine = {(h.kind, h.key) for h in heads}
    for i, head in enumerate(heads):
        refs = [(link.kind, link.key) for link in head.links if (link.kind, link.key) not in mine]
        counterpart = by_ident.get(pairs[i]) if i in pairs else None
        if counterpart is not None and not arrives(i):
            refs += [(r.kind, r.key) for r in counterpart.refs]
        holders.append((None, head.label, refs))
    return holders


def _held(candidates: dict[Ident, Record], holders: list[Holder]) -> dict[Ident, set[str]]:
    """For each candidate that something staying refers to, the labels of what does; a kept
    candidate holds what it refers to in turn."""
    loose: dict[Ident, Ident] = {}
    for kind, key in candidates:
        match_key = kind_named(kind).match_key
        if match_key is not None:
            loose[(kind, match_key(key))] = (kind, key)
    held: dict[Ident, set[str]] = {}
    queue = list(holders)
    while queue:
        mine, label, refs = queue.pop()
        for ref in refs:
            found = ref if ref in candidates else loose.get(ref)
            if found is None or found == mine:
                continue
            if found not in held:
                held[found] = set()
                record = candidates[found]
                queue.append((found, record.label, [(r.kind, r.key) for r in record.refs]))
            held[found].add(label)
    return held


def _ordered(doomed: list[Record]) -> list[Verdict]:
    """Deletions in levels: a record goes once everything that refers to it is gone;
    within and between levels, later registry kinds first (automations before what they
    name, blocks before their schemas and types)."""
    idents = {(r.kind, r.key) for r in doomed}
    users: dict[Ident, set[Ident]] = {i: set() for i in idents}
    for record in doomed:
        mine = (record.kind, record.key)
        for ref in record.refs:
            target = (ref.kind, ref.key)
            if target in idents and target != mine and not ref.late:
                users[target].add(mine)
    by_ident = {(r.kind, r.key): r for r in doomed}
    out: list[Verdict] = []
    gone: set[Ident] = set()
    level = 0
    while len(gone) < len(idents):
        ready = [i for i in idents - gone if users[i] <= gone]
        if not ready:  # a cycle (none is known among deletable kinds): kind order decides
            ready = list(idents - gone)
        ready.sort(key=lambda i: (-ORDER.get(i[0], 0), i))
        out += [Verdict(by_ident[i], "delete", level=level, after=sorted(users[i])) for i in ready]
        gone.update(ready)
        level += 1
    return out


def _default_queue(pool: Verdict, theirs: Sequence[Record]) -> list[Verdict]:
    """The deleted pool's default queue: deleted with it (listed, no request of its own)."""
    return [
        Verdict(r, "delete", with_pool=pool.label, level=pool.level + 1, after=[pool.ident])
        for r in theirs
        if _default_of(r) == pool.record.key
    ]


# --- outcomes ----------------------------------------------------------------------------


def prune_outcomes(pruning: Pruning, note: str = "") -> list[Outcome]:
    """Each deletion as `deleted` (`note`: a dry run's "would be deleted") and each kept
    record as `kept`, naming what holds it; records left alone are no outcome."""
    out = [deleted_outcome(v, note) for v in pruning.deletions]
    return out + [kept_outcome(v) for v in pruning.kept]


def deleted_outcome(verdict: Verdict, note: str = "") -> Outcome:
    """A deletion's outcome (`note`: how it went, if not simply), with what stops with it."""
    r = verdict.record
    why = note or "not in the bundle"
    if verdict.with_pool:
        why += f"; goes with {verdict.with_pool}"
    return Outcome(
        kind=r.kind,
        key=r.key,
        status="deleted",
        reason=why,
        destination_id=r.id,
        schedules=schedule_lines(r),
    )


def kept_outcome(verdict: Verdict) -> Outcome:
    """A candidate that something staying still uses: kept, naming what."""
    r = verdict.record
    holders = ", ".join(verdict.held_by)
    return Outcome(
        kind=r.kind,
        key=r.key,
        status="kept",
        reason=f"not in the bundle, but still used by {holders}: not deleted",
        held_by=verdict.held_by,
        destination_id=r.id,
    )


def schedule_lines(record: Record) -> list[str]:
    """A deployment's schedules as a person reads them (what stops with it), else []."""
    if record.kind != "deployment":
        return []
    schedules = record.data.get("schedules")
    paused = " (deployment paused)" if record.data.get("paused") else ""
    lines = []
    for s in schedules if isinstance(schedules, list) else []:
        inner = s.get("schedule") if isinstance(s, dict) else None
        if not isinstance(s, dict) or not isinstance(inner, dict):
            continue
        what = next(
            (f"{k} {inner[k]}" for k in ("cron", "interval", "rrule") if k in inner), "schedule"
        )
        zone = f" {inner['timezone']}" if inner.get("timezone") else ""
        state = "active" if s.get("active", True) else "inactive"
        lines.append(re.sub(r"\s+", " ", f"{what}{zone} ({state}){paused}"))
    return lines
