"""Selecting records, pure: `--include`/`--exclude` selectors and the dependency closure.

Selectors: `KIND:GLOB` (GLOB over the natural key joined with `/`), `kind:KIND`, `tag:TAG`.
What a selected record references comes along; an exclusion that leaves a record dangling is
an error naming both, unless the destination already has the dependency (import).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from pfx.errors import UsageError
from pfx.kinds import BY_NAME
from pfx.model import Record, Ref

Ident = tuple[str, tuple[str, ...]]
# Whether the destination already holds (kind, key): an excluded dependency it has is used.
Available = Callable[[str, tuple[str, ...]], bool]


@dataclass(frozen=True)
class Selector:
    """One parsed selector; `text` is what the user wrote."""

    text: str
    kind: str | None = None
    glob: str | None = None
    tag: str | None = None

    def matches(self, record: Record) -> bool:
        if self.tag is not None:
            tags = record.data.get("tags")
            return isinstance(tags, list) and self.tag in tags
        if self.kind is not None and record.kind != self.kind:
            return False
        if self.glob is None:
            return True
        joined = "/".join(record.key)
        if fnmatchcase(joined, self.glob):
            return True
        # Kinds without unique names carry an ordinal: `automation:nightly` means them all.
        kind = BY_NAME.get(record.kind)
        return (
            kind is not None
            and not kind.unique_key
            and fnmatchcase("/".join(record.key[:-1]), self.glob)
        )


def parse_selector(text: str) -> Selector:
    """A Selector from `KIND:GLOB`, `kind:KIND` or `tag:TAG`; UsageError naming the grammar."""
    head, sep, rest = text.partition(":")
    if not sep or not rest:
        raise UsageError(f"bad selector {text!r}: expected KIND:GLOB, kind:KIND or tag:TAG")
    if head == "tag":
        return Selector(text, tag=rest)
    if head == "kind":
        _known(rest, text)
        return Selector(text, kind=rest)
    _known(head, text)
    return Selector(text, kind=head, glob=rest)


def _known(kind: str, text: str) -> None:
    if kind not in BY_NAME:
        raise UsageError(
            f"bad selector {text!r}: unknown kind {kind!r} (kinds: {', '.join(BY_NAME)})"
        )


@dataclass
class Selection:
    """The records kept (in input order) and why each is there."""

    records: list[Record]
    # Records a --include matched (all records when there is no --include), minus exclusions.
    chosen: list[Record] = field(default_factory=list)
    # Records kept only because a kept record references them: ident -> the first such record.
    dependencies: dict[Ident, Record] = field(default_factory=dict)
    # Excluded dependencies that the destination must have (used there, not imported):
    # ident -> the first kept record that needs it.
    on_destination: dict[Ident, Record] = field(default_factory=dict)
    # Records left out (neither chosen nor needed).
    left_out: int = 0

    def because(self, record: Record) -> str | None:
        """Why `record` is in the selection when it was not chosen: "needed by <label>"."""
        needer = self.dependencies.get((record.kind, record.key))
        return f"included as a dependency of {needer.label}" if needer else None


def select(
    records: Sequence[Record],
    include: Iterable[str] = (),
    exclude: Iterable[str] = (),
    *,
    available: Available | None = None,
    require_match: bool = True,
) -> Selection:
    """The records `include`/`exclude` pick, closed over their references (see module doc).

    Raises UsageError when an --include or an --exclude matches nothing (unless not
    `require_match`: a typo is no silent no-op), or when an excluded record is needed by a
    kept one and `available` does not say the destination has it.
    """
    records = list(records)  # a bundle's records decode on each access: once here
    includes = [parse_selector(s) for s in include]
    excludes = [parse_selector(s) for s in exclude]
    if require_match:
        unmatched(("--include", includes), ("--exclude", excludes), records=records)
    by_ident = {(r.kind, r.key): r for r in records}

    def excluded(record: Record) -> bool:
        return any(s.matches(record) for s in excludes)

    chosen = [
        r
        for r in records
        if (not includes or any(s.matches(r) for s in includes)) and not excluded(r)
    ]
    kept: set[Ident] = {(r.kind, r.key) for r in chosen}
    selection = Selection(records=[], chosen=chosen)
    queue = list(chosen)
    while queue:
        record = queue.pop(0)
        for ref in record.refs:
            ident = (ref.kind, ref.key)
            target = by_ident.get(ident)
            if target is None or ident in kept or target is record:
                continue
            if excluded(target):
                if ref.soft or ident in selection.on_destination:
                    continue
                if available is not None and available(*ident):
                    selection.on_destination[ident] = record
                    continue
                raise UsageError(
                    f"{record.label} needs {target.label} ({ref.path or 'reference'}), "
                    f"which --exclude leaves out"
                    + (" and the destination does not have" if available is not None else "")
                )
            kept.add(ident)
            selection.dependencies[ident] = record
            queue.append(target)
    selection.records = [r for r in records if (r.kind, r.key) in kept]
    selection.left_out = len(records) - len(selection.records)
    return selection


def unmatched(
    *flags: tuple[str, Sequence[Selector]], records: Sequence[Record], where: str = ""
) -> None:
    """UsageError naming the first selector (of each flag's) that matches none of `records`;
    `where` says where they were looked for."""
    for flag, selectors in flags:
        for selector in selectors:
            if not any(selector.matches(r) for r in records):
                raise UsageError(f"{flag} {selector.text!r} matches no record{where}")


def external_refs(records: list[Record]) -> list[Ref]:
    """Hard refs of `records` whose target is not among them (sorted, one per target)."""
    present = {(r.kind, r.key) for r in records}
    seen: dict[Ident, Ref] = {}
    for record in records:
        for ref in record.refs:
            ident = (ref.kind, ref.key)
            if ref.soft or ident in present or ident in seen:
                continue
            seen[ident] = Ref(kind=ref.kind, key=ref.key)
    return [seen[i] for i in sorted(seen)]
