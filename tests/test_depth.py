"""Deeply nested values on a real server: what export writes, verify and import read."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from fixtures.inventory import count_resources
from fixtures.servers import Server
from pfx.jsonline import MAX_DEPTH
from pfx.jsontypes import JSON
from tests.running import load, ok


def nested(depth: int) -> JSON:
    """A value of `depth` nested objects around a scalar."""
    value: JSON = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def deepest_accepted(client: httpx.Client) -> int:
    """The deepest variable value the server accepts, found by bisection (then deleted)."""
    low, high = 1, 1024
    while low < high:
        mid = (low + high + 1) // 2
        answer = client.post("/variables/", json={"name": "probe", "value": nested(mid)})
        if answer.status_code < 300:
            client.delete("/variables/name/probe").raise_for_status()
            low = mid
        else:
            high = mid - 1
    return low


def test_deepest_variables_export_verify_and_import(
    new_servers: Callable[..., list[Server]],
    profiles_env: Callable[..., dict[str, str]],
    tmp_path: Path,
) -> None:
    """Variables nested up to the server's limit export with exit 0; each either travels
    whole to a fresh server or is named in the bundle's skipped list; verify accepts it."""
    src, dst = new_servers("src", "dst")
    env = profiles_env(src=src, dst=dst)
    with httpx.Client(base_url=src.url, timeout=60) as client:
        limit = deepest_accepted(client)
        assert limit >= 200  # Prefect 3 accepts ~254
        # A record line holds the record and `data` around the value: two levels.
        fits = MAX_DEPTH - 2
        depths = sorted({200, min(fits, limit), limit})
        for depth in depths:
            client.post(
                "/variables/", json={"name": f"deep-{depth}", "value": nested(depth)}
            ).raise_for_status()
    path = tmp_path / "deep.pfx"
    ok(env, "export", "-p", "src", "-o", path, "-q")
    ok(env, "verify", path)
    skipped = {s.key: s.reason for s in load(path).manifest.skipped}
    assert set(skipped) == {(f"deep-{d}",) for d in depths if d > fits}
    assert all("nested deeper than" in reason for reason in skipped.values())
    ok(env, "import", path, "-p", "dst")
    want = count_resources(src.url)
    want["variable"] -= len(skipped)
    assert count_resources(dst.url) == want
    with httpx.Client(base_url=dst.url, timeout=60) as client:
        for depth in depths:
            answer = client.get(f"/variables/name/deep-{depth}")
            if depth <= fits:
                assert answer.json()["value"] == nested(depth)
            else:
                assert answer.status_code == 404
