"""What an HTTP answer (or its absence) means for one request, pure: done, retry (after how
long), refresh the CSRF token, a write whose effect is unknown, a server that is gone, or a
per-request failure. api.py sends; `judge` and `judge_silence` decide; tested without a server.

Reads are retried through pushback, resets and timeouts. A write is sent again only when the
server provably did not act on it (nothing was sent, 429, Prefect's own 503, whose transaction
rolled back); any other lost or gateway answer to a write is "unknown-write": the caller reads
back, never resends blindly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pfx.errors import ApiError
from pfx.jsontypes import JSON
from pfx.server.pace import Pace

# "Not now" answers: reads retry them all; writes only those that prove nothing was done.
PUSHBACK = frozenset({429, 502, 503, 504})
# Answers of a proxy or load balancer whose server does not answer.
GATEWAY = frozenset({502, 503, 504})
# With backoff capped at 8 s this waits out about a minute of a locked SQLite database.
ATTEMPTS = 14
# Reads whose answer was lost (reset, timeout) are sent again this many times at most.
LOST_ATTEMPTS = 5
# Prefect's body for its 503: a retryable database error (SQLite "database is locked" and
# other DBAPI errors) raised inside the request's transaction, which therefore rolled back
# (prefect/server/api/server.py, custom_internal_exception_handler); a gateway's 503 is not.
PREFECT_503 = {"exception_message": "Service Unavailable"}

Verdict = Literal["done", "retry", "csrf", "unknown-write", "unreachable", "failed"]


@dataclass(frozen=True)
class Answer:
    """What came back for one request, as far as its meaning goes: the status and, for an
    error status, the decoded body (None when not JSON), its text and Retry-After."""

    status: int
    body: JSON = None
    text: str = ""
    retry_after: float | None = None

    @property
    def prefect_own(self) -> bool:
        """Whether a 5xx comes from Prefect's exception handler, not a gateway before it."""
        return isinstance(self.body, dict) and set(self.body) == {"exception_message"}

    @property
    def rolled_back(self) -> bool:
        """Whether it is Prefect's own 503, whose transaction rolled back (see PREFECT_503)."""
        return self.status == 503 and self.body == PREFECT_503

    @property
    def csrf_refused(self) -> bool:
        """Whether the CSRF middleware refused it before the endpoint ran."""
        return self.status == 403 and "CSRF" in self.text


@dataclass(frozen=True)
class Judgement:
    """What to do with an answer: the verdict, and for a retry how long to wait, whether it
    was a write the server pushed back (the pace backs off) and whether every request must
    wait (a rate limit holds for all of them)."""

    verdict: Verdict
    wait: float = 0.0
    pushback: bool = False
    everyone: bool = False


def judge(answer: Answer, *, read: bool, attempt: int, csrf_retried: bool) -> Judgement:
    """What `answer` to attempt number `attempt` (1-based) of a request means (module doc)."""
    status = answer.status
    if status < 400:
        return Judgement("done")
    if answer.csrf_refused and not csrf_retried:
        return Judgement("csrf")
    own = answer.prefect_own
    if status in PUSHBACK or (status >= 500 and not read and not own):
        if not (read or status == 429 or answer.rolled_back):
            return Judgement("unknown-write")
        if status in PUSHBACK and attempt < ATTEMPTS:
            wait = Pace.backoff(attempt, answer.retry_after)
            return Judgement("retry", wait, pushback=not read, everyone=status == 429)
        if status in GATEWAY and not own:
            # A gateway that keeps answering for a server it cannot reach: the server behind
            # it is down, as good as a refused connection.
            return Judgement("unreachable")
    return Judgement("failed")


def judge_silence(
    *,
    read: bool,
    sent: bool,
    tries: int,
    silent_for: float = 0.0,
    give_up_after: float = 0.0,
    hopeless: bool = False,
) -> Judgement:
    """What no answer means: nothing was sent (refused, no connection) for `silent_for`
    seconds, or the answer to a sent request was lost (`tries`: how many times so far).
    `hopeless`: a failure waiting will not mend (a certificate the client refuses)."""
    if not sent:
        if hopeless or silent_for >= give_up_after:
            return Judgement("unreachable")
        return Judgement("retry", Pace.backoff(tries))
    if not read:
        return Judgement("unknown-write")
    if tries >= LOST_ATTEMPTS:
        return Judgement("unreachable")
    return Judgement("retry", Pace.backoff(tries))


def failure(url: str, method: str, path: str, answer: Answer) -> ApiError:
    """The ApiError of a failed answer: one line with its status and the server's detail."""
    status = answer.status
    if status == 401:
        return ApiError(
            f"{url} refused the credentials (HTTP 401): check the API key or auth string", status
        )
    body = answer.body
    if body is None:
        detail = answer.text
    else:
        raw = body.get("detail", body) if isinstance(body, dict) else body
        detail = raw if isinstance(raw, str) else _validation_summary(raw)
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


def retry_cause(answer: Answer) -> str:
    """Why an answer is retried, in a few words."""
    if answer.status == 429:
        return "HTTP 429 (rate limited)"
    if answer.rolled_back:
        return "HTTP 503 (the server's database is busy)"
    return f"HTTP {answer.status}"


def retry_line(method: str, path: str, cause: str, wait: float, attempt: int) -> str:
    """The notice of one retry as it happens: what failed, and when it is tried again."""
    return f"{method} {path}: {cause}; trying again in {wait:.1f} s (attempt {attempt + 1})"


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (None when absent or not a number)."""
    try:
        return float(value) if value else None
    except ValueError:
        return None


def is_read(method: str, path: str) -> bool:
    """Whether a request only reads: GET, and the POSTs that filter or count."""
    if method == "GET":
        return True
    return method == "POST" and path.rstrip("/").endswith(("/filter", "/count"))
