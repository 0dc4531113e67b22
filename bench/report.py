"""Turn one run's measurements into ratios, target verdicts and a markdown report.

Resources are counted as *user* resources: a destination's census minus the census of a
fresh destination (the system block types and schemas every server registers itself).
"Deliverable" is the source's census minus what an OSS destination cannot hold: push and
managed work pools and everything that depends on them (as the floor found them).
"""

from __future__ import annotations

from typing import Any

from bench import cloud, paced
from fixtures.inventory import KINDS

RUNS = (("transfer", "prefect transfer"), ("pfx_import", "pfx import"), ("floor", "floor"))

# The commands whose memory the synthetic bundles measure (issue 11: <= 200 MB, < 1.5x growth).
MEMORY_ROWS = (
    ("verify", "pfx verify"),
    ("inspect", "pfx inspect"),
    ("dry_run", "pfx import --dry-run"),
)


def _user(census: dict[str, int], baseline: dict[str, int]) -> int:
    return sum(max(0, census.get(k, 0) - baseline.get(k, 0)) for k in KINDS)


def summarise(entry: dict[str, Any], source: dict[str, int], export: dict[str, Any]) -> None:
    """Add `expected`, per-run `delivered` and `ratios` to one backend's entry."""
    baseline = entry.get("baseline", {})
    best = entry["floor"]["best"]
    skipped = best.get("skipped_by_kind", {})
    expected = {k: source.get(k, 0) - skipped.get(k, 0) for k in KINDS}
    entry["expected"] = expected
    for name, _ in RUNS:
        run = entry.get(name)
        if not run:
            continue
        census = run["census"] if name != "floor" else best["census"]
        missing = {
            k: expected[k] - census.get(k, 0) for k in KINDS if census.get(k, 0) != expected[k]
        }
        run["delivered"] = {
            "present": _user(census, baseline),
            "deliverable": _user(expected, baseline),
            "source": _user(source, baseline),
            "missing_by_kind": missing,
            "complete": not missing,
        }
    ratios: dict[str, float | None] = {}
    pfx = entry["pfx_import"]
    pfx_total = export["seconds"] + pfx["seconds"]
    entry["pfx_total_seconds"] = round(pfx_total, 3)
    transfer = entry.get("transfer")
    ratios["pfx_over_transfer"] = round(pfx_total / transfer["seconds"], 3) if transfer else None
    ratios["import_over_floor"] = round(pfx["seconds"] / best["seconds"], 3)
    read = export.get("read_floor")
    ratios["export_over_read_floor"] = (
        round(export["seconds"] / read["seconds"], 3) if read and read.get("seconds") else None
    )
    # The floor of what export reads in all: listings, then owner lookups.
    ratios["export_over_reads_with_owners"] = (
        round(export["seconds"] / (read["seconds"] + read["owners_seconds"]), 3)
        if read and "owners_seconds" in read
        else None
    )
    # What each tool cost per resource it actually delivered (census), so that a tool that
    # delivers less does not look faster for it.
    ratios["pfx_s_per_resource"] = _per(pfx_total, pfx["delivered"]["present"])
    if transfer:
        ratios["transfer_s_per_resource"] = _per(
            transfer["seconds"], transfer["delivered"]["present"]
        )
        pfx_per, peer_per = ratios["pfx_s_per_resource"], ratios["transfer_s_per_resource"]
        ratios["transfer_over_pfx_per_resource"] = (
            round(peer_per / pfx_per, 3) if pfx_per and peer_per else None
        )
    entry["ratios"] = ratios


def _per(seconds: float, delivered: int) -> float | None:
    return round(seconds / delivered, 4) if delivered else None


