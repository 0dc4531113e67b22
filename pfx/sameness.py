"""What counts as the same value on two servers of different releases (pure).

The bundle holds what the source's release returned; the destination's release may return
more fields, fill new keys with their defaults, and write timestamps another way. None of
that is a difference in content, so none of it may make a record "differ" (a re-run would
never come out unchanged).
"""

from __future__ import annotations

from datetime import datetime

from pfx.jsontypes import JSON, JSONObject

_EMPTY: tuple[JSON, ...] = (None, {}, [])


def differing_fields(ours: JSONObject, theirs: JSONObject) -> list[str]:
    """Top-level fields of `ours` whose value `theirs` does not hold.

    A field `ours` lacks is not compared: the source's release had no such field, so the
    bundle says nothing about it (a 2.x flow has no `labels`; a 3.8 destination shows `{}`).
    """
    return sorted(k for k, v in ours.items() if not same(v, theirs.get(k)))


def same(ours: JSON, theirs: JSON) -> bool:
    """Whether two values hold the same content.

    Inside a value, a key `ours` lacks is equal when `theirs` holds it unset (the default a
    newer release fills in: a schedule's `slug: null`, an action's `schedule_after: 0.0`);
    null, {} and [] are one unset value (servers store one for another); 1 and 1.0 are one
    number; two timestamps are the same instant however written (`Z` or `+00:00`).
    """
    if ours == theirs and type(ours) is type(theirs):
        return True
    if _is_empty(ours) and _is_empty(theirs):
        return True
    if isinstance(ours, dict) and isinstance(theirs, dict):
        return all(same(v, theirs.get(k)) for k, v in ours.items()) and all(
            _unset(v) for k, v in theirs.items() if k not in ours
        )
    if isinstance(ours, list) and isinstance(theirs, list):
        return len(ours) == len(theirs) and all(map(same, ours, theirs))
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
