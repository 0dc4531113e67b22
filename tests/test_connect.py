"""Connecting as Prefect's own client does: custom headers, CSRF tokens, TLS settings and the
server's API version, against real servers (behind the fault proxy where a gate is needed)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import anyio
import httpx
import pytest

from fixtures.proxy import Proxy
from fixtures.servers import Server, start_server, write_profiles
from fixtures.tls import self_signed
from pfx.errors import Unreachable
from pfx.profiles import Target
from pfx.server.api import Api
from tests.conftest import prefect_free_environ
from tests.running import ok, one_line, pfx

GATE = ("X-Pfx-Gate", "open-sesame-31337")


def profile_env(home: Path, **settings: str) -> dict[str, str]:
    """The environment of a user whose only profile, `p`, holds `settings`."""
    write_profiles(home / "profiles.toml", {"p": settings})
    return prefect_free_environ() | {
        "PREFECT_PROFILES_PATH": str(home / "profiles.toml"),
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_EPHEMERAL_ENABLED": "false",
    }


def test_custom_headers_reach_the_server(
    new_server: Callable[[str], Server], tmp_path: Path
) -> None:
    """Behind a gate that wants a header, the profile's PREFECT_CLIENT_CUSTOM_HEADERS get
    through; without them the gate refuses in one line that never shows the value."""
    server = new_server("gated")
    with Proxy(server.url, require_header=GATE) as proxy:
        headers = json.dumps(dict([GATE]))
        env = profile_env(
            tmp_path / "with", PREFECT_API_URL=proxy.url, PREFECT_CLIENT_CUSTOM_HEADERS=headers
        )
        ok(env, "export", "-p", "p", "-o", tmp_path / "ok.pfx", "-q")
        assert proxy.count() > 0
        bare = profile_env(tmp_path / "without", PREFECT_API_URL=proxy.url)
        refused = pfx(bare, "export", "-p", "p", "-o", tmp_path / "no.pfx")
        quiet = pfx(bare, "export", "-p", "p", "-o", tmp_path / "no.pfx", "-q")
    assert refused.returncode == 69
    # The notice of where it connects, then the error line (-q: that line alone).
    assert "403" in refused.stderr.strip().splitlines()[-1]
    assert one_line(quiet.stderr) == refused.stderr.strip().splitlines()[-1]
    assert GATE[1] not in refused.stdout + refused.stderr
    assert GATE[1].encode() not in (tmp_path / "ok.pfx").read_bytes()


def test_csrf_protected_server_takes_writes(servers_workdir: Path) -> None:
    """A server with CSRF protection refuses a bare write, and takes pfx's: the token is
    fetched and sent as Prefect's own client does."""
    csrf = {"PREFECT_SERVER_CSRF_PROTECTION_ENABLED": "true"}
    with start_server(servers_workdir, "csrf", extra_env=csrf) as server:
        bare = httpx.post(f"{server.url}/variables/", json={"name": "bare", "value": 1})
        assert bare.status_code == 403

        async def go() -> None:
            async with Api(Target(url=server.url, profile=None)) as api:
                for i in range(3):
                    await api.request("POST", "/variables/", {"name": f"v{i}", "value": i})

        anyio.run(go)
        # Even the census's filter is a POST: it needs a token of its own.
        with httpx.Client(base_url=server.url) as client:
            token = client.get("/csrf-token", params={"client": "census"}).json()["token"]
            headers = {"Prefect-Csrf-Token": token, "Prefect-Csrf-Client": "census"}
            names = [v["name"] for v in client.post("/variables/filter", headers=headers).json()]
        assert sorted(names) == ["v0", "v1", "v2"]


@pytest.mark.parametrize("protected", [False, True])
def test_concurrent_writers_ask_for_a_csrf_token_once(
    servers_workdir: Path, protected: bool
) -> None:
    """Twenty writes started at once fetch one token (or learn once that protection is off):
    100 ms away, each extra fetch would cost a round trip while every writer waits."""
    env = {"PREFECT_SERVER_CSRF_PROTECTION_ENABLED": "true" if protected else "false"}
    name = "csrf-once-on" if protected else "csrf-once-off"
    with start_server(servers_workdir, name, extra_env=env) as server, Proxy(server.url) as proxy:

        async def go() -> None:
            async with Api(Target(url=proxy.url, profile=None), concurrency=20) as api:
                api.pace.limit = 20
                async with anyio.create_task_group() as tg:
                    for i in range(20):
                        body = {"name": f"w{i}", "value": i}
                        tg.start_soon(api.request, "POST", "/variables/", body)

        anyio.run(go)
        assert proxy.count("GET", "/csrf-token") == 1
        assert proxy.count("POST", "/variables/$", 201) == 20


def test_tls_settings_are_wired(new_server: Callable[[str], Server], tmp_path: Path) -> None:
    """Over TLS with a self-signed certificate: refused in one line by default, accepted with
    PREFECT_API_TLS_INSECURE_SKIP_VERIFY or with PREFECT_API_SSL_CERT_FILE naming it."""
    server = new_server("tls")
    cert, context = self_signed(tmp_path / "tls")
    with Proxy(server.url, tls=context) as proxy:
        assert proxy.url.startswith("https://")
        plain = profile_env(tmp_path / "plain", PREFECT_API_URL=proxy.url)
        refused = pfx(plain, "export", "-p", "p", "-o", tmp_path / "no.pfx")
        assert refused.returncode == 69
        assert "certificate" in refused.stderr.strip().splitlines()[-1].lower()
        skip = profile_env(
            tmp_path / "skip",
            PREFECT_API_URL=proxy.url,
            PREFECT_API_TLS_INSECURE_SKIP_VERIFY="true",
        )
        ok(skip, "export", "-p", "p", "-o", tmp_path / "skip.pfx", "-q")
        trusted = profile_env(
            tmp_path / "ca", PREFECT_API_URL=proxy.url, PREFECT_API_SSL_CERT_FILE=str(cert)
        )
        ok(trusted, "export", "-p", "p", "-o", tmp_path / "ca.pfx", "-q")

        async def untrusted() -> None:
            async with Api(Target(url=proxy.url, profile=None)):
                pass

        with pytest.raises(Unreachable):
            anyio.run(untrusted)


def test_api_version_header_is_the_servers(new_server: Callable[[str], Server]) -> None:
    """The X-PREFECT-API-VERSION header sent is the one the server reports at `/version`."""
    server = new_server("version")
    reported = httpx.get(f"{server.url}/version").json()

    async def go() -> str:
        async with Api(Target(url=server.url, profile=None)) as api:
            return str(api._http.headers["X-PREFECT-API-VERSION"])

    assert anyio.run(go) == reported
