"""The one seam to the Prefect REST API: sending, paging, write slots, and error translation.

Speaks the server's own JSON over one long-lived keep-alive httpx client; what each answer
means (retry, done, unknown write, gone) is pfx.server.answers' to judge. Low-level errors
become ApiError with one line fit for the user; 409 and other per-record answers are raised as
ApiError with `status` so pipelines can turn them into outcomes. Nothing outside this module
opens a connection to Prefect.
"""

from __future__ import annotations

import base64
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
from pfx.server.answers import (
    Answer,
    Judgement,
    failure,
    is_read,
    judge,
    judge_silence,
    retry_after,
)
from pfx.server.csrf import CsrfToken
from pfx.server.pace import Pace, write_kind

PAGE = 200
# Sent until the server's own `/version` is known, and where it offers none.
FALLBACK_API_VERSION = "0.8.4"
# Headers Prefect's own client will not let custom headers override.
PROTECTED = frozenset({"user-agent", "prefect-csrf-token", "prefect-csrf-client"})
# Below uvicorn's 5 s keep-alive: a request never goes out on a connection being closed.
KEEPALIVE_S = 4.0
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

        What each answer (or its absence) means is pfx.server.answers' to say: reads are
        retried through pushback, resets and timeouts; a write is sent again only when the
        server provably did not act on it, and an answer lost after sending raises
        WriteUnknown. Refused connections for `target.unreachable_after` seconds raise
        Unreachable.
        """
        url = path.lstrip("/")
        content = None if body is None else orjson.dumps(body)
        read = is_read(method, path)
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
                silence = judge_silence(
                    read=read,
                    sent=False,
                    tries=attempt,
                    silent_for=time.monotonic() - refused_since,
                    give_up_after=self.target.unreachable_after,
                    hopeless=_hopeless(e),
                )
                await self._after_silence(silence, method, path, e)
                continue
            except httpx.TransportError as e:
                lost += 1
                await self._after_silence(
                    judge_silence(read=read, sent=True, tries=lost), method, path, e
                )
                continue
            refused_since = None
            self.stats.requests += 1
            status = response.status_code
            self.stats.by_status[status] = self.stats.by_status.get(status, 0) + 1
            answer = Answer(status) if status < 400 else _answer(response)
            judged = judge(answer, read=read, attempt=attempt, csrf_retried=csrf_retried)
            if judged.verdict == "done":
                if not read:
                    self.pace.on_success(time.monotonic() - started, write_kind(method, path))
                return self._decoded(response, method, path)
            if judged.verdict == "csrf":
                # The middleware refused it before the endpoint ran: fetch a new token.
                csrf_retried = True
                self._csrf.token = None
                continue
            if judged.verdict == "retry":
                self.stats.retries += 1
                if judged.pushback:
                    self.pace.on_pushback()
                if judged.everyone:
                    self._resume_at = max(self._resume_at, time.monotonic() + judged.wait)
                await anyio.sleep(judged.wait)
                continue
            public = self.target.public_url
            if judged.verdict == "unknown-write":
                raise WriteUnknown(
                    f"{public} answered {method} {path} with HTTP {status} "
                    "after it was sent; the server may have applied it",
                    status,
                )
            if judged.verdict == "unreachable":
                raise Unreachable(
                    f"cannot reach {public}: its gateway keeps answering HTTP {status}"
                )
            raise failure(public, method, path, answer)

    async def _after_silence(
        self, judged: Judgement, method: str, path: str, error: Exception
    ) -> None:
        """Wait before sending again, or raise what no answer means (see judge_silence)."""
        public = self.target.public_url
        if judged.verdict == "unknown-write":
            raise WriteUnknown(
                f"{public}: the answer to {method} {path} was lost ({_reason(error)}); "
                "the server may have applied it"
            ) from None
        if judged.verdict == "unreachable":
            raise Unreachable(f"cannot reach {public}: {_reason(error)}") from None
        self.stats.retries += 1
        await anyio.sleep(judged.wait)

    def _decoded(self, response: httpx.Response, method: str, path: str) -> JSON:
        if not response.content:
            return None
        try:
            decoded: JSON = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise ApiError(
                f"{self.target.public_url} answered {method} {path} with non-JSON"
            ) from None
        return decoded

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
        version = await self.offered("/admin/version")
        return version if isinstance(version, str) else None

    async def api_version(self) -> str | None:
        """The server's API version (`/version`, read once), or None where it is not offered."""
        if self._api_version is None:
            version = await self.offered("/version")
            self._api_version = version if isinstance(version, str) else None
        return self._api_version

    async def openapi(self) -> JSON:
        """The server's OpenAPI document (`/openapi.json`), or None where it is not offered.

        Read once per import: the destination's request schemas decide each payload. The
        server builds it on first request, which takes seconds on a busy machine.
        """
        return await self.offered("/openapi.json")

    async def offered(self, path: str) -> JSON:
        """GET `path`, or None where the server does not offer it (Cloud has no
        `/admin/version`); no answer or refused credentials end the run (ApiError.fatal)."""
        try:
            return await self.request("GET", path)
        except ApiError as e:
            if e.fatal:
                raise
            return None


def _reason(error: Exception) -> str:
    text = str(error) or type(error).__name__
    if "refused" in text.lower():
        return "connection refused"
    return text.splitlines()[0]


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


def _answer(response: httpx.Response) -> Answer:
    """An error answer as pfx.server.answers judges it."""
    try:
        body: JSON = response.json()
    except ValueError:
        body = None
    return Answer(
        response.status_code,
        body,
        response.text,
        retry_after(response.headers.get("Retry-After")),
    )
