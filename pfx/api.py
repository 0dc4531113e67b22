"""The one seam to the Prefect REST API: paging, calls, retries, and error translation.

Speaks the server's own JSON over one long-lived keep-alive httpx client. Low-level errors
(connection refused, 401, 5xx) become ApiError with one line fit for the user; 409 and other
per-record answers are returned as ApiError with `status` so pipelines can turn them into
outcomes. Nothing outside this module opens a connection to Prefect.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from types import TracebackType

import anyio
import httpx
import orjson

from pfx.errors import ApiError
from pfx.jsontypes import JSON, JSONObject
from pfx.kinds.base import Call, Listing
from pfx.pace import Pace
from pfx.profiles import Target

PAGE = 200
RETRY_STATUS = frozenset({429, 502, 503, 504})
# With backoff capped at 8 s this waits out about a minute of a locked SQLite database.
ATTEMPTS = 14
API_VERSION = "0.8.4"


@dataclass
class Stats:
    """What one run asked of the server, for reports and benchmarks."""

    requests: int = 0
    retries: int = 0
    by_status: dict[int, int] = field(default_factory=dict)


class Api:
    """A session with one Prefect API. Use as `async with Api(target) as api:`."""

    def __init__(self, target: Target, *, concurrency: int = 8) -> None:
        self.target = target
        self.stats = Stats()
        self.pace = Pace(ceiling=max(1, concurrency))
        self._in_flight = 0
        self._changed = anyio.Condition()
        headers = {"X-PREFECT-API-VERSION": API_VERSION, "User-Agent": "pfx"}
        if target.auth_string:
            token = base64.b64encode(target.auth_string.encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        elif target.api_key:
            headers["Authorization"] = f"Bearer {target.api_key}"
        self._http = httpx.AsyncClient(
            base_url=target.url + "/",
            headers=headers,
            verify=target.verify,
            timeout=httpx.Timeout(target.timeout, connect=10.0),
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=32),
        )

    async def __aenter__(self) -> Api:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._http.aclose()

    async def request(self, method: str, path: str, body: JSON = None) -> JSON:
        """One request with retries on pushback; returns the decoded JSON (None if empty)."""
        url = path.lstrip("/")
        content = None if body is None else orjson.dumps(body)
        headers = {"Content-Type": "application/json"} if content is not None else None
        for attempt in range(1, ATTEMPTS + 1):
            started = time.monotonic()
            try:
                response = await self._http.request(method, url, content=content, headers=headers)
            except httpx.ConnectError as e:
                raise ApiError(f"cannot reach {self.target.public_url}: {_reason(e)}") from None
            except httpx.TimeoutException:
                if attempt == ATTEMPTS:
                    raise ApiError(f"{self.target.public_url} did not answer in time") from None
                self.stats.retries += 1
                await anyio.sleep(Pace.backoff(attempt))
                continue
            except httpx.HTTPError as e:
                raise ApiError(f"{self.target.public_url}: {_reason(e)}") from None
            self.stats.requests += 1
            status = response.status_code
            self.stats.by_status[status] = self.stats.by_status.get(status, 0) + 1
            if status in RETRY_STATUS and attempt < ATTEMPTS:
                self.stats.retries += 1
                self.pace.on_pushback()
                await anyio.sleep(Pace.backoff(attempt, _retry_after(response)))
                continue
            if status < 400:
                if method != "GET" and not path.endswith("/filter"):
                    self.pace.on_success(time.monotonic() - started)
                if not response.content:
                    return None
                try:
                    decoded: JSON = orjson.loads(response.content)
                except orjson.JSONDecodeError:
                    raise ApiError(
                        f"{self.target.public_url} answered {method} {path} with non-JSON"
                    ) from None
                return decoded
            raise _error(self.target.public_url, method, path, response)
        raise ApiError(f"{self.target.public_url} kept refusing {method} {path}")  # unreachable

    async def call(self, call: Call) -> JSON:
        """Run one Call from a kind, holding a write slot (adaptive concurrency)."""
        async with self._changed:
            while self._in_flight >= self.pace.allowed():
                await self._changed.wait()
            self._in_flight += 1
        try:
            return await self.request(call.method, call.path, call.body)
        finally:
            async with self._changed:
                self._in_flight -= 1
                self._changed.notify_all()

    async def list_all(self, listing: Listing) -> list[JSONObject]:
        """Every item of a listing, paged explicitly; checked against the server's count.

        Offset paging over a list that changes meanwhile can skip items: a read that
        disagrees with the count endpoint is read again, then refused with the numbers.
        """
        for _ in range(2):
            items = await self._pages(listing)
            if listing.count_path is None:
                return items
            body = {k: v for k, v in listing.body.items() if k not in ("sort", "include_secrets")}
            count = await self.request("POST", listing.count_path, body)
            if not isinstance(count, int) or count == len(items):
                return items
        raise ApiError(
            f"{self.target.public_url}: {listing.path} listed {len(items)} items but the server "
            f"counts {count}; is something changing it? Run again when it is quiet"
        )

    async def _pages(self, listing: Listing) -> list[JSONObject]:
        """Every item of a listing, paged explicitly until a short page; deduplicated by id."""
        items: list[JSONObject] = []
        seen: set[str] = set()
        offset = 0
        while True:
            body: JSONObject = dict(listing.body)
            if listing.paged:
                body |= {"offset": offset, "limit": PAGE}
            page = await self.request("POST", listing.path, body)
            if not isinstance(page, list):
                raise ApiError(f"{self.target.public_url}: {listing.path} did not return a list")
            for item in page:
                if isinstance(item, dict):
                    ident = item.get("id")
                    if isinstance(ident, str):
                        if ident in seen:
                            continue
                        seen.add(ident)
                    items.append(item)
            if not listing.paged or len(page) < PAGE:
                return items
            offset += PAGE

    async def server_version(self) -> str | None:
        """The server's Prefect version (`/admin/version`), or None where it is not offered."""
        try:
            version = await self.request("GET", "/admin/version")
        except ApiError as e:
            # Unreachable (no status) or refused credentials end the run here, before any
            # concurrent reads; other answers only mean the endpoint is not offered (Cloud).
            if e.status is None or e.status in (401, 403):
                raise
            return None
        return version if isinstance(version, str) else None

    async def api_version(self) -> str | None:
        """The server's API version (`/version`), or None where it is not offered."""
        try:
            version = await self.request("GET", "/version")
        except ApiError as e:
            if e.status is None or e.status in (401, 403):
                raise
            return None
        return version if isinstance(version, str) else None

    async def openapi(self) -> JSON:
        """The server's OpenAPI document (`/openapi.json`), or None where it is not offered.

        Read once per import: the destination's request schemas decide each payload. The
        server builds it on first request, which takes seconds on a busy machine.
        """
        try:
            return await self.request("GET", "/openapi.json")
        except ApiError as e:
            if e.status is None or e.status in (401, 403):
                raise
            return None


