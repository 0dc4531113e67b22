"""The bench's Cloud-like destination: a fresh server behind the fault proxy (fixtures/proxy.py)
that delays every request (40 ms, then 100 ms) and answers 429 with Retry-After above a
request rate, as Prefect Cloud does. Measures pfx import, the floor and `prefect transfer`
through it, and says which of the issue's Cloud targets they meet.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from bench import floor, measure
from fixtures.inventory import count_resources
from fixtures.proxy import Proxy

if TYPE_CHECKING:
    from pathlib import Path

    from bench.run import Bench

DELAYS_MS = (40, 100)
# Requests per second above which the proxy answers 429 (Retry-After: 1), like Cloud's limit.
RATE = 150.0
FLOOR_LEVELS = (8, 16)


def run(bench: Bench, backend: str, bundle: Path, prepared: floor.Prepared) -> dict[str, Any]:
    """pfx import, the floor and transfer through each delay; census on the server itself."""
    out: dict[str, Any] = {"backend": backend, "rate": RATE, "delays": {}}
    for ms in DELAYS_MS:
        entry: dict[str, Any] = {}
        out["delays"][str(ms)] = entry
        entry["pfx_import"] = _pfx(bench, backend, bundle, ms)
        entry["floor"] = _floor(bench, backend, prepared, ms)
        if not bench.args.skip_transfer:
            entry["transfer"] = _transfer(bench, backend, ms)
    return out


def _proxy(url: str, ms: int) -> Proxy:
    return Proxy(url, delay=ms / 1000, rate=RATE, retry_after=1.0, lifetime=7200.0)


def _pfx(bench: Bench, backend: str, bundle: Path, ms: int) -> dict[str, Any]:
    from bench.run import PASSPHRASE, log

    log(f"{backend}: pfx import through {ms} ms")
    with bench.destination(backend, f"cloud{ms}-pfx") as dst, _proxy(dst.url, ms) as proxy:
        where = bench.run_in(f"{backend}-cloud{ms}-pfx")
        env = measure.user_env(where / "home", {"dst": proxy.url}, passphrase=PASSPHRASE)
        argv = [bench.pfx, "import", str(bundle), "-p", "dst", "-q"]
        proc = measure.run(argv, env, where, tag="import", timeout=7200)
        census = count_resources(dst.url)
        return proc.as_json() | {"census": census} | _seen(proxy)


def _floor(bench: Bench, backend: str, prepared: floor.Prepared, ms: int) -> dict[str, Any]:
    from bench.run import log

    best: dict[str, Any] | None = None
    for level in FLOOR_LEVELS:
        log(f"{backend}: floor through {ms} ms at concurrency {level}")
        with bench.destination(backend, f"cloud{ms}-floor{level}") as dst:
            with _proxy(dst.url, ms) as proxy:
                result = floor.push(prepared, proxy.url, level).as_json() | _seen(proxy)
            result["census"] = count_resources(dst.url)
            result.pop("done_at", None)
        if best is None or result["seconds"] < best["seconds"]:
            best = result
    assert best is not None
    return best


def _transfer(bench: Bench, backend: str, ms: int) -> dict[str, Any]:
    from bench.run import ROOT, log

    log(f"{backend}: prefect transfer through {ms} ms")
    src = bench.source_server
    with bench.destination(backend, f"cloud{ms}-transfer") as dst, _proxy(dst.url, ms) as proxy:
        where = bench.run_in(f"{backend}-cloud{ms}-transfer")
        env = measure.user_env(where / "home", {"src": src.url, "dst": proxy.url})
        env["PYTHONPATH"] = str(ROOT.parent)
        argv = [sys.executable, "-m", "bench.peer", str(where / "requests.json"), "--no-prompt"]
        argv += ["transfer", "--from", "src", "--to", "dst"]
        proc = measure.run(argv, env, where, tag="transfer", timeout=7200)
        census = count_resources(dst.url)
        return proc.as_json() | {"census": census} | _seen(proxy)


def _seen(proxy: Proxy) -> dict[str, Any]:
    """What the proxy saw of a run: the statuses it answered, and its busiest second."""
    answered = {str(status): n for status, n in sorted(proxy.answered.items())}
    return {"answered": answered, "busiest_second": proxy.busiest}


def summarise(results: dict[str, Any], baseline: dict[str, int]) -> None:
    """Add delivered resources and seconds per delivered resource to every Cloud-like run."""
    from bench.report import _user

    for entry in results["delays"].values():
        for run in entry.values():
            delivered = _user(run["census"], baseline)
            run["delivered"] = delivered
            run["seconds_per_resource"] = (
                round(run["seconds"] / delivered, 4) if delivered else None
            )


def table(results: dict[str, Any], direct_import: float | None) -> list[str]:
    """Markdown rows: each tool through each delay, with its 429s and cost per resource."""
    lines = [
        "",
        f"### Cloud-like destination ({results['backend']} behind a proxy: delay per request, "
        f"429 above {results['rate']:g} requests/s)",
        "",
        "| delay | run | wall s | delivered | s per resource | 429s | busiest second (req) "
        "| vs direct pfx import |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    names = (("pfx_import", "pfx import"), ("floor", "floor"), ("transfer", "prefect transfer"))
    for ms, entry in results["delays"].items():
        for key, label in names:
            run = entry.get(key)
            if not run:
                continue
            if key == "floor":
                label = f"floor (concurrency {run.get('concurrency')})"
            vs = f"x{run['seconds'] / direct_import:.2f}" if direct_import else "—"
            per = run.get("seconds_per_resource")
            lines.append(
                f"| {ms} ms | {label} | {run['seconds']:.1f} | {run.get('delivered', '?')} | "
                f"{'—' if per is None else f'{per:.4f}'} | {run['answered'].get('429', 0)} | "
                f"{run.get('busiest_second', '—')} | {vs} |"
            )
    return [*lines, ""]


def targets(
    results: dict[str, Any], direct_import: float | None, direct_floor: float | None = None
) -> list[tuple[str, Any, float, bool, str]]:
    """(target, value, limit, below, note) for the issue's two Cloud-like targets;
    `direct_floor` (s per resource written directly) bounds the 100 ms ratio: no tool
    delivers through the proxy faster than the server takes writes without it."""
    out: list[tuple[str, Any, float, bool, str]] = []
    near = results["delays"].get("40")
    if near and direct_import:
        out.append(
            (
                "pfx import through 40 ms / direct",
                near["pfx_import"]["seconds"] / direct_import,
                1.5,
                True,
                "",
            )
        )
    far = results["delays"].get("100")
    transfer = far.get("transfer") if far else None
    if (
        far
        and transfer
        and transfer.get("seconds_per_resource")
        and far["pfx_import"].get("seconds_per_resource")
    ):
        ratio = far["transfer"]["seconds_per_resource"] / far["pfx_import"]["seconds_per_resource"]
        note = ""
        if direct_floor:
            bound = far["transfer"]["seconds_per_resource"] / direct_floor
            note = (
                f"at most {bound:.2f} here: transfer's s per resource over the direct floor's "
                f"({direct_floor:.4f})"
            )
        out.append(("transfer / pfx, s per resource through 100 ms", ratio, 5.0, False, note))
    return out
