"""The scope of a bundle, pure: which of a destination's records the bundle speaks for, so
that `import --prune` may delete those it does not hold and `diff -p` names them.

A record is in scope when its kind is one the bundle covers (the bundle's format knew the
kind, its source had it and could read it, pfx can delete it) and every selection chooses it:
a partial bundle's own selectors (its manifest's `selection`) and the import's
`--include/--exclude`. Selectors choose by themselves, without the dependency closure that
selection adds to a bundle: what a chosen record uses is not the bundle's to delete.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pfx.kinds import BY_NAME
from pfx.model import Manifest, Record
from pfx.select import Selector, parse_selector

Choice = tuple[tuple[Selector, ...], tuple[Selector, ...]]


@dataclass(frozen=True)
class Scope:
    """Which destination records a bundle speaks for: the kinds it covers (with why not, for
    the others) and the selections a record must match (each an include/exclude pair)."""

    kinds: frozenset[str]
    uncovered: dict[str, str] = field(default_factory=dict)
    selections: tuple[Choice, ...] = ()

    def outside(self, record: Record) -> str | None:
        """Why `record` is outside the scope, or None."""
        if record.kind not in self.kinds:
            return self.uncovered.get(record.kind, f"the bundle does not cover {record.kind}")
        return self.unchosen(record)

    def unchosen(self, record: Record) -> str | None:
        """Why the selections do not choose `record`, or None (chosen, or no selection)."""
        for include, exclude in self.selections:
            if include and not any(s.matches(record) for s in include):
                return "not chosen by " + " ".join(s.text for s in include)
            if any(s.matches(record) for s in exclude):
                return "left out by " + " ".join(s.text for s in exclude)
        return None


def scope_of(manifest: Manifest, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> Scope:
    """The scope of a bundle with this manifest, imported with these selectors."""
    release, cloud = manifest.source.server_version, manifest.source.cloud
    unread = {s.kind for s in manifest.skipped if s.key == ("*",)}
    kinds: set[str] = set()
    uncovered: dict[str, str] = {}
    for name, kind in BY_NAME.items():
        if kind.delete is None:
            uncovered[name] = f"pfx does not delete {name} records"
        elif name not in manifest.counts:
            uncovered[name] = f"the bundle's format predates {name} records"
        elif name in unread:
            uncovered[name] = f"the source's {name} records could not be read at export"
        elif not kind.had_by(release, cloud):
            where = "Prefect Cloud" if cloud else f"Prefect {release or '(release not recorded)'}"
            uncovered[name] = f"the bundle's source ({where}) has no {name} records"
        else:
            kinds.add(name)
    selections = []
    if manifest.selection is not None:
        selections.append(_parsed(manifest.selection.include, manifest.selection.exclude))
    if include or exclude:
        selections.append(_parsed(include, exclude))
    return Scope(frozenset(kinds), uncovered, tuple(selections))


def selection_of(manifest: Manifest) -> Scope:
    """A partial bundle's own selection (every kind), what `diff` compares it within."""
    sel = manifest.selection
    choice = () if sel is None else (_parsed(sel.include, sel.exclude),)
    return Scope(frozenset(BY_NAME), selections=choice)


def _parsed(include: Sequence[str], exclude: Sequence[str]) -> Choice:
    return tuple(map(parse_selector, include)), tuple(map(parse_selector, exclude))
