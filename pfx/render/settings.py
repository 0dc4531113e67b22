"""Server settings and UI objects in the setup, pure: the default result storage becomes one
`PUT /admin/storage` request (its block looked up by name); saved searches are named as not
rendered (their filters hold flow and deployment ids, which no `prefect` command takes).
"""

from __future__ import annotations

from pfx.jsontypes import JSONObject
from pfx.kinds import result_storage, saved_search
from pfx.model import Record
from pfx.render.model import Omission
from pfx.render.requests import Lookup, Request

SEARCH = "saved UI search: not rendered (`pfx import` carries it)"
UNRESOLVED = "names a block document that is not rendered: set it by hand"


def storage_requests(records: list[Record], omissions: list[Omission]) -> list[Request]:
    """The request that sets the server's default result storage, after the blocks; and an
    omission for every saved search."""
    requests: list[Request] = []
    for record in records:
        if record.kind == saved_search.KIND.name:
            omissions.append(Omission(record.kind, record.key, "*", SEARCH))
        if record.kind != result_storage.KIND.name:
            continue
        block = next((r for r in record.refs if r.path == result_storage.FIELD), None)
        if block is None or block.key[0] == "<missing>":
            omissions.append(Omission(record.kind, record.key, result_storage.FIELD, UNRESOLVED))
            continue
        body: JSONObject = {result_storage.FIELD: f"<block-document {'/'.join(block.key)}>"}
        lookup = Lookup((result_storage.FIELD,), "block-document", block.key)
        requests.append(Request(record.label, "PUT", result_storage.PATH, body, ids=[lookup]))
    return requests
