"""Global concurrency limits (v2): keyed by name. Limits named `deployment:<id>` belong to their
deployment and `tag:<tag>` to the tag-concurrency-limit kind; both are left to those records.
"""

from __future__ import annotations

from pfx.ids import Index
from pfx.jsontypes import JSONObject
from pfx.kinds.base import Call, Kind, Listing, Shape, delete_by_id
from pfx.model import Record

# The v2 listing holds every limit, sorted by (unique) name on the server, so offset paging is
# stable. Since Prefect 3.4.19 it also holds the tag limits, which the v1 endpoint only mirrors.
LISTING = Listing("/v2/concurrency_limits/filter")
# Names the server gives to limits that are not stand-alone global limits.
DEPLOYMENT_PREFIX = "deployment:"
TAG_PREFIX = "tag:"
# Runtime state (slots held or denied right now), never configuration.
RUNTIME_FIELDS = frozenset({"active_slots", "denied_slots", "avg_slot_occupancy_seconds"})
SERVER_FIELDS = frozenset({"id", "created", "updated"}) | RUNTIME_FIELDS
# The settings a limit is created and updated with (ConcurrencyLimitV2Create/Update).
SETTINGS = ("limit", "active", "slot_decay_per_second")


def settings(data: JSONObject) -> JSONObject:
    """The configurable settings of a v2 limit, as sent to create or update it."""
    return {k: data[k] for k in SETTINGS if k in data}


def _own(data: JSONObject) -> bool:
    name = str(data.get("name", ""))
    return not name.startswith((DEPLOYMENT_PREFIX, TAG_PREFIX))


def _key(data: JSONObject, _index: Index) -> tuple[str, ...]:
    return (str(data["name"]),)


def _create(record: Record, data: JSONObject) -> Call:
    return Call("POST", "/v2/concurrency_limits/", {"name": data["name"], **settings(data)})


def _update(record: Record, data: JSONObject, dest: JSONObject) -> list[Call]:
    return [Call("PATCH", f"/v2/concurrency_limits/{dest['id']}", settings(data))]


KIND = Kind(
    name="global-concurrency-limit",
    listing=LISTING,
    server_fields=SERVER_FIELDS,
    key=_key,
    create=_create,
    update=_update,
    # create sends the name and the numbers (a limit that is not one is no server's).
    shape=Shape(
        key=1,
        fields={"name": "str", "limit": "int", "slot_decay_per_second": "number?"},
    ),
    own=_own,
    delete=delete_by_id("/v2/concurrency_limits/"),
)
