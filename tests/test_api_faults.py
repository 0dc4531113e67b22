"""The API seam under faults, against real servers behind the fault proxy: lost write answers
are never resent, reads ride out resets and 503s, a dead server is one line."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import anyio
import orjson
import pytest

from fixtures.inventory import read_all
from fixtures.proxy import Fault, Proxy
from fixtures.seed import SeedInfo
from fixtures.servers import Server
from pfx.errors import Unreachable, WriteUnknown
from pfx.jsontypes import JSON
from pfx.profiles import Target
from pfx.server.api import Api
from tests.conftest import user_env
from tests.running import by_key, load, ok, pfx


def run(url: str, *steps: tuple[str, str, JSON]) -> list[JSON]:
    """Send `steps` (method, path, body) one after another through pfx's Api at `url`."""

    async def go() -> list[JSON]:
        async with Api(Target(url=url, profile=None)) as api:
            return [await api.request(m, p, b) for m, p, b in steps]

    return anyio.run(go)


def variables(server: Server) -> list[str]:
    return sorted(str(v["name"]) for v in read_all(server.url, "variable"))


def test_lost_write_answer_is_write_unknown_and_sent_once(
    new_server: Callable[[str], Server],
) -> None:
    """A POST whose answer the proxy drops after the server wrote raises WriteUnknown; the
    server saw it exactly once and holds exactly one copy."""
    server = new_server("dst")
    drop = Fault("drop", "POST", r"/variables/$", times=1)
    with Proxy(server.url, faults=[drop]) as proxy:
        with pytest.raises(WriteUnknown) as caught:
            run(proxy.url, ("POST", "/variables/", {"name": "once", "value": 1}))
        assert proxy.count("POST", r"/variables/$") == 1
    assert "\n" not in str(caught.value)
    assert variables(server) == ["once"]


def test_reads_ride_out_resets_and_503s(new_server: Callable[[str], Server]) -> None:
    """Reads reset before forwarding and answered 503 are retried until they succeed, with
    the same answer as a direct read."""
    server = new_server("src")
    run(server.url, *[("POST", "/variables/", {"name": f"v{i}", "value": i}) for i in range(5)])
    faults = [
        Fault("reset", "POST", r"/variables/filter", times=2),
        Fault("503", "POST", r"/variables/filter", times=2),
        Fault("reset", "GET", r"/version", times=1),
    ]
    with Proxy(server.url, faults=faults) as proxy:
        (through,) = run(proxy.url, ("POST", "/variables/filter", {}))
        assert [f.hits for f in faults] == [2, 2, 1]
        assert proxy.count("POST", r"/variables/filter") == 1
    (direct,) = run(server.url, ("POST", "/variables/filter", {}))
    assert through == direct and isinstance(direct, list) and len(direct) == 5


def test_write_refused_with_prefects_503_is_sent_again(
    new_server: Callable[[str], Server],
) -> None:
    """A write answered 503 before it reached the server (as Prefect answers a locked
    database) is sent again and lands once; a gateway-style loss is never resent."""
    server = new_server("dst")
    faults = [Fault("503", "POST", r"/variables/$", times=2)]
    with Proxy(server.url, faults=faults) as proxy:
        run(proxy.url, ("POST", "/variables/", {"name": "again", "value": 1}))
        assert proxy.count("POST", r"/variables/$") == 1
    assert variables(server) == ["again"]


def test_dead_server_is_unreachable_in_one_line(new_server: Callable[[str], Server]) -> None:
    """A server that dies between requests ends the session with Unreachable, one line
    naming the URL."""
    server = new_server("dies")

    async def go() -> None:
        async with Api(Target(url=server.url, profile=None)) as api:
            await api.request("POST", "/variables/filter", {})
            server.stop()
            await api.request("POST", "/variables/filter", {})

    with pytest.raises(Unreachable) as caught:
        anyio.run(go)
    line = str(caught.value)
    assert "\n" not in line and line.startswith("cannot reach http://127.0.0.1:")