def _verdict(
    name: str,
    value: float | None,
    limit: float,
    scope: str = "",
    *,
    below: bool = True,
    note: str = "",
) -> dict[str, Any]:
    met = None if value is None else (value <= limit if below else value >= limit)
    return {
        "target": name,
        "value": value,
        "limit": limit,
        "met": met,
        "scope": scope,
        "note": note,
    }


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the issue with this run's value; `scope` says where the issue sets it."""
    n = results["n"]
    out: list[dict[str, Any]] = []
    for backend, entry in results.get("backends", {}).items():
        r = entry["ratios"]
        d = entry["pfx_import"]["delivered"]
        share = d["present"] / d["deliverable"] if d["deliverable"] else None
        short = "" if d["complete"] else f"pfx delivered {d['present']} of {d['deliverable']}"
        transfer = entry.get("transfer")
        peer = ""
        if transfer:
            t = transfer["delivered"]
            peer = f"transfer delivered {t['present']} of {t['deliverable']}"
        out.append(
            _verdict(
                f"{backend}: pfx export+import / transfer",
                r["pfx_over_transfer"],
                1 / 3,
                note="; ".join(x for x in (short, peer) if x),
            )
        )
        out.append(
            _verdict(f"{backend}: pfx share of deliverable resources", share, 1.0, below=False)
        )
        out.append(
            _verdict(f"{backend}: pfx import / floor", r["import_over_floor"], 1.1, note=short)
        )
        out.append(
            _verdict(
                f"{backend}: pfx import peak RSS (MB)", entry["pfx_import"]["peak_rss_mb"], 200
            )
        )
    export = results["export"]
    scope = "N=1000" if n != 1000 else ""
    first = next(iter(results.get("backends", {}).values()), None)
    if first is not None and first["ratios"].get("export_over_read_floor") is not None:
        value = first["ratios"]["export_over_read_floor"]
        out.append(_verdict("export / source read floor", value, 1.1, scope))
    out.append(_verdict("export peak RSS (MB)", export["peak_rss_mb"], 200, scope))
    memory = results.get("memory")
    if memory:
        scale = memory["scale"]
        # The issue sets these on 10x a scale-200 source (~8k records); 10x N=1000 is 22k.
        small = "N=200" if n != 200 else ""
        for name, label in MEMORY_ROWS:
            if name not in memory:
                continue  # results from before the row existed
            rss = memory[name][str(scale)]["peak_rss_mb"]
            out.append(_verdict(f"{label} peak RSS x{scale} (MB)", rss, 200, small))
            out.append(
                _verdict(
                    f"{label} peak RSS growth x1 -> x{scale}", memory["growth"][name], 1.5, small
                )
            )
        verify = memory.get("verify", {}).get(str(scale))
        if verify:
            cpu = verify.get("cpu_s")
            note = f"CPU {cpu:.2f} s; load {verify.get('load_1m', 0):.1f}" if cpu else ""
            out.append(
                _verdict(
                    f"`pfx verify` x{scale} wall (s)", verify["seconds"], 1.0, small, note=note
                )
            )
    for command, seconds in results.get("startup", {}).items():
        out.append(_verdict(f"`{command}` startup (s)", seconds, 0.5))
    if results.get("cloud"):
        targets = cloud.targets(results["cloud"], _direct_import(results), _direct_floor(results))
        for name, value, limit, below, note in targets:
            out.append(_verdict(name, round(value, 3), limit, below=below, note=note))
    if results.get("paced"):
        cap = results["paced"]["cap"]
        for name, run in results["paced"]["runs"].items():
            achieved = run.get("achieved_per_minute")
            off = None if achieved is None else round(abs(achieved / cap - 1), 4)
            note = f"{achieved}/min; busiest minute {run['busiest_minute']} (cap {cap})"
            target = f"pfx {name} --max-rate {cap}: achieved off the cap by"
            out.append(_verdict(target, off, paced.WITHIN, note=note))
    return out


def _cloud_backend(results: dict[str, Any]) -> dict[str, Any] | None:
    """The direct runs on the backend the Cloud-like runs used."""
    entry: dict[str, Any] | None = results.get("backends", {}).get(results["cloud"]["backend"])
    return entry


def _direct_import(results: dict[str, Any]) -> float | None:
    """Seconds of the direct pfx import on the backend the Cloud-like runs used."""
    entry = _cloud_backend(results)
    return float(entry["pfx_import"]["seconds"]) if entry else None


def _direct_floor(results: dict[str, Any]) -> float | None:
    """Seconds per delivered resource of the best direct floor on the Cloud-like backend:
    no tool delivers faster through a proxy than the server takes writes without one."""
    entry = _cloud_backend(results)
    if not entry:
        return None
    present = entry["floor"]["delivered"]["present"]
    return float(entry["floor"]["best"]["seconds"]) / present if present else None


def _fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _delivered(run: dict[str, Any]) -> str:
    d = run.get("delivered")
    if not d:
        return "—"
    share = 100.0 * d["present"] / d["deliverable"] if d["deliverable"] else 0.0
    return f"{d['present']} / {d['deliverable']} ({share:.0f}%)"


def _load(run: dict[str, Any]) -> str:
    return f"; load {run['load_1m']:.1f}" if "load_1m" in run else ""


