"""What an HTTP answer means (pfx.server.answers), without a server: retry, done, a write
whose effect is unknown, a server that is gone, or a per-request failure."""

from __future__ import annotations

from functools import partial

import pytest

from pfx.errors import ApiError, UsageError
from pfx.profiles import UNREACHABLE_AFTER, unreachable_after
from pfx.server.answers import (
    ATTEMPTS,
    LOST_ATTEMPTS,
    PREFECT_503,
    Answer,
    failure,
    is_read,
    judge,
    judge_silence,
)
from pfx.server.pace import Pace

GATEWAY_503 = Answer(503, None, "<html>Service Temporarily Unavailable</html>")
ROLLED_BACK = Answer(503, PREFECT_503, '{"exception_message":"Service Unavailable"}')


def test_a_success_is_done_for_reads_and_writes() -> None:
    """Any status below 400 ends the request, read or write."""
    for status in (200, 201, 204, 307):
        assert judge(Answer(status), read=False, attempt=1, csrf_retried=False).verdict == "done"
        assert judge(Answer(status), read=True, attempt=9, csrf_retried=True).verdict == "done"


def test_reads_retry_pushback_without_slowing_the_writes() -> None:
    """A read answered 503 by a gateway is sent again after the backoff; the write pace is
    not told (only writes move it)."""
    judged = judge(GATEWAY_503, read=True, attempt=3, csrf_retried=False)
    assert judged.verdict == "retry"
    assert judged.wait == Pace.backoff(3)
    assert not judged.pushback and not judged.everyone


def test_a_write_is_resent_only_when_the_server_provably_did_nothing() -> None:
    """Prefect's own 503 (its transaction rolled back) and a 429 are sent again; a gateway's
    503 or 502 after sending may have been applied: unknown, never resent."""
    again = judge(ROLLED_BACK, read=False, attempt=1, csrf_retried=False)
    assert again.verdict == "retry" and again.pushback and not again.everyone
    limited = judge(Answer(429, retry_after=7.0), read=False, attempt=1, csrf_retried=False)
    assert limited.verdict == "retry" and limited.everyone and limited.wait == 7.0
    for answer in (GATEWAY_503, Answer(502), Answer(504, {"detail": "timeout"})):
        assert judge(answer, read=False, attempt=1, csrf_retried=False).verdict == "unknown-write"


def test_prefect_own_server_error_is_a_per_record_failure() -> None:
    """A 500 from Prefect's exception handler is the server's answer to that request: failed,
    not retried, not unknown."""
    own = Answer(500, {"exception_message": "Internal Server Error"})
    assert judge(own, read=False, attempt=1, csrf_retried=False).verdict == "failed"
    assert judge(own, read=True, attempt=1, csrf_retried=False).verdict == "failed"


def test_a_gateway_that_keeps_answering_means_the_server_is_gone() -> None:
    """After the last attempt a gateway's 5xx to a read is Unreachable; Prefect's own 503 is
    a failure of the request instead."""
    assert judge(GATEWAY_503, read=True, attempt=ATTEMPTS, csrf_retried=False).verdict == (
        "unreachable"
    )
    assert judge(ROLLED_BACK, read=True, attempt=ATTEMPTS, csrf_retried=False).verdict == "failed"


def test_a_csrf_refusal_fetches_a_new_token_once() -> None:
    """A 403 from the CSRF middleware asks for a new token; a second one is a failure."""
    refused = Answer(403, {"detail": "Invalid CSRF token or client identifier."}, "CSRF")
    assert judge(refused, read=False, attempt=1, csrf_retried=False).verdict == "csrf"
    assert judge(refused, read=False, attempt=2, csrf_retried=True).verdict == "failed"
    assert judge(
        Answer(403, text="forbidden"), read=False, attempt=1, csrf_retried=False
    ).verdict == ("failed")


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_client_errors_are_failures_of_the_request(status: int) -> None:
    """4xx other than 429 and a CSRF refusal are the server's answer: not retried."""
    assert judge(Answer(status), read=True, attempt=1, csrf_retried=False).verdict == "failed"


def test_no_answer_waits_until_the_server_counts_as_gone() -> None:
    """Refused connections are retried until the unreachable setting has passed (or at once
    when waiting cannot help); a lost answer to a write is unknown; a read's is retried
    LOST_ATTEMPTS times."""
    refused = partial(judge_silence, read=False, sent=False, give_up_after=10.0)
    assert refused(tries=1, silent_for=9.9).verdict == "retry"
    assert refused(tries=2, silent_for=10.0).verdict == "unreachable"
    assert refused(tries=1, hopeless=True).verdict == "unreachable"
    assert judge_silence(read=False, sent=True, tries=1).verdict == "unknown-write"
    assert judge_silence(read=True, sent=True, tries=LOST_ATTEMPTS - 1).verdict == "retry"
    assert judge_silence(read=True, sent=True, tries=LOST_ATTEMPTS).verdict == "unreachable"


def test_filters_and_counts_are_reads() -> None:
    """GET and the POSTs that filter or count only read: they are retried freely."""
    assert is_read("GET", "/flows/x")
    assert is_read("POST", "/deployments/filter") and is_read("POST", "/variables/count/")
    assert not is_read("POST", "/deployments/") and not is_read("PATCH", "/deployments/x")


def test_failures_say_one_line_without_echoing_inputs() -> None:
    """A 401 names the credentials; a 422 lists locations and messages, not the values the
    server echoes (they may be secret); a non-JSON body is shown as text."""
    assert "refused the credentials" in str(failure("http://s/api", "GET", "/x", Answer(401)))
    echoed = [{"loc": ["body", "value"], "msg": "too long", "input": "s3cret"}]
    error = failure("u", "POST", "/variables/", Answer(422, {"detail": echoed}))
    assert str(error) == "HTTP 422 on POST /variables/: body.value: too long"
    assert error.status == 422
    plain = failure("u", "GET", "/x", Answer(500, None, "boom\n  here"))
    assert str(plain) == "HTTP 500 on GET /x: boom here"


def test_fatal_errors_are_no_answer_and_refused_credentials() -> None:
    """ApiError.fatal: no status (unreachable), 401 and 403 end a run; absent: 404/405."""
    assert ApiError("x").fatal and ApiError("x", 401).fatal and ApiError("x", 403).fatal
    assert not ApiError("x", 404).fatal and not ApiError("x", 500).fatal
    assert ApiError("x", 404).absent and ApiError("x", 405).absent
    assert not ApiError("x", 403).absent


def test_the_unreachable_wait_is_a_setting() -> None:
    """PFX_UNREACHABLE_AFTER sets the seconds of refusals before a server counts as gone
    (10 by default); anything but a number of seconds is a usage error."""
    assert unreachable_after(None) == unreachable_after("") == UNREACHABLE_AFTER == 10.0
    assert unreachable_after("0.5") == 0.5
    for bad in ("soon", "-1", "nan", "inf"):
        with pytest.raises(UsageError, match="PFX_UNREACHABLE_AFTER"):
            unreachable_after(bad)
