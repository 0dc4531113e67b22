"""What counts as the same value on two servers of different releases, and where two values
differ (pure): the one value comparator of pfx, for the plan, `diff`, read-backs and the map.

The bundle holds what the source's release returned; the destination's release may return
more fields, fill new keys with their defaults, and write timestamps another way. None of
that is a difference in content, so none of it may make a record "differ" (a re-run would
never come out unchanged). Secret values read without secrets are masked (MASK): in masked
mode a masked value cannot be compared and counts as the same as any value that is there.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pfx.jsontypes import JSON, JSONObject
from pfx.secrets import MASK

_EMPTY: tuple[JSON, ...] = (None, {}, [])


def differing_fields(ours: JSONObject, theirs: JSONObject, *, masked: bool = False) -> list[str]:
    """Top-level fields of `ours` whose value `theirs` does not hold.

    A field `ours` lacks is not compared: the source's release had no such field, so the
    bundle says nothing about it (a 2.x flow has no `labels`; a 3.8 destination shows `{}`).
    """
    return sorted(k for k, v in ours.items() if not same(v, theirs.get(k), masked=masked))


def same(ours: JSON, theirs: JSON, *, masked: bool = False) -> bool:
    """Whether two values hold the same content.

    Inside a value, a key `ours` lacks is equal when `theirs` holds it unset (the default a
    newer release fills in: a schedule's `slug: null`, an action's `schedule_after: 0.0`);
    null, {} and [] are one unset value (servers store one for another); 1 and 1.0 are one
    number; two timestamps are the same instant however written (`Z` or `+00:00`). With
    `masked`, MASK on either side matches any value that is there (module doc).
    """
    if ours == theirs and type(ours) is type(theirs):
        return True
    if masked and (ours == MASK or theirs == MASK):
        return True
    if _is_empty(ours) and _is_empty(theirs):
        return True
    if isinstance(ours, dict) and isinstance(theirs, dict):
        return all(
            same(v, theirs[k], masked=masked) if k in theirs else _is_empty(v)
            for k, v in ours.items()
        ) and all(_unset(v) for k, v in theirs.items() if k not in ours)
    if isinstance(ours, list) and isinstance(theirs, list):
        if len(ours) != len(theirs):
            return False
        if masked:
            return all(same(a, b, masked=True) for a, b in zip(ours, theirs, strict=True))
        return all(map(same, ours, theirs))
    if isinstance(ours, str) and isinstance(theirs, str):
        a, b = _instant(ours), _instant(theirs)
        return a is not None and b is not None and a == b
    # A bool is not a number here: True and 1 differ in meaning.
    numbers = (int, float)
    return (
        isinstance(ours, numbers)
        and isinstance(theirs, numbers)
        and not isinstance(ours, bool)
        and not isinstance(theirs, bool)
        and ours == theirs
    )


@dataclass(frozen=True)
class Change:
    """One value that differs: dotted path, old and new value (not kept for a secret). A side
    that does not hold the key at all is `absent` there (not null: null is a value)."""

    path: str
    old: JSON = None
    new: JSON = None
    secret: bool = False
    old_absent: bool = False
    new_absent: bool = False

    def reversed(self) -> Change:
        """The same change seen from the other side: new -> old."""
        return Change(self.path, self.new, self.old, self.secret, self.new_absent, self.old_absent)

    def as_json(self) -> JSONObject:
        """`old`/`new` as JSON; the key of an absent side is left out (null is a value)."""
        if self.secret:
            return {"path": self.path, "secret": "changed"}
        out: JSONObject = {"path": self.path}
        if not self.old_absent:
            out["old"] = self.old
        if not self.new_absent:
            out["new"] = self.new
        return out


def leaf_changes(
    ours: JSON,
    theirs: JSON,
    path: str,
    secret: Set[str] = frozenset(),
    *,
    masked: bool = False,
    ours_is_new: bool = False,
    exact: bool = False,
) -> list[Change]:
    """The innermost values under `path` where `ours` and `theirs` are not the same (objects
    recurse, lists compare whole), by exactly the rules of `same`: empty when they are.

    A change is old -> new: `ours` is old unless `ours_is_new`. Values under a `secret` path
    are never kept, only said to have changed. `exact`: what an edit of one record changed
    (a map), where only equal values are the same and an absent key is null. A key one side
    lacks is a change from or to `absent` (Change.old_absent/new_absent).
    """
    if (ours == theirs) if exact else same(ours, theirs, masked=masked):
        return []
    if not (isinstance(ours, dict) and isinstance(theirs, dict)) or is_secret(path, secret):
        return [_change(path, ours, theirs, secret, ours_is_new)]
    out: list[Change] = []
    for k in sorted(ours.keys() | theirs.keys()):
        inner = f"{path}.{k}" if path else k
        if k in ours and k in theirs:
            out += leaf_changes(
                ours[k],
                theirs[k],
                inner,
                secret,
                masked=masked,
                ours_is_new=ours_is_new,
                exact=exact,
            )
        elif k in ours and not (ours[k] is None if exact else _is_empty(ours[k])):
            out.append(_change(inner, ours[k], None, secret, ours_is_new, absent="theirs"))
        elif k in theirs and not (theirs[k] is None if exact else _unset(theirs[k])):
            out.append(_change(inner, None, theirs[k], secret, ours_is_new, absent="ours"))
    return out


def _change(
    path: str,
    ours: JSON,
    theirs: JSON,
    secret: Set[str],
    ours_is_new: bool,
    absent: Literal["ours", "theirs"] | None = None,
) -> Change:
    if hides_secret(path, secret):
        # A secret, or a value holding one (a parent that changed type or is on one side
        # only): said to have changed, never shown.
        return Change(path, secret=True)
    return changed(path, ours, theirs, ours_is_new=ours_is_new, absent=absent)


def changed(
    path: str,
    ours: JSON,
    theirs: JSON,
    *,
    ours_is_new: bool = False,
    absent: Literal["ours", "theirs"] | None = None,
) -> Change:
    """The Change from `ours` to `theirs` (reversed when `ours_is_new`); `absent` names the
    side that does not hold the key."""
    gone_ours, gone_theirs = absent == "ours", absent == "theirs"
    if ours_is_new:
        return Change(path, theirs, ours, old_absent=gone_theirs, new_absent=gone_ours)
    return Change(path, ours, theirs, old_absent=gone_ours, new_absent=gone_theirs)


def hides_secret(path: str, secret: Set[str]) -> bool:
    """Whether the value at `path` is a secret or holds one."""
    return is_secret(path, secret) or any(
        p.removesuffix(".*").startswith(path + ".") for p in secret
    )


def is_secret(path: str, secret: Set[str]) -> bool:
    """Whether `path` is one of the `secret` paths or lies under one (`a.*`: under `a`)."""
    for p in secret:
        base = p.removesuffix(".*")
        if path == base or path.startswith(base + "."):
            return True
    return False


def _is_empty(value: JSON) -> bool:
    return any(value == e and type(value) is type(e) for e in _EMPTY)


def _unset(value: JSON) -> bool:
    """A value a release fills in for a field it has and an older one lacks."""
    if isinstance(value, dict):
        return all(_unset(v) for v in value.values())
    return _is_empty(value) or value in ("", False, 0)


def _instant(text: str) -> datetime | None:
    """The moment an RFC 3339 timestamp names, with its offset; None for any other text."""
    if len(text) < 19 or text[4] != "-" or text[10] not in "Tt ":
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    # A naive and an aware time name no comparable instant.
    return moment if moment.tzinfo is not None else None
