"""Which server a profile names: resolved exactly as the `prefect` CLI resolves `--profile`.

With a name, the profile's settings win over the environment (as `prefect -p NAME` does);
without one, the active profile as `prefect` picks it (PREFECT_PROFILE, else the profiles
file's `active`; among the user's profiles and those Prefect ships, such as `local`), with
PREFECT_API_URL / PREFECT_API_KEY from the environment over its settings. A PREFECT_PROFILE
that is no profile is what `prefect` makes of it: its warning, then `ephemeral`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from pfx.errors import UsageError

# Seconds of refused or failed connections after which a server counts as gone; the
# environment variable sets another (a CI job that wants a dead server said sooner).
UNREACHABLE_AFTER = 10.0
UNREACHABLE_ENV = "PFX_UNREACHABLE_AFTER"


@dataclass(frozen=True)
class Target:
    """A Prefect API to talk to. Credentials are kept out of repr and never written anywhere."""

    url: str
    profile: str | None
    api_key: str | None = field(default=None, repr=False)
    auth_string: str | None = field(default=None, repr=False)
    # False (PREFECT_API_TLS_INSECURE_SKIP_VERIFY), a CA file (PREFECT_API_SSL_CERT_FILE), or
    # True for the default trust store.
    verify: bool | str = True
    timeout: float = 60.0
    # PREFECT_CLIENT_CUSTOM_HEADERS (e.g. for servers behind IAP or Cloudflare Access): their
    # values can be credentials, so they are kept out of repr like the key.
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    # PREFECT_CLIENT_CSRF_SUPPORT_ENABLED: fetch and send a CSRF token where the server wants one.
    csrf: bool = True
    # Seconds without a connection before the server counts as gone (PFX_UNREACHABLE_AFTER).
    unreachable_after: float = UNREACHABLE_AFTER

    @property
    def public_url(self) -> str:
        """The URL without any user:password part, fit for output, logs and bundles."""
        return redact_url(self.url)

    @property
    def cloud(self) -> bool:
        return "api.prefect.cloud" in self.url or "/accounts/" in self.url


def redact_url(url: str) -> str:
    """`url` with userinfo removed: credentials in URLs never reach output or bundles."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def resolve(profile: str | None) -> Target:
    """The Target for `profile` (None: the active profile plus the environment)."""
    import prefect.context
    from prefect.settings import get_current_settings, load_profiles

    profiles = load_profiles()
    known = ", ".join(sorted(profiles.names)) or "none"
    if profile is None:
        # The profile prefect picked (prefect.context.root_settings_context: PREFECT_PROFILE,
        # else the file's `active`). Its settings source reads only the user's file, so a
        # shipped profile (`local`) named by PREFECT_PROFILE would lose its settings: apply
        # them here, the environment over them, as prefect applies the active profile.
        name = prefect.context.get_settings_context().profile.name
        if name not in profiles.names:
            return _target(get_current_settings(), name)
        with prefect.context.use_profile(profiles[name], override_environment_variables=False):
            return _target(get_current_settings(), name)
    if profile not in profiles.names:
        raise UsageError(f"unknown profile {profile!r} (profiles: {known})")
    with prefect.context.use_profile(profile, override_environment_variables=True):
        return _target(get_current_settings(), profile)


def _target(settings: object, name: str | None) -> Target:
    api = settings.api  # type: ignore[attr-defined]
    client = settings.client  # type: ignore[attr-defined]
    if not api.url:
        where = f"profile {name!r}" if name else "the environment"
        raise UsageError(
            f"{where} sets no PREFECT_API_URL; pfx talks to a running server "
            "(set it with `prefect config set PREFECT_API_URL=...`)"
        )
    verify: bool | str = True
    if api.tls_insecure_skip_verify:
        verify = False
    elif api.ssl_cert_file:
        verify = str(api.ssl_cert_file)
    return Target(
        url=str(api.url).rstrip("/"),
        profile=name,
        api_key=api.key.get_secret_value() if api.key else None,
        auth_string=api.auth_string.get_secret_value() if api.auth_string else None,
        verify=verify,
        timeout=float(api.request_timeout or 60.0),
        headers=tuple((str(k), str(v)) for k, v in (client.custom_headers or {}).items()),
        csrf=bool(client.csrf_support_enabled),
        unreachable_after=unreachable_after(os.environ.get(UNREACHABLE_ENV)),
    )


def unreachable_after(text: str | None) -> float:
    """The seconds PFX_UNREACHABLE_AFTER names (UNREACHABLE_AFTER when unset)."""
    if text is None or not text.strip():
        return UNREACHABLE_AFTER
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise UsageError(f"{UNREACHABLE_ENV}={text!r}: expected a number of seconds, 0 or more")
    return seconds
