"""The CSRF token a protected Prefect server issued to this client, kept as Prefect's own
client keeps it (a client id, the token, its expiry); api.py fetches and sends it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import anyio

from pfx.errors import ApiError
from pfx.jsontypes import JSON

# Fetch a new token this long before the old one expires.
MARGIN = timedelta(seconds=30)


@dataclass
class CsrfToken:
    """The CSRF token a protected server issued to this client, as Prefect's client keeps it."""

    enabled: bool
    client: str = field(default_factory=lambda: str(uuid.uuid4()))
    token: str | None = field(default=None, repr=False)
    expires: datetime | None = None
    lock: anyio.Lock = field(default_factory=anyio.Lock)

    def fresh(self) -> bool:
        if self.token is None:
            return False
        return self.expires is None or datetime.now(UTC) + MARGIN < self.expires

    def accept(self, answer: JSON) -> None:
        if not isinstance(answer, dict) or not isinstance(answer.get("token"), str):
            raise ApiError("the server answered /csrf-token without a token")
        self.token = str(answer["token"])
        expiration = answer.get("expiration")
        try:
            expires = datetime.fromisoformat(expiration) if isinstance(expiration, str) else None
        except ValueError:
            expires = None
        if expires is not None and expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        self.expires = expires

    def headers(self) -> dict[str, str]:
        return {"Prefect-Csrf-Token": self.token or "", "Prefect-Csrf-Client": self.client}
