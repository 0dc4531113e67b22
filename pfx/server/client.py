"""The HTTP client of a session with one Prefect API, built as Prefect's own client builds it:
the profile's custom headers, then auth (a key or an auth string), TLS settings, timeouts,
proxies from the environment, and keep-alive connections that never outlive the server's.
"""

from __future__ import annotations

import base64
import ssl

import httpx

from pfx.errors import UsageError
from pfx.jsontypes import JSON
from pfx.profiles import Target
from pfx.server.answers import Answer, retry_after

# Sent until the server's own `/version` is known, and where it offers none.
FALLBACK_API_VERSION = "0.8.4"
# Headers Prefect's own client will not let custom headers override.
PROTECTED = frozenset({"user-agent", "prefect-csrf-token", "prefect-csrf-client"})
# Below uvicorn's 5 s keep-alive: a request never goes out on a connection being closed.
KEEPALIVE_S = 4.0


def http_client(target: Target, concurrency: int) -> httpx.AsyncClient:
    """The client for `target`, with room for `concurrency` writes and reads beside them."""
    return httpx.AsyncClient(
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


def reason(error: Exception) -> str:
    """A connection failure in a few words."""
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
        raise UsageError(f"PREFECT_API_SSL_CERT_FILE {verify}: {reason(e)}") from None


def hopeless(error: Exception) -> bool:
    """Connection failures that waiting will not mend (a certificate the client refuses)."""
    return "CERTIFICATE_VERIFY_FAILED" in str(error) or isinstance(error.__context__, ssl.SSLError)


def error_answer(response: httpx.Response) -> Answer:
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
