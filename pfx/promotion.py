"""What import does to a bundle's records before planning, pure: select (with dependencies),
map to the destination's environment, hold back on standby.

Selection comes first and works on the bundle's own names; secrets are gathered for the
selected records; the map and standby then change records in place (same order and count,
so secret values stay attached by ordinal).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pfx.bundle import Bundle
from pfx.errors import UsageError
from pfx.mapping import EnvMap, Mapped, apply_mapping
from pfx.model import Record
from pfx.report import ARRIVED, Outcome
from pfx.select import Selection, Selector, parse_selector, select, unmatched
from pfx.standby import Held, hold


@dataclass
class Promotion:
    """How import was asked to change the bundle's records."""

    include: Sequence[str] = ()
    exclude: Sequence[str] = ()
    envmap: EnvMap | None = None
    standby: bool = False


@dataclass
class Prepared:
    """The records to plan, and what selection, map and standby did to get them."""

    # The bundle's own RecordLines when nothing changes them: decoded records would hold
    # ~9 KB each for the whole run (records.py).
    records: Sequence[Record]
    picked: Selection | None = None
    mapped: Mapped | None = None
    held: list[Held] = field(default_factory=list)


def pick(
    bundle: Bundle, promotion: Promotion, *, prune: bool = False
) -> tuple[Bundle, Selection | None, list[tuple[str, Selector]]]:
    """The bundle narrowed to the selection (unchanged without selectors), and with `prune`
    the selectors that match no bundle record (`check_matched` looks on the destination).

    Excluded dependencies are taken as present on the destination here; `check_available`
    confirms that once the destination is read, before anything is written. A selector that
    matches nothing is an error; with --prune it also chooses destination records (what to
    delete, or to leave alone), so it is an error only when it matches none there either.
    """
    if not promotion.include and not promotion.exclude:
        return bundle, None, []
    records = list(bundle.records)
    pending: list[tuple[str, Selector]] = []
    if prune:
        for flag, texts in (("--include", promotion.include), ("--exclude", promotion.exclude)):
            for text in texts:
                selector = parse_selector(text)
                if not any(selector.matches(r) for r in records):
                    pending.append((flag, selector))
    picked = select(
        records, promotion.include, promotion.exclude, available=lambda *_: True,
        require_match=not prune,
    )  # fmt: skip
    return Bundle(bundle.manifest, picked.records, bundle.problems), picked, pending


def check_matched(pending: list[tuple[str, Selector]], destination: Sequence[Record]) -> None:
    """UsageError naming the first selector of `pending` (none of the bundle's records matched
    it) that matches none of the destination's records either."""
    where = " in the bundle or on the destination"
    for flag, selector in pending:
        unmatched((flag, [selector]), records=destination, where=where)


def prepare(records: Sequence[Record], promotion: Promotion, picked: Selection | None) -> Prepared:
    """Map and hold back the (selected) records."""
    prepared = Prepared(records, picked)
    if promotion.envmap is not None:
        prepared.mapped = apply_mapping(list(prepared.records), promotion.envmap)
        prepared.records = prepared.mapped.records
    if promotion.standby:
        prepared.records, prepared.held = hold(list(prepared.records))
    return prepared


def check_available(picked: Selection | None, has: set[tuple[str, tuple[str, ...]]]) -> None:
    """UsageError naming both records when an excluded dependency is not on the destination."""
    if picked is None:
        return
    for (kind, key), needer in picked.on_destination.items():
        if (kind, key) not in has:
            raise UsageError(
                f"{needer.label} needs {kind} {'/'.join(key)}, which --exclude leaves out "
                "and the destination does not have"
            )


def held_states(held: list[Held], outcomes: list[Outcome]) -> list[Held]:
    """The held entries whose record now is (or, in a dry run, would be) on the destination
    as the bundle says, with the destination's id: what `pfx cutover` turns on."""
    # Records of the bundle only: a deleted destination record may share a key (automations).
    ends = {(o.kind, o.key): o for o in outcomes if o.status not in ("deleted", "kept")}
    out: list[Held] = []
    for entry in held:
        outcome = ends.get((entry.kind, entry.key))
        if outcome is not None and outcome.status in ARRIVED:
            out.append(entry.model_copy(update={"id": outcome.destination_id}))
    return out