def _runs(run: dict[str, Any]) -> str:
    """`; runs: a, b s` when a measurement was repeated (the fastest is shown)."""
    seconds = run.get("all_seconds") or []
    if len(seconds) < 2:
        return ""
    return "; runs: " + ", ".join(f"{x:.1f}" for x in seconds) + " s"


def _backend_table(backend: str, entry: dict[str, Any], export: dict[str, Any]) -> list[str]:
    r = entry["ratios"]
    lines = [
        f"### Destination: {backend}",
        "",
        "| run | wall s | HTTP requests | peak RSS MB | user resources on destination "
        "(of deliverable) | s per delivered resource | notes |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    transfer = entry.get("transfer")
    if transfer:
        req = transfer["requests"]
        said = transfer.get("said") or {}
        note = f"exit {transfer['returncode']}"
        if said:
            note += (
                f"; says {said['succeeded']} ok, {said['failed']} failed, {said['skipped']} skipped"
            )
        lines.append(
            f"| prefect transfer | {_fmt(transfer['seconds'])} | {req['total']} "
            f"(src {req['source']}, dst {req['destination']}) | {_fmt(transfer['peak_rss_mb'])} | "
            f"{_delivered(transfer)} | {_fmt(r.get('transfer_s_per_resource'), 4)} | "
            f"{note}{_load(transfer)} |"
        )
    read = export.get("read_floor")
    if read:
        top = next(iter(read["by_listing"].items()), ("", 0.0))
        lines.append(
            f"| source read floor | {_fmt(read['seconds'])} | {read['requests']} | — | — | — | "
            f"every listing export reads, paged; slowest {top[0]} {top[1]:.1f} s |"
        )
        if "owners_seconds" in read:
            lines.append(
                f"| + owner lookups | {_fmt(read['owners_seconds'])} | "
                f"{read['owners_requests']} | — | — | — | one `related-to` per deployment, "
                "8 in flight, after the listings (export reads them too) |"
            )
    lines.append(
        f"| pfx export | {_fmt(export['seconds'])} | {export['requests']} | "
        f"{_fmt(export['peak_rss_mb'])} | — | — | {export['records']} records, "
        f"{export['bundle_bytes'] / 1024:.0f} KiB (x{export['compression_ratio']} zstd)"
        f"{_load(export)} |"
    )
    pfx = entry["pfx_import"]
    statuses = ", ".join(f"{v} {k}" for k, v in sorted(pfx["statuses"].items()))
    lines.append(
        f"| pfx import | {_fmt(pfx['seconds'])} | {pfx['requests']} | {_fmt(pfx['peak_rss_mb'])} "
        f"| {_delivered(pfx)} | {_fmt(_per(pfx['seconds'], pfx['delivered']['present']), 4)} "
        f"| exit {pfx['returncode']}; {statuses}{_runs(pfx)}{_load(pfx)} |"
    )
    total_req = (export["requests"] or 0) + (pfx["requests"] or 0)
    lines.append(
        f"| **pfx export+import** | **{_fmt(entry['pfx_total_seconds'])}** | {total_req} | "
        f"{_fmt(max(export['peak_rss_mb'], pfx['peak_rss_mb']))} | {_delivered(pfx)} | "
        f"**{_fmt(r.get('pfx_s_per_resource'), 4)}** | |"
    )
    best = entry["floor"]["best"]
    for run in entry["floor"]["runs"]:
        mark = " (best)" if run is best else ""
        wall = _fmt(run["seconds"])
        note = f"{run['retries']} retried (503/429), {run['failed']} failed{_runs(run)}"
        if run.get("aborted"):
            wall = "cut short"
            note = (
                f"cut short as slower than the best after {run['created']} creates "
                f"({run['seconds']:.1f} s); {note}"
            )
        lines.append(
            f"| floor, {run['concurrency']} in flight{mark} | {wall} | "
            f"{run['requests']} | — | {_delivered(entry['floor']) if mark else '—'} | — | "
            f"{note}{_load(run)} |"
        )
    lines += [
        "",
        f"pfx export+import / prefect transfer: **{_fmt(r['pfx_over_transfer'], 2)}** "
        f"(target ≤ 0.33); per delivered resource: "
        f"**{_fmt(r.get('transfer_over_pfx_per_resource'), 2)}x** faster; "
        f"pfx import / floor: **{_fmt(r['import_over_floor'], 2)}** (target ≤ 1.1); "
        f"pfx export / source read floor: **{_fmt(r.get('export_over_read_floor'), 2)}** "
        "(target ≤ 1.1), over the floor with owner lookups: "
        f"**{_fmt(r.get('export_over_reads_with_owners'), 2)}**",
        "",
    ]
    return lines


def _census_table(results: dict[str, Any]) -> list[str]:
    source = results["source"]["census"]
    cols: list[tuple[str, dict[str, int]]] = []
    for backend, entry in results["backends"].items():
        cols.append((f"{backend} fresh", entry.get("baseline", {})))
        cols.append((f"{backend} deliverable", entry["expected"]))
        for name, label in RUNS:
            run = entry.get(name)
            if run:
                census = run["census"] if name != "floor" else run["best"]["census"]
                cols.append((f"{backend} {label}", census))
    lines = [
        "### Census per kind (counted on each server afterwards)",
        "",
        "| kind | source | " + " | ".join(c for c, _ in cols) + " |",
        "|---|---:|" + "---:|" * len(cols),
    ]
    for kind in KINDS:
        cells = " | ".join(str(census.get(kind, 0)) for _, census in cols)
        lines.append(f"| {kind} | {source.get(kind, 0)} | {cells} |")
    return lines


def markdown(results: dict[str, Any]) -> str:
    m, v = results["machine"], results["versions"]
    export = results["export"]
    lines = [
        f"## pfx bench, N={results['n']} deployments ({results['stamp']})",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM, {m['os']}. "
        + "Versions: "
        + ", ".join(f"{k} {val}" for k, val in v.items() if val)
        + ".",
        f"Source: SQLite, seeded in {results['source']['seed_seconds']} s; "
        f"total bench time {results.get('seconds_total', '?')} s.",
        "",
    ]
    for backend, entry in results["backends"].items():
        lines += _backend_table(backend, entry, export)
    if results.get("cloud"):
        lines += cloud.table(results["cloud"], _direct_import(results))
    if results.get("paced"):
        lines += paced.table(results["paced"])
    lines += _census_table(results)
    lines += ["", "### Startup and memory", ""]
    cpu = results.get("startup_cpu", {})
    for command, seconds in results.get("startup", {}).items():
        used = f", CPU {cpu[command]:.2f} s" if command in cpu else ""
        lines.append(
            f"- `{command}` start: {seconds:.2f} s wall{used} (median of 5, 10-record bundle)"
        )
    for command, run in results.get("whole_bundle", {}).items():
        lines.append(
            f"- `{command}` of the whole N={results['n']} bundle: {run['seconds']:.2f} s, "
            f"peak RSS {run['peak_rss_mb']:.0f} MB"
        )
    memory = results.get("memory")
    if memory:
        s = str(memory["scale"])
        for name, label in MEMORY_ROWS:
            if name not in memory:
                continue
            one, many = memory[name]["1"], memory[name][s]
            lines.append(
                f"- `{label}`, synthetic bundle x1 ({memory['records']['1']} records) -> "
                f"x{s} ({memory['records'][s]} records): peak RSS {one['peak_rss_mb']:.0f} -> "
                f"{many['peak_rss_mb']:.0f} MB (x{memory['growth'][name]}), wall "
                f"{one['seconds']:.1f} -> {many['seconds']:.1f} s"
            )
    lines += [
        f"- bundle: {export['bundle_bytes']} bytes compressed, {export['raw_bytes']} raw "
        f"(x{export['compression_ratio']})",
        "",
        "### Targets",
        "",
        "| target | value | limit | met | note |",
        "|---|---:|---:|---|---|",
    ]
    for t in results.get("targets", []):
        met = {True: "yes", False: "**no**", None: "—"}[t["met"]]
        scope = f" (set for {t['scope']})" if t["scope"] else ""
        value = t["value"]
        shown = "—" if value is None else (f"{value:.3g}" if isinstance(value, float) else value)
        lines.append(
            f"| {t['target']}{scope} | {shown} | {t['limit']:.3g} | {met} | {t.get('note', '')} |"
        )
    if results.get("notes"):
        lines += ["", "Notes:", *[f"- {note}" for note in results["notes"]]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """`python -m bench.report RESULT.json`: recompute verdicts and print the markdown."""
    import sys
    from pathlib import Path

    import orjson

    results = orjson.loads(Path((argv or sys.argv[1:])[0]).read_bytes())
    for entry in results.get("backends", {}).values():
        best = entry["floor"]["best"]
        entry["floor"]["best"] = next((r for r in entry["floor"]["runs"] if r == best), best)
        summarise(entry, results["source"]["census"], results["export"])
    results["targets"] = targets(results)
    print(markdown(results), end="")


if __name__ == "__main__":
    main()
