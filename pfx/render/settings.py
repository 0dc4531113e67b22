"""Server settings and UI objects in the companion shell file, pure: the default result storage
becomes one `pfx_api PUT /admin/storage` (its block by name); saved searches are named as not
rendered (their filters hold flow and deployment ids, which no `prefect` command takes).
"""

from __future__ import annotations

import json
import shlex

from pfx.kinds import result_storage, saved_search
from pfx.model import Record
from pfx.render.core import Omission

SEARCH = "saved UI search: not rendered (`pfx import` carries it)"
UNRESOLVED = "names a block document that is not rendered: set it by hand"


def storage_commands(records: list[Record], omissions: list[Omission]) -> list[str]:
    """The command that sets the server's default result storage, after the blocks; and an
    omission for every saved search."""
    commands: list[str] = []
    for record in records:
        if record.kind == saved_search.KIND.name:
            omissions.append(Omission(record.kind, record.key, "*", SEARCH))
        if record.kind != result_storage.KIND.name:
            continue
        block = next((r for r in record.refs if r.path == result_storage.FIELD), None)
        if block is None or block.key[0] == "<missing>":
            omissions.append(Omission(record.kind, record.key, result_storage.FIELD, UNRESOLVED))
            continue
        body = {result_storage.FIELD: {"$block_document": list(block.key)}}
        text = json.dumps(body, sort_keys=True, separators=(",", ":"))
        commands.append(f"pfx_api PUT {result_storage.PATH} {shlex.quote(text)}")
    return commands
