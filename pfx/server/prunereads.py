"""What `import --prune` reads besides the read phase (pfx.server.reading), only for the
records it deletes: what stops with them (a deployment's last run, a flow's runs) and, to keep
their last state encrypted as the bundle's secrets are, block documents with their secrets.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import anyio

from pfx.errors import ApiError
from pfx.jsontypes import JSONObject
from pfx.server.api import Api


@dataclass
class Stops:
    """What stops with records `--prune` deletes: each deployment's last run (its start and
    state) and each flow's number of runs (Prefect deletes a flow's runs with it), by id."""

    last_runs: dict[str, str] = field(default_factory=dict)
    flow_runs: dict[str, int] = field(default_factory=dict)


async def read_stops(api: Api, deployments: Iterable[str], flows: Iterable[str]) -> Stops:
    """One request per deployment (its newest started run) and per flow (its runs counted)."""
    stops = Stops()
    limiter = anyio.CapacityLimiter(api.pace.ceiling)

    async def last_run(ident: str) -> None:
        body: JSONObject = {
            "deployments": {"id": {"any_": [ident]}},
            "flow_runs": {"start_time": {"is_null_": False}},
            "sort": "START_TIME_DESC",
            "limit": 1,
        }
        async with limiter:
            runs = await api.request("POST", "/flow_runs/filter", body)
        run = runs[0] if isinstance(runs, list) and runs else None
        if isinstance(run, dict):
            stops.last_runs[ident] = (
                f"{run.get('start_time')} {run.get('state_name') or ''}".strip()
            )

    async def counted(ident: str) -> None:
        async with limiter:
            n = await api.request("POST", "/flow_runs/count", {"flows": {"id": {"any_": [ident]}}})
        if isinstance(n, int):
            stops.flow_runs[ident] = n

    async with anyio.create_task_group() as tg:
        for ident in deployments:
            tg.start_soon(last_run, ident)
        for ident in flows:
            tg.start_soon(counted, ident)
    return stops


async def read_documents(api: Api, ids: Iterable[str]) -> list[JSONObject]:
    """Block documents by id with their secret values in clear (to keep what `--prune`
    deletes, encrypted as the bundle's are); one that is gone meanwhile is left out."""
    found: list[JSONObject] = []

    async def one(ident: str) -> None:
        try:
            item = await api.request("GET", f"/block_documents/{ident}?include_secrets=true")
        except ApiError as e:
            if e.fatal or not e.absent:
                raise
            return
        if isinstance(item, dict):
            found.append(item)

    async with anyio.create_task_group() as tg:
        for ident in ids:
            tg.start_soon(one, ident)
    return found
