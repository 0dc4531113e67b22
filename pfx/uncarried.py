"""Resources some releases have that pfx does not carry: read at export only to be named in
the manifest's `skipped` list (nothing is lost silently). Pure: exporting.py does the reads.
(2.x flow-run notification policies are converted to automations: pfx.notification_policy.)
"""

from __future__ import annotations

from dataclasses import dataclass

from pfx.jsontypes import JSON, JSONObject
from pfx.model import Skipped


@dataclass(frozen=True)
class Uncarried:
    """A kind that pfx names but does not carry: where a server lists it, and why not."""

    kind: str
    # POST listing (paged) or, with `single`, a GET of one object.
    path: str
    reason: str
    single: bool = False


UNCARRIED: tuple[Uncarried, ...] = (
    Uncarried(
        "saved-search",
        "/saved_searches/filter",
        "saved UI search: not carried by pfx (recreate it in the UI)",
    ),
    Uncarried(
        "server-default-result-storage",
        "/admin/storage",
        "the server's default result storage (3.7+): not carried by pfx; set it again with "
        "`prefect config` / PUT /api/admin/storage on the destination",
        single=True,
    ),
)


def name_items(what: Uncarried, answer: JSON) -> list[Skipped]:
    """The skipped entries for what a server answered for `what` (nothing set: none)."""
    if what.single:
        if not isinstance(answer, dict) or not _configured(answer):
            return []
        return [Skipped(kind=what.kind, key=("default",), reason=what.reason)]
    items = answer if isinstance(answer, list) else []
    return [
        Skipped(kind=what.kind, key=(_name(item),), reason=what.reason)
        for item in items
        if isinstance(item, dict)
    ]


def _configured(answer: JSONObject) -> bool:
    return any(v not in (None, {}, [], "") for v in answer.values())


def _name(item: JSONObject) -> str:
    name = item.get("name")
    return str(name) if isinstance(name, str) and name else str(item.get("id"))
