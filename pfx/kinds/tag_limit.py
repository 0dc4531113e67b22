"""Tag concurrency limits (v1): keyed by tag. Since Prefect 3.4.19 each is a v2 limit named
`tag:<tag>`; they are read, created and updated as such, which keeps `active` and decay.
Older servers (2.x, 3.x before 3.4.19) keep them in the v1 table: export reads it there too.
"""

from __future__ import annotations

import re

from pfx.ids import Index
from pfx.jsontypes import JSONObject
from pfx.kinds.base import Call, Destination, Kind, Listing, Shape, delete_by_id
from pfx.kinds.concurrency_limit import LISTING, SERVER_FIELDS, TAG_PREFIX
from pfx.model import Record

# The v1 filter endpoint cannot be paged: it reads the first offset+limit v2 limits by name and
# keeps the `tag:` ones, so `deployment:` and other names sorting first crowd the tags out (at
# offset 0, limit 1 it answered [] with two tag limits present). The v2 listing pages correctly.
_V2_SINCE = (3, 4, 19)


# The v1 table of servers before 3.4.19, read besides the v2 list (pfx.server.reading).
V1_LISTING = Listing("/concurrency_limits/filter")


def reads_v1(server_version: str | None) -> bool:
    """Whether a server keeps tag limits in the v1 table (2.x, 3.x before 3.4.19).

    An unknown version (Cloud) is read both ways; items are keyed by tag, so none repeats.
    """
    version = _version(server_version)
    return version is None or version < _V2_SINCE


def with_v1(items: list[JSONObject], v1: list[JSONObject]) -> list[JSONObject]:
    """The v2 list plus each v1 tag limit whose tag has no `tag:<tag>` v2 limit."""
    present = {str(i.get("name", "")).removeprefix(TAG_PREFIX) for i in items if _own(i)}
    return items + [i for i in v1 if isinstance(i.get("tag"), str) and i["tag"] not in present]


def _own(data: JSONObject) -> bool:
    if "tag" in data:
        return True
    return str(data.get("name", "")).startswith(TAG_PREFIX)


def _tag(data: JSONObject) -> str:
    # v1-shaped items (`tag`) are accepted too, so a v1 listing of an older server keys alike.
    if "tag" in data:
        return str(data["tag"])
    return str(data["name"]).removeprefix(TAG_PREFIX)


def _key(data: JSONObject, _index: Index) -> tuple[str, ...]:
    return (_tag(data),)


def _keep(data: JSONObject) -> JSONObject:
    """The v1 shape (tag, concurrency_limit) plus the v2 settings a tag limit also obeys."""
    limit = data.get("concurrency_limit", data.get("limit"))
    kept: JSONObject = {"tag": _tag(data), "concurrency_limit": limit}
    # The server skips inactive tag limits when it orchestrates task runs, so `active` matters.
    kept["active"] = data.get("active", True)
    kept["slot_decay_per_second"] = data.get("slot_decay_per_second", 0.0)
    return kept


def _settings(data: JSONObject) -> JSONObject:
    return {
        "limit": data["concurrency_limit"],
        "active": data.get("active", True),
        "slot_decay_per_second": data.get("slot_decay_per_second", 0.0),
    }


def _create(record: Record, data: JSONObject) -> Call:
    # v2 create answers 409 on a duplicate; v1 POST /concurrency_limits/ would silently upsert.
    body: JSONObject = {"name": f"{TAG_PREFIX}{data['tag']}", **_settings(data)}
    return Call("POST", "/v2/concurrency_limits/", body)


def _update(record: Record, data: JSONObject, dest: JSONObject) -> list[Call]:
    return [Call("PATCH", f"/v2/concurrency_limits/{dest['id']}", _settings(data))]


def _delete(item: JSONObject) -> list[Call]:
    # A v1-shaped item (a server that keeps tag limits in the v1 table) is deleted there.
    path = "/concurrency_limits/" if "tag" in item else "/v2/concurrency_limits/"
    return delete_by_id(path)(item)


def _unsupported(record: Record, dest: Destination) -> str | None:
    version = _version(dest.server_version)
    if version is not None and version < _V2_SINCE:
        return (
            f"Prefect {dest.server_version} keeps tag limits apart from global limits "
            "(tag limits are global limits named tag:<tag> from 3.4.19 on)"
        )
    return None


def _version(text: str | None) -> tuple[int, ...] | None:
    match = re.match(r"(\d+)\.(\d+)\.(\d+)", text or "")
    return tuple(int(part) for part in match.groups()) if match else None


KIND = Kind(
    name="tag-concurrency-limit",
    listing=LISTING,
    server_fields=SERVER_FIELDS,
    key=_key,
    create=_create,
    update=_update,
    # create names the limit tag:<tag> and sends the limit.
    shape=Shape(key=1, fields={"tag": "str", "concurrency_limit": "int"}),
    own=_own,
    unsupported=_unsupported,
    keep=_keep,
    delete=_delete,
)
