"""What export reads from a Prefect Cloud source beyond the kinds: each object's access
settings, and whether Cloud's own kinds are listed where pfx reads them. The shell around
pfx.cloud (pure), used by exporting.py for Cloud sources only.
"""

from __future__ import annotations

import anyio

from pfx.cloud import ACCESS, CLOUD_KINDS, UNLISTED_REASON, Access
from pfx.errors import ApiError
from pfx.jsontypes import JSON, JSONObject
from pfx.kinds import BY_NAME
from pfx.model import Skipped
from pfx.server.api import Api


async def name_unlisted(api: Api) -> list[Skipped]:
    """Skipped entries for Prefect Cloud's own kinds whose listing a Cloud source does not
    offer (the read phase takes a 404 there as none: right for a self-hosted server only)."""
    named: list[Skipped] = []
    for name in CLOUD_KINDS:
        listing = BY_NAME[name].listing
        try:
            await api.request("POST", listing.path, listing.body)
        except ApiError as e:
            if not e.absent:
                continue  # anything else was named or raised by the read phase
            why = UNLISTED_REASON.format(status=e.status, path=listing.path, kind=name)
            named.append(Skipped(kind=name, key=("*",), reason=why))
    return named


async def read_access(
    api: Api, raw: dict[str, list[JSONObject]]
) -> tuple[dict[tuple[str, str], JSON], list[Skipped]]:
    """What each object's Prefect Cloud access endpoint answers (pfx.cloud.ACCESS), keyed by
    (access kind, id or name), and what could not be read. The first object of a kind tells:
    404/405, the workspace has no object-level access (nothing to name); another refusal (a
    key without the permission) is named, so that access settings are never dropped unsaid."""
    answers: dict[tuple[str, str], JSON] = {}
    unread: list[Skipped] = []
    limiter = anyio.CapacityLimiter(8)
    for access in ACCESS:
        idents = [i for item in raw.get(access.of, []) if (i := access.ident(item))]
        if not idents:
            continue
        try:
            answers[(access.kind, idents[0])] = await api.request("GET", access.url(idents[0]))
        except ApiError as e:
            # A 403 here is a key without that permission: named below, not fatal.
            if e.fatal and e.status != 403:
                raise
            if not e.absent:
                reason = f"could not be read ({e}): access settings, if any, are not named"
                unread.append(Skipped(kind=access.kind, key=("*",), reason=reason))
            continue

        async def read(ident: str, access: Access = access) -> None:
            async with limiter:
                try:
                    answers[(access.kind, ident)] = await api.request("GET", access.url(ident))
                except ApiError as e:
                    if e.status != 404:  # 404: deleted since it was listed
                        raise

        async with anyio.create_task_group() as tg:
            for ident in idents[1:]:
                tg.start_soon(read, ident)
    return answers, unread
