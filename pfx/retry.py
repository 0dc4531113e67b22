"""When an import's write is sent again, around Api.call: a create whose answer was lost is
looked for on the destination before it is ever resent, and so is a `--prune` deletion
(`delete`); a create refused as a duplicate (409) is looked for too, and found, is the record
another run made meanwhile (the caller plans it again); idempotent calls (PATCH, PUT, DELETE,
GET) are simply repeated; nothing else is.

One release quirk lives here: Prefect 3.8 on PostgreSQL answers the first concurrent
block-document creates with 409 "Data integrity conflict" for objects that do not exist; the
same create a moment later succeeds (`integrity_race`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio

from pfx.errors import ApiError, WriteUnknown
from pfx.jsontypes import JSON, JSONObject
from pfx.kinds.base import Call
from pfx.server.api import Api

IDEMPOTENT = frozenset({"GET", "PUT", "PATCH", "DELETE"})
# Times an idempotent call is repeated after its answer was lost.
REPEATS = 3
# Times a creating POST is sent at most (after a lost answer found nothing, or a 409 race).
CREATES = 3
LOST = "the server's answer to the create was lost; found it on the destination"
MEANWHILE = "made meanwhile by another run (its create was refused as a duplicate)"

LOST_DELETE = "the server's answer to the delete was lost; read back: it is gone"
GONE = "already gone from the destination"

Find = Callable[[], Awaitable[JSONObject | None]]
Present = Callable[[], Awaitable[bool]]


def integrity_race(error: ApiError) -> bool:
    """Whether a 409 is the integrity race of Prefect 3.8 on PostgreSQL (module doc)."""
    return error.status == 409 and "integrity" in str(error).lower()


@dataclass(frozen=True)
class Made:
    """What a creating POST came to: the server's answer (or the record as found), a note,
    and whether another run made the record meanwhile (`answer` is then its item)."""

    answer: JSON
    note: str = ""
    meanwhile: bool = False


async def create(api: Api, call: Call, find: Find) -> Made:
    """The creating POST: on a lost answer, `find` reads the record back first, and the POST
    is sent again only if it is not there (the note says so); on a 409, `find` tells a record
    another run made meanwhile (`meanwhile`) from 3.8's integrity race (sent again)."""
    for attempt in range(1, CREATES + 1):
        try:
            return Made(await api.call(call))
        except WriteUnknown:
            found = await find()
            if found is not None:
                return Made(found, LOST)
            if attempt == CREATES:
                raise
        except ApiError as e:
            if e.status == 409:
                found = await find()
                if found is not None:
                    return Made(found, MEANWHILE, meanwhile=True)
            if not integrity_race(e) or attempt == CREATES:
                raise
            await anyio.sleep(0.2 * attempt)
    raise AssertionError("unreachable")


async def delete(api: Api, calls: list[Call], present: Present) -> str:
    """A record's deleting calls, and a note: on a lost answer, `present` reads back whether
    the record is still there, and the calls go again only if it is; an object the server
    does not find (404) was deleted by someone, or by an answer lost before this run."""
    for attempt in range(1, CREATES + 1):
        try:
            for call in calls:
                await api.call(call)
            return ""
        except WriteUnknown:
            if not await present():
                return LOST_DELETE
            if attempt == CREATES:
                raise
        except ApiError as e:
            if e.status != 404:
                raise
            return GONE
    raise AssertionError("unreachable")


async def repeat(api: Api, call: Call) -> JSON:
    """An idempotent call, repeated when its answer was lost; others run once."""
    for attempt in range(REPEATS):
        try:
            return await api.call(call)
        except WriteUnknown:
            if call.method not in IDEMPOTENT or attempt == REPEATS - 1:
                raise
        except ApiError as e:
            # A repeated DELETE whose first answer was lost finds nothing left.
            if call.method == "DELETE" and e.status == 404 and attempt > 0:
                return None
            raise
    raise AssertionError("unreachable")
