"""Resources some releases have that pfx does not carry: read at export only to be named in
the manifest's `skipped` list (nothing is lost silently). Pure: exporting.py does the reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from pfx.jsontypes import JSON, JSONObject
from pfx.model import Skipped


@dataclass(frozen=True)
class Uncarried:
    """A kind that pfx names but does not carry: where a server lists it, and why not."""

    kind: str
    # POST listing (paged).
    path: str
    reason: str


UNCARRIED: tuple[Uncarried, ...] = (
    Uncarried(
        "flow-run-notification-policy",
        "/flow_run_notification_policies/filter",
        "Prefect 2.x flow-run notification policy: 3.x has none; not carried (recreate it as "
        "an automation with a send-notification action)",
    ),
)


def name_items(what: Uncarried, answer: JSON) -> list[Skipped]:
    """The skipped entries for what a server answered for `what`."""
    items = answer if isinstance(answer, list) else []
    return [
        Skipped(kind=what.kind, key=(_name(item),), reason=what.reason)
        for item in items
        if isinstance(item, dict)
    ]


def _name(item: JSONObject) -> str:
    name = item.get("name")
    return str(name) if isinstance(name, str) and name else str(item.get("id"))
