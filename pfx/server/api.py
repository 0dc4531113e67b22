"""The one seam to the Prefect REST API: paging, calls, retries, and error translation.

Speaks the server's own JSON over one long-lived keep-alive httpx client. Low-level errors
(connection refused, 401, 5xx) become ApiError with one line fit for the user; 409 and other
per-record answers are returned as ApiError with `status` so pipelines can turn them into
outcomes. Nothing outside this module opens a connection to Prefect.
"""

from __future__ import annotations

import base64
import re
import ssl
import time
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType

import anyio
import httpx
import orjson

from pfx.errors import ApiError, Unreachable, UsageError, WriteUnknown
from pfx.jsontypes import JSON, JSONObject
from pfx.kinds.base import Call, Listing
from pfx.profiles import Target
from pfx.server.csrf import CsrfToken
from pfx.server.pace import Pace

PAGE = 200
# "Not now" answers: reads retry them all; writes only those that prove nothing was done.
PUSHBACK = frozenset({429, 502, 503, 504})
# Answers of a proxy or load balancer whose server does not answer.
GATEWAY = frozenset({502, 503, 504})
# With backoff capped at 8 s this waits out about a minute of a locked SQLite database.
ATTEMPTS = 14
# Reads whose answer was lost (reset, timeout) are sent again this many times at most.
LOST_ATTEMPTS = 5
# Seconds of refused or failed connections after which the server counts as gone.
UNREACHABLE_AFTER = 10.0
# Sent until the server's own `/version` is known, and where it offers none.
FALLBACK_API_VERSION = "0.8.4"
# Prefect's body for its 503: a retryable database error (SQLite "database is locked" and
# other DBAPI errors) raised inside the request's transaction, which therefore rolled back
# (prefect/server/api/server.py, custom_internal_exception_handler); a gateway's 503 is not.
PREFECT_503 = {"exception_message": "Service Unavailable"}
# Headers Prefect's own client will not let custom headers override.
PROTECTED = frozenset({"user-agent", "prefect-csrf-token", "prefect-csrf-client"})
# Below uvicorn's 5 s keep-alive: a request never goes out on a connection being closed.
KEEPALIVE_S = 4.0
# A Prefect id inside a path: left out of a write's kind for pacing (see _shape).
_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Connection failures that happen before anything is sent: always safe to try again.
UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


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
        self._waiters: deque[anyio.Event] = deque()
        self._resume_at = 0.0
        self._api_version: str | None = None
        self._csrf = CsrfToken(enabled=target.csrf and not target.cloud)
        self._http = httpx.AsyncClient(
            base_url=target.url + "/",
            headers=_headers(target),
            verify=_verify(target.verify),
            timeout=httpx.Timeout(target.timeout, connect=min(10.0, target.timeout)),
            limits=httpx.Limits(
                # Every write allowed in flight, and room for reads beside them.
                max_connections=max(32, concurrency + 8),
                max_keepalive_connections=max(32, concurrency + 8),
                keepalive_expiry=KEEPALIVE_S,
            ),
            trust_env=True,
            follow_redirects=True,
        )

    async def __aenter__(self) -> Api:
        try:
            version = await self.api_version()
        except BaseException:
            await self._http.aclose()
            raise
        self._http.headers["X-PREFECT-API-VERSION"] = version or FALLBACK_API_VERSION
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._http.aclose()

    async def request(self, method: str, path: str, body: JSON = None) -> JSON:
        """One request; returns the decoded JSON (None if empty).

        Reads are retried through pushback, resets and timeouts. A write is sent again only
        when the server provably did not act on it (no connection, 429, Prefect's own 503);
        an answer lost after sending raises WriteUnknown. Refused connections for
        UNREACHABLE_AFTER seconds raise Unreachable.
        """
        url = path.lstrip("/")
        content = None if body is None else orjson.dumps(body)
        read = is_read(method, path)
        public = self.target.public_url
        attempt = lost = 0
        refused_since: float | None = None
        csrf_retried = False
        while True:
            attempt += 1
            await self._wait_for_pause()
            headers = {"Content-Type": "application/json"} if content is not None else {}
            if method != "GET":
                headers |= await self._csrf_headers()
            started = time.monotonic()
            try:
                response = await self._http.request(method, url, content=content, headers=headers)
            except UNSENT as e:
                refused_since = refused_since or started
                if _hopeless(e) or time.monotonic() - refused_since >= UNREACHABLE_AFTER:
                    raise Unreachable(f"cannot reach {public}: {_reason(e)}") from None
                self.stats.retries += 1
                await anyio.sleep(Pace.backoff(attempt))
                continue
            except httpx.TransportError as e:
                if not read:
                    raise WriteUnknown(
                        f"{public}: the answer to {method} {path} was lost ({_reason(e)}); "
                        "the server may have applied it"
                    ) from None
                lost += 1
                if lost >= LOST_ATTEMPTS:
                    raise Unreachable(f"cannot reach {public}: {_reason(e)}") from None
                self.stats.retries += 1
                await anyio.sleep(Pace.backoff(lost))
                continue
            refused_since = None
            self.stats.requests += 1
            status = response.status_code
            self.stats.by_status[status] = self.stats.by_status.get(status, 0) + 1
            if status == 403 and not csrf_retried and "CSRF" in response.text:
                # The middleware refused it before the endpoint ran: fetch a new token.
                csrf_retried = True
                self._csrf.token = None
                continue
            if status in PUSHBACK or (status >= 500 and not read and not _prefect_own(response)):
                if not (read or status == 429 or _prefect_rolled_back(response)):
                    raise WriteUnknown(
                        f"{public} answered {method} {path} with HTTP {status} "
                        "after it was sent; the server may have applied it",
                        status,
                    )
                if status in PUSHBACK and attempt < ATTEMPTS:
                    self.stats.retries += 1
                    if not read:
                        self.pace.on_pushback()
                    wait = Pace.backoff(attempt, _retry_after(response))
                    if status == 429:
                        # A rate limit holds for every request, not just this one.
                        self._resume_at = max(self._resume_at, time.monotonic() + wait)
                    await anyio.sleep(wait)
                    continue
                if status in GATEWAY and not _prefect_own(response):
                    # A gateway that keeps answering for a server it cannot reach: the
                    # server behind it is down, as good as a refused connection.
                    raise Unreachable(
                        f"cannot reach {public}: its gateway keeps answering HTTP {status}"
                    )
            if status < 400:
                if not read:
                    self.pace.on_success(time.monotonic() - started, _shape(method, path))
                if not response.content:
                    return None
                try:
                    decoded: JSON = orjson.loads(response.content)
                except orjson.JSONDecodeError:
                    raise ApiError(f"{public} answered {method} {path} with non-JSON") from None
                return decoded
            raise _error(public, method, path, response)

    async def call(self, call: Call) -> JSON:
        """Run one Call from a kind, holding a write slot (adaptive concurrency)."""
        await self._acquire()
        try:
            return await self.request(call.method, call.path, call.body)
        finally:
            self._in_flight -= 1
            self._hand_off()

    async def _acquire(self) -> None:
        """Take a write slot now if one is free and nobody queues, else queue for one."""
        if not self._waiters and self._in_flight < self.pace.allowed():
            self._in_flight += 1
            return
        turn = anyio.Event()
        self._waiters.append(turn)
        try:
            await turn.wait()
        except BaseException:
            if turn.is_set():
                # The slot was handed over as we were cancelled: pass it on.
                self._in_flight -= 1
                self._hand_off()
            else:
                self._waiters.remove(turn)
            raise

    def _hand_off(self) -> None:
        """Give free slots to the longest waiters, first in first out, one each."""
        while self._waiters and self._in_flight < self.pace.allowed():
            self._in_flight += 1
            self._waiters.popleft().set()

    async def _wait_for_pause(self) -> None:
        delay = self._resume_at - time.monotonic()
        if delay > 0:
            await anyio.sleep(delay)

    async def _csrf_headers(self) -> dict[str, str]:
        """The CSRF headers for a change request, fetching a token first where needed."""
        csrf = self._csrf
        if not csrf.enabled:
            return {}
        if csrf.fresh():
            return csrf.headers()
        async with csrf.lock:
            # Writers that queued here while the first fetched learn its answer, also "off".
            if csrf.enabled and not csrf.fresh():
                try:
                    answer = await self.request("GET", f"/csrf-token?client={csrf.client}")
                except ApiError as e:
                    # No endpoint (older server) or protection off: nothing to send, as
                    # Prefect's own client concludes.
                    if e.status == 404 or (e.status == 422 and "disabled" in str(e)):
                        csrf.enabled = False
                        return {}
                    raise
                csrf.accept(answer)
        return csrf.headers() if csrf.enabled else {}

    async def list_all(self, listing: Listing, *, counted: bool = True) -> list[JSONObject]:
        """Every item of a listing, paged explicitly; checked against the server's count.

        Offset paging over a list that changes meanwhile can skip items: a read that
        disagrees with the count endpoint is read again, then refused with the numbers.
        `counted=False` skips the check, for reads made while this run itself writes (an
        import reading back one record: its own creates change the count meanwhile).
        """
        for _ in range(2):
            items = await self._pages(listing)
            if listing.count_path is None or not counted:
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
        if listing.single:
            answer = await self.request("GET", listing.path)
            return [answer] if isinstance(answer, dict) else []
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
            # Unreachable (no status) or refused credentials end the run; other answers
            # only mean the endpoint is not offered (Cloud).
            if e.status is None or e.status in (401, 403):
                raise
            return None
        return version if isinstance(version, str) else None

    async def api_version(self) -> str | None:
        """The server's API version (`/version`, read once), or None where it is not offered."""
        if self._api_version is not None:
            return self._api_version
        try:
            version = await self.request("GET", "/version")
        except ApiError as e:
            if e.status is None or e.status in (401, 403):
                raise
            return None
        self._api_version = version if isinstance(version, str) else None
        return self._api_version

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


