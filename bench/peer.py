"""Run the installed `prefect` CLI with every HTTP request it sends counted, per server.

`python -m bench.peer COUNTS.json transfer --from src --to dst` behaves as `prefect transfer
--from src --to dst`; on exit it writes {"host:port": requests} to COUNTS.json. The count is
taken at httpx's `send` (Prefect's client retries by calling it again, so every attempt
counts once); the cost is one dict increment per request. The events websocket is not HTTP
and not counted.
"""

from __future__ import annotations

import atexit
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson

COUNTS: Counter[str] = Counter()


def _where(request: httpx.Request) -> str:
    return f"{request.url.host}:{request.url.port}"


def _install() -> None:
    async_send = httpx.AsyncClient.send
    sync_send = httpx.Client.send

    async def counted_async(self: httpx.AsyncClient, request: httpx.Request, **kw: Any) -> Any:
        COUNTS[_where(request)] += 1
        return await async_send(self, request, **kw)

    def counted_sync(self: httpx.Client, request: httpx.Request, **kw: Any) -> Any:
        COUNTS[_where(request)] += 1
        return sync_send(self, request, **kw)

    httpx.AsyncClient.send = counted_async  # type: ignore[method-assign]
    httpx.Client.send = counted_sync  # type: ignore[method-assign]


def main() -> None:
    out = Path(sys.argv[1])
    atexit.register(lambda: out.write_bytes(orjson.dumps(dict(COUNTS))))
    _install()
    from prefect.cli import app

    sys.argv = ["prefect", *sys.argv[2:]]
    app()


if __name__ == "__main__":
    main()