def _reason(error: Exception) -> str:
    text = str(error) or type(error).__name__
    if "refused" in text.lower():
        return "connection refused"
    return text.splitlines()[0]


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _error(url: str, method: str, path: str, response: httpx.Response) -> ApiError:
    status = response.status_code
    if status == 401:
        return ApiError(
            f"{url} refused the credentials (HTTP 401): check the API key or auth string", status
        )
    detail = ""
    try:
        payload = response.json()
        raw = payload.get("detail", payload) if isinstance(payload, dict) else payload
        detail = raw if isinstance(raw, str) else _validation_summary(raw)
    except ValueError:
        detail = response.text
    detail = " ".join(detail.split())[:300]
    return ApiError(f"HTTP {status} on {method} {path}: {detail}", status)


def _validation_summary(raw: JSON) -> str:
    """Locations and messages of a 422 only: the server echoes inputs, which may be secret."""
    if isinstance(raw, list):
        parts = []
        for item in raw:
            if isinstance(item, dict):
                loc = item.get("loc")
                where = ".".join(str(p) for p in loc) if isinstance(loc, list) else ""
                parts.append(f"{where}: {item.get('msg', '')}")
        return "; ".join(parts)
    if isinstance(raw, dict):
        text = next((v for v in raw.values() if isinstance(v, str)), "")
        return text or "unexpected error body"
    return "unexpected error body"