def is_read(method: str, path: str) -> bool:
    """Whether a request only reads: GET, and the POSTs that filter or count."""
    if method == "GET":
        return True
    return method == "POST" and path.rstrip("/").endswith(("/filter", "/count"))


def _shape(method: str, path: str) -> str:
    """A write's kind for pacing: its method, the path's first part and, for nested paths
    (`/deployments/ID/schedules`), its last; ids and names between are left out."""
    parts = _ID.sub("", path.split("?", 1)[0]).strip("/").split("/")
    return " ".join([method, parts[0], *parts[2:][-1:]])


def _headers(target: Target) -> dict[str, str]:
    """Headers of every request: the profile's custom ones, then auth, as Prefect's client."""
    headers = {"User-Agent": "pfx", "X-PREFECT-API-VERSION": FALLBACK_API_VERSION}
    for name, value in target.headers:
        if name.lower() not in PROTECTED:
            headers[name] = value
    if target.auth_string:
        token = base64.b64encode(target.auth_string.encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    elif target.api_key:
        headers["Authorization"] = f"Bearer {target.api_key}"
    return headers


def _verify(verify: bool | str) -> bool | ssl.SSLContext:
    """What httpx checks server certificates with, as Prefect's client builds it."""
    if not isinstance(verify, str):
        return verify
    try:
        return ssl.create_default_context(cafile=verify)
    except (OSError, ssl.SSLError) as e:
        raise UsageError(f"PREFECT_API_SSL_CERT_FILE {verify}: {_reason(e)}") from None


def _hopeless(error: Exception) -> bool:
    """Connection failures that waiting will not mend (a certificate the client refuses)."""
    return "CERTIFICATE_VERIFY_FAILED" in str(error) or isinstance(error.__context__, ssl.SSLError)


def _prefect_rolled_back(response: httpx.Response) -> bool:
    """Whether a 503 is Prefect's own, whose transaction rolled back (see PREFECT_503)."""
    return response.status_code == 503 and _body(response) == PREFECT_503


def _prefect_own(response: httpx.Response) -> bool:
    """Whether a 5xx comes from Prefect's exception handler rather than a gateway before it."""
    body = _body(response)
    return isinstance(body, dict) and set(body) == {"exception_message"}


def _body(response: httpx.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None
