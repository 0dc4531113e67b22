"""The bench's `--max-rate` row: pfx export and pfx import through the Cloud-like proxy
(bench/cloud.py's: 40 ms per request, 429 above its rate) with `--max-rate N`, and the pace the
proxy saw: requests a minute from the first to the last, the busiest minute and second. The
target: the achieved rate within 5% of the cap, and no minute nor second above its share
(`pfx/server/pace.py`, Cadence: evenly spaced, no burst).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bench import measure
from bench.cloud import RATE
from fixtures.proxy import Proxy

if TYPE_CHECKING:
    from pathlib import Path

    from bench.run import Bench

DELAY_MS = 40
# The achieved rate must be within this share of the cap.
WITHIN = 0.05
# Seconds a window is taken shorter by: a request sent on time may reach the proxy a little
# later than the next one (scheduling, the loopback), which is not a burst pfx made.
JITTER = 0.02


def run(bench: Bench, backend: str, bundle: Path, cap: int) -> dict[str, Any]:
    """pfx export (of the bench's source) and pfx import (into a fresh destination on
    `backend`) through the proxy at `--max-rate cap`."""
    from bench.run import PASSPHRASE, log

    out: dict[str, Any] = {"cap": cap, "delay_ms": DELAY_MS, "runs": {}}
    log(f"pfx export through {DELAY_MS} ms at --max-rate {cap}")
    with _proxy(bench.source_server.url) as proxy:
        where = bench.run_in(f"paced-export-{cap}")
        env = measure.user_env(where / "home", {"src": proxy.url}, passphrase=PASSPHRASE)
        argv = [bench.pfx, "export", "-p", "src", "-o", str(where / "paced.pfx"), "-q", "--force"]
        argv += ["--max-rate", str(cap)]
        proc = measure.run(argv, env, where, tag="export", timeout=7200)
        out["runs"]["export"] = proc.as_json() | pace(proxy.arrivals, cap)
    log(f"{backend}: pfx import through {DELAY_MS} ms at --max-rate {cap}")
    with bench.destination(backend, f"paced{cap}") as dst, _proxy(dst.url) as proxy:
        where = bench.run_in(f"{backend}-paced-import-{cap}")
        env = measure.user_env(where / "home", {"dst": proxy.url}, passphrase=PASSPHRASE)
        argv = [bench.pfx, "import", str(bundle), "-p", "dst", "-q", "--max-rate", str(cap)]
        proc = measure.run(argv, env, where, tag="import", timeout=7200)
        out["runs"]["import"] = proc.as_json() | pace(proxy.arrivals, cap)
    return out


def _proxy(url: str) -> Proxy:
    return Proxy(url, delay=DELAY_MS / 1000, rate=RATE, retry_after=1.0, lifetime=7200.0)


def pace(arrivals: Sequence[float], cap: int) -> dict[str, Any]:
    """What the proxy saw of one run: requests, their rate a minute from the first to the
    last, the most in any 60 s and any 1 s window, and whether that keeps the cap (module doc)."""
    times = sorted(arrivals)
    n = len(times)
    span = times[-1] - times[0] if n > 1 else 0.0
    achieved = (n - 1) / span * 60 if span > 0 else None
    minute = _busiest(times, 60.0 - JITTER)
    second = _busiest(times, 1.0 - JITTER)
    share = math.ceil(cap / 60)
    kept = (
        achieved is not None
        and abs(achieved - cap) <= WITHIN * cap
        and minute <= cap
        and second <= share
    )
    return {
        "requests_seen": n,
        "span_seconds": round(span, 2),
        "achieved_per_minute": None if achieved is None else round(achieved, 1),
        "busiest_minute": minute,
        "busiest_second": second,
        "second_share": share,
        "kept": kept,
    }


def _busiest(times: Sequence[float], window: float) -> int:
    """The most of `times` (sorted) inside any half-open window of `window` seconds."""
    best = start = 0
    for end, t in enumerate(times):
        while times[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def table(results: dict[str, Any]) -> list[str]:
    """Markdown rows: each paced run, its requests and the pace the proxy saw."""
    cap = results["cap"]
    lines = [
        "",
        f"### --max-rate {cap} (requests a minute) through the Cloud-like proxy "
        f"({results['delay_ms']} ms per request)",
        "",
        "| run | wall s | requests seen | achieved / min | vs cap | busiest minute "
        "| busiest second (share) | kept |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, run in results["runs"].items():
        achieved = run.get("achieved_per_minute")
        vs = f"{achieved / cap - 1:+.1%}" if achieved else "—"
        lines.append(
            f"| pfx {name} | {run['seconds']:.1f} | {run['requests_seen']} | "
            f"{achieved if achieved is not None else '—'} | {vs} | {run['busiest_minute']} | "
            f"{run['busiest_second']} ({run['second_share']}) | "
            f"{'yes' if run['kept'] else 'NO'} |"
        )
    return [*lines, ""]
