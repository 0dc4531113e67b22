"""The one seam to the Prefect REST API: sending, paging, write slots, and error translation.

Speaks the server's own JSON over one long-lived keep-alive httpx client; what each answer
means (retry, done, unknown write, gone) is pfx.server.answers' to judge. Low-level errors
become ApiError with one line fit for the user; 409 and other per-record answers are raised as
ApiError with `status` so pipelines can turn them into outcomes. Nothing outside this module
opens a connection to Prefect.

Every request passes here, so here the run's watcher (pfx.watching) hears where it connects,
each retry as it happens and each request (-v), and here `--max-rate` paces every request
(pfx.server.pace.Cadence).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

import anyio
import httpx
import orjson

from pfx.errors import ApiError, Unreachable, WriteUnknown
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
    retry_cause,
    retry_line,
)
from pfx.server.client import FALLBACK_API_VERSION, error_answer, hopeless, http_client, reason
from pfx.server.csrf import CsrfToken
from pfx.server.pace import Cadence, Pace, write_kind
from pfx.watching import Conduct

PAGE = 200
# Hears a listing's items read so far, and of how many (None: not known yet).
Seen = Callable[[int, int | None], None]
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

    def __init__(
        self, target: Target, *, concurrency: int = 8, conduct: Conduct | None = None
    ) -> None:
        self.target = target
        self.stats = Stats()
        self.pace = Pace(ceiling=max(1, concurrency))
        conduct = conduct or Conduct()
        self.watcher = conduct.watcher
        self._cadence = Cadence(conduct.max_rate) if conduct.max_rate else None
        self._turn: anyio.Lock | None = None
        self._in_flight = 0
        self._waiters: deque[anyio.Event] = deque()
        self._resume_at = 0.0
        self._api_version: str | None = None
        self._csrf = CsrfToken(enabled=target.csrf and not target.cloud)
        self._http = http_client(target, concurrency)

    async def __aenter__(self) -> Api:
        self.watcher.phase("connecting")
        profile = f" (profile {self.target.profile})" if self.target.profile else ""
        self.watcher.notice(f"connecting to {self.target.public_url}{profile}")
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
            await self._wait_for_turn()
            started = time.monotonic()
            try:
                response = await self._http.request(method, url, content=content, headers=headers)
            except UNSENT as e:
                self._heard(method, path, None, started)
                refused_since = refused_since or started
                silence = judge_silence(
                    read=read,
                    sent=False,
                    tries=attempt,
                    silent_for=time.monotonic() - refused_since,
                    give_up_after=self.target.unreachable_after,
                    hopeless=hopeless(e),
                )
                await self._after_silence(silence, method, path, e, attempt, sent=False)
                continue
            except httpx.TransportError as e:
                self._heard(method, path, None, started)
                lost += 1
                await self._after_silence(
                    judge_silence(read=read, sent=True, tries=lost),
                    method,
                    path,
                    e,
                    lost,
                    sent=True,
                )
                continue
            refused_since = None
            self.stats.requests += 1
            status = response.status_code
            self._heard(method, path, status, started)
            self.stats.by_status[status] = self.stats.by_status.get(status, 0) + 1
            answer = Answer(status) if status < 400 else error_answer(response)
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
                self.watcher.notice(
                    retry_line(method, path, retry_cause(answer), judged.wait, attempt)
                )
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
        self,
        judged: Judgement,
        method: str,
        path: str,
        error: Exception,
        tries: int,
        *,
        sent: bool,
    ) -> None:
        """Wait before sending again, or raise what no answer means (see judge_silence)."""
        public = self.target.public_url
        if judged.verdict == "unknown-write":
            raise WriteUnknown(
                f"{public}: the answer to {method} {path} was lost ({reason(error)}); "
                "the server may have applied it"
            ) from None
        if judged.verdict == "unreachable":
            raise Unreachable(f"cannot reach {public}: {reason(error)}") from None
        self.stats.retries += 1
        cause = f"no answer ({reason(error)})" if sent else f"no connection ({reason(error)})"
        self.watcher.notice(retry_line(method, path, cause, judged.wait, tries))
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

    async def _wait_for_turn(self) -> None:
        """Wait for this request's start under --max-rate (pace.Cadence), if one is set. One
        request at a time takes its turn, so a late wake-up moves every later start."""
        if self._cadence is None:
            return
        if self._turn is None:
            self._turn = anyio.Lock()
        async with self._turn:
            delay = self._cadence.book(time.monotonic())
            if delay > 0:
                await anyio.sleep(delay)
            self._cadence.started(time.monotonic())

    def _heard(self, method: str, path: str, status: int | None, started: float) -> None:
        """Tell the watcher of one request (for -v): never its headers or body."""
        self.watcher.request(method, path, status, (time.monotonic() - started) * 1000)

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

    async def list_all(
        self, listing: Listing, *, counted: bool = True, seen: Seen | None = None
    ) -> list[JSONObject]:
        """Every item of a listing, paged explicitly; checked against the server's count.

        Offset paging over a list that changes meanwhile can skip items: a read that
        disagrees with the count endpoint is read again, then refused with the numbers.
        `counted=False` skips the check, for reads made while this run itself writes (an
        import reading back one record: its own creates change the count meanwhile).
        `seen` hears the items read so far after each page, and of how many (a listing of
        more than one page asks the count first, so progress has a total).
        """
        for _ in range(2):
            items = await self._pages(listing, seen)
            if listing.count_path is None or not counted:
                return items
            count = await self._count(listing)
            if not isinstance(count, int) or count == len(items):
                return items
        raise ApiError(
            f"{self.target.public_url}: {listing.path} listed {len(items)} items but the server "
            f"counts {count}; is something changing it? Run again when it is quiet"
        )

    async def _count(self, listing: Listing) -> JSON:
        body = {k: v for k, v in listing.body.items() if k not in ("sort", "include_secrets")}
        assert listing.count_path is not None
        return await self.request("POST", listing.count_path, body)

    async def _pages(self, listing: Listing, heard: Seen | None = None) -> list[JSONObject]:
        """Every item of a listing, paged explicitly until a short page; deduplicated by id."""
        if listing.single:
            answer = await self.request("GET", listing.path)
            return [answer] if isinstance(answer, dict) else []
        items: list[JSONObject] = []
        seen: set[str] = set()
        offset = 0
        total: int | None = None
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
            last = not listing.paged or len(page) < PAGE
            if heard is not None:
                if not last and offset == 0 and listing.count_path is not None:
                    count = await self._count(listing)
                    total = count if isinstance(count, int) else None
                heard(len(items), len(items) if last else total)
            if last:
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