def test_export_through_a_flaky_proxy_equals_a_direct_export(
    seeded_source: tuple[Server, SeedInfo], tmp_path: Path
) -> None:
    """`pfx export` through resets, 503s and delays writes the same bundle as a direct one."""
    server, _ = seeded_source
    faults = [
        Fault("reset", "POST|GET", r"/filter|/count|/version", probability=0.05),
        Fault("503", "POST|GET", "", probability=0.05),
    ]
    with Proxy(server.url, delay=0.002, faults=faults, seed=7) as proxy:
        env = user_env(tmp_path, direct=server, flaky=proxy.url)
        ok(env, "export", "-p", "flaky", "-o", tmp_path / "flaky.pfx", "-q")
        assert faults[0].hits > 0 and faults[1].hits > 0
    ok(env, "export", "-p", "direct", "-o", tmp_path / "direct.pfx", "-q")
    assert by_key(load(tmp_path / "flaky.pfx")) == by_key(load(tmp_path / "direct.pfx"))


def test_write_slots_are_handed_over_first_in_first_out() -> None:
    """With one write allowed, waiting writes get the slot one at a time in arrival order,
    and a waiter that gives up in the queue takes no slot."""
    order: list[int] = []

    async def go() -> tuple[int, int]:
        api = Api(Target(url="http://127.0.0.1:9/api", profile=None), concurrency=1)

        async def write(i: int) -> None:
            await api._acquire()
            order.append(i)
            assert api._in_flight == 1
            await anyio.sleep(0.005)
            api._in_flight -= 1
            api._hand_off()

        await api._acquire()
        async with anyio.create_task_group() as tg:
            for i in range(5):
                tg.start_soon(write, i)
                await anyio.sleep(0.001)
            with anyio.move_on_after(0.001):
                await api._acquire()
            api._in_flight -= 1
            api._hand_off()
        await api._http.aclose()
        return api._in_flight, len(api._waiters)

    assert anyio.run(go) == (0, 0)
    assert order == [0, 1, 2, 3, 4]


def test_import_through_lost_answers_lands_each_record_once(
    seeded_source: tuple[Server, SeedInfo],
    new_server: Callable[[str], Server],
    tmp_path: Path,
) -> None:
    """`pfx import` through a proxy that drops the answers of automation and deployment
    creates after the server wrote, and answers some variable creates 503, ends with every
    record once: no create whose answer was lost is sent again."""
    source, _ = seeded_source
    dst = new_server("dst")
    faults = [
        Fault("drop", "POST", r"/automations/$", times=2),
        Fault("drop", "POST", r"/deployments/$", times=2),
        Fault("503", "POST", r"/variables/$", times=3),
        Fault("reset", "POST", r"/filter$", probability=0.03),
    ]
    with Proxy(dst.url, faults=faults, seed=3) as proxy:
        env = user_env(tmp_path, passphrase="lost-answers-passphrase", src=source, dst=proxy.url)
        bundle = tmp_path / "snap.pfx"
        ok(env, "export", "-p", "src", "-o", bundle, "--secrets", "encrypt", "-q")
        imported = pfx(env, "import", bundle, "-p", "dst", "-q", "--report", tmp_path / "r.json")
        assert imported.returncode in (0, 4), imported.stdout + imported.stderr
        assert [f.hits for f in faults[:3]] == [2, 2, 3]
        # Creates the server refused with its own 503 (rolled back) are sent again by design.
        sent = {
            k: proxy.count("POST", rf"/{k}/$") - proxy.count("POST", rf"/{k}/$", status=503)
            for k in ("automations", "deployments")
        }
    outcomes = orjson.loads((tmp_path / "r.json").read_bytes())["outcomes"]
    created = Counter(o["kind"] for o in outcomes if o["status"] == "created")
    # A dropped answer that was a 503 (the server rolled back) wrote nothing: sent again.
    written = sum(1 for f in faults[:2] for status in f.dropped if status < 400)
    assert written >= 2
    assert sum("answer to the create was lost" in str(o.get("reason")) for o in outcomes) == written
    for kind, path in (("automation", "automations"), ("deployment", "deployments")):
        # Every create was acted on once (none resent after a lost answer), leaving one each.
        assert len(read_all(dst.url, kind)) == created[kind] == sent[path] > 2
    assert variables(dst) == sorted(str(v["name"]) for v in read_all(source.url, "variable"))
