"""Block types: keyed by slug, with their metadata. System types (protected, or with the
metadata Prefect publishes) belong to the destination's Prefect: they always compare as
unchanged and import never writes them.
"""

from __future__ import annotations

import html

from pfx.ids import Index
from pfx.jsontypes import JSONObject
from pfx.kinds.base import Call, Destination, Kind, Listing, Shape
from pfx.model import Record
from pfx.sameness import differing_fields

# What BlockTypeUpdate accepts; name and slug are fixed at creation.
METADATA = ("logo_url", "documentation_url", "description", "code_example")
# Every release's create (not its update) stores these HTML-escaped
# (prefect/server/models/block_types.py): a server's value is escaped text already.
ESCAPED = ("description", "code_example")


def _key(data: JSONObject, _index: Index) -> tuple[str, ...]:
    return (str(data["slug"]),)


def _create(record: Record, data: JSONObject) -> Call:
    body: JSONObject = {"name": data["name"], "slug": data["slug"]}
    body |= {k: data.get(k) for k in METADATA}
    for k in ESCAPED:
        # Unescaped once, so that the create's own escaping stores the source's text
        # (sent as read, `&gt;` would arrive as `&amp;gt;`).
        value = body.get(k)
        if isinstance(value, str):
            body[k] = html.unescape(value)
    if data.get("is_protected"):
        # A type protected on the source that the destination does not register (2.x's
        # `json`, `date-time`, `process` on 3.x): the API creates only unprotected types,
        # so the flag goes along for the destination's schema to name as a loss.
        body["is_protected"] = True
    return Call("POST", "/block_types/", body)


def _update(record: Record, data: JSONObject, dest: JSONObject) -> list[Call]:
    # The API accepts a PATCH of a protected type (3.8.8 answers 204 and changes it), but
    # the system types' metadata is the destination server's own: leave it alone.
    if system_type(dest) or data.get("is_protected"):
        return []
    return [Call("PATCH", f"/block_types/{dest['id']}", {k: data.get(k) for k in METADATA})]


# Where Prefect publishes the metadata of the types its servers register themselves (system
# types, and the collections' types that every server registers unprotected at start-up).
_PREFECT_PUBLISHED = (
    "https://cdn.sanity.io/images/3ugk85nk/",
    "https://raw.githubusercontent.com/PrefectHQ/",
    "https://docs.prefect.io",
    "https://prefecthq.github.io",
)


def system_type(dest: JSONObject) -> bool:
    """Whether a destination type is one its server registers itself: protected, or carrying
    the metadata Prefect publishes (3.8 registers 51 of its 54 types unprotected; each release
    with its own URLs, so their metadata differs between releases without anyone editing it).
    """
    if dest.get("is_protected"):
        return True
    urls = (dest.get("logo_url"), dest.get("documentation_url"))
    return any(isinstance(u, str) and u.startswith(_PREFECT_PUBLISHED) for u in urls)


def _note(record: Record, dest: JSONObject) -> str | None:
    """Why an existing type counts as unchanged whatever its metadata: it is the server's."""
    return "destination's system type" if system_type(dest) else None


def _compare(bundle: JSONObject, dest: JSONObject) -> list[str]:
    # System types are registered by each server from its own Prefect release, so their
    # metadata differs between versions without anyone having changed it: never a conflict.
    if bundle.get("is_protected") or system_type(dest):
        return []
    return differing_fields(bundle, dest)


def _unsupported(record: Record, destination: Destination) -> str | None:
    if str(record.data.get("name", "")).lower().startswith("prefect"):
        return "block type names beginning with 'Prefect' are reserved by the server"
    return None


KIND = Kind(
    name="block-type",
    listing=Listing("/block_types/filter"),
    server_fields=frozenset({"id", "created", "updated"}),
    key=_key,
    create=_create,
    update=_update,
    # create sends name and slug.
    shape=Shape(key=1, fields={"name": "str", "slug": "str"}),
    unsupported=_unsupported,
    compare=_compare,
    note=_note,
    immutable=frozenset({"name"}),
)
