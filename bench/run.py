"""`make bench`: pfx against `prefect transfer` and against the destination's own write floor.

    python -m bench.run --deployments 200 [--backends sqlite,postgres] [--skip-transfer]
                        [--floor-levels 1,2,4,8] [--floor-all] [--repeat R]
                        [--synthetic-scale 10] [--out bench/results]

One run on one machine: a SQLite source seeded with N deployments (the other kinds in
proportion, fixtures/seed.py), one bundle exported from it, and for each destination backend
fresh destinations for `prefect transfer`, `pfx import` and the floor (bench/floor.py).
Resources on each destination are counted on the server afterwards (fixtures/inventory.py).
Results: bench/results/<stamp>-N<N>.json and .md; the markdown is printed. See bench/README.md.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench import cloud, floor, measure, paced, report, synthetic
from bench.postgres import Cluster, PostgresUnavailable, start_cluster
from fixtures.inventory import count_resources
from fixtures.seed import seed
from fixtures.servers import Server, start_server
from pfx.bundlefile import iter_lines

PASSPHRASE = "pfx-bench-passphrase"
ROOT = Path(__file__).resolve().parent
Census = dict[str, int]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    ap.add_argument("--deployments", "-n", type=int, default=200)
    ap.add_argument("--backends", default="sqlite,postgres", help="comma-separated")
    ap.add_argument("--skip-transfer", action="store_true", help="do not run prefect transfer")
    ap.add_argument("--floor-levels", default="1,2,4,8", help="concurrency levels to try")
    ap.add_argument(
        "--floor-all",
        action="store_true",
        help="run every floor level in full (default: stop at the first level no faster than "
        "the best so far, cutting short a level that clearly falls behind it)",
    )
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs of pfx import and of the best floor level; the fastest counts",
    )
    ap.add_argument(
        "--skip-cloud", action="store_true", help="no runs through the Cloud-like proxy"
    )
    ap.add_argument(
        "--max-rate",
        type=int,
        default=600,
        help="the --max-rate row: requests a minute for pfx export and import through the "
        "Cloud-like proxy (0: skip)",
    )
    ap.add_argument("--synthetic-scale", type=int, default=10, help="0: skip the memory test")
    ap.add_argument("--pfx-concurrency", type=int, default=None, help="pfx import --concurrency")
    ap.add_argument("--out", type=Path, default=ROOT / "results")
    ap.add_argument("--work", type=Path, default=ROOT / "work")
    ap.add_argument("--keep", action="store_true", help="keep the work directory's databases")
    return ap.parse_args(argv)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Bench:
    """One benchmark run: owns every server and cluster it starts, and stops them."""

    def __init__(self, args: argparse.Namespace, stack: ExitStack) -> None:
        self.args = args
        self.n = args.deployments
        self.stack = stack
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        self.stamp = f"{stamp}-N{self.n}"
        self.work = (args.work / self.stamp).resolve()
        self.work.mkdir(parents=True, exist_ok=True)
        self.pfx = measure.tool("pfx")
        self.cluster: Cluster | None = None
        self.counter = 0
        self.notes: list[str] = []
        self.results: dict[str, Any] = {"n": self.n, "stamp": self.stamp, "notes": self.notes}
        # Per backend, the census of a fresh destination (system block types and schemas).
        self.baseline: dict[str, Census] = {}

    # --- servers -------------------------------------------------------------------------

    @contextmanager
    def destination(self, backend: str, name: str) -> Iterator[Server]:
        """A fresh, empty destination server on `backend`, stopped (and dropped) afterwards."""
        self.counter += 1
        label = f"{backend}-{name}-{self.counter}"
        url = None
        if backend == "postgres":
            assert self.cluster is not None
            url = self.cluster.create_database(label.replace("-", "_"))
        server = start_server(self.work / "servers", label, database_url=url)
        try:
            if backend not in self.baseline:
                self.baseline[backend] = count_resources(server.url)
            yield server
        finally:
            server.stop()
            if not self.args.keep:
                if url is not None and self.cluster is not None:
                    self.cluster.drop_database(label.replace("-", "_"))
                shutil.rmtree(self.work / "servers" / label, ignore_errors=True)

    def run_in(self, name: str) -> Path:
        path: Path = self.work / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    # --- phases ----------------------------------------------------------------------------

    def source(self) -> Server:
        log(f"starting the source and seeding {self.n} deployments")
        src = start_server(self.work / "servers", "source")
        self.stack.callback(src.stop)
        self.source_server = src
        started = time.perf_counter()
        info = seed(src.url, deployments=self.n)
        self.source_census = count_resources(src.url)
        self.results["source"] = {
            "seed_seconds": round(time.perf_counter() - started, 1),
            "census": self.source_census,
        }
        log(f"seeded in {self.results['source']['seed_seconds']} s: {info.created}")
        return src

    def export(self, src: Server) -> Path:
        log("pfx export")
        where = self.run_in("export")
        bundle = where / "bench.pfx"
        env = measure.user_env(where / "home", {"src": src.url}, passphrase=PASSPHRASE)
        argv = [
            self.pfx,
            "export",
            "-p",
            "src",
            "-o",
            str(bundle),
            "--secrets",
            "encrypt",
            "--force",
        ]
        proc = measure.run([*argv, "--json"], env, where, tag="export")
        if proc.returncode != 0:
            raise RuntimeError(f"pfx export failed ({proc.returncode}): {proc.stderr[-2000:]}")
        summary = orjson.loads(proc.stdout)
        raw = sum(len(line) for line in iter_lines(bundle))
        self.results["export"] = proc.as_json() | {
            "requests": summary.get("requests"),
            "records": summary.get("records"),
            "internal_seconds": summary.get("seconds"),
            "bundle_bytes": bundle.stat().st_size,
            "raw_bytes": raw,
            "compression_ratio": round(raw / bundle.stat().st_size, 2),
        }
        log("read floor of the source")
        self.results["export"]["read_floor"] = floor.read_floor(src.url)
        return bundle

    def startup(self, bundle: Path) -> None:
        """How fast commands start (on a 10-record bundle), and inspect/verify on the real one."""
        log("startup times")
        where = self.run_in("startup")
        env = measure.user_env(where / "home", {})
        small = where / "tiny.pfx"
        synthetic.tiny(bundle, small)
        commands = {
            "pfx --help": [self.pfx, "--help"],
            "pfx inspect": [self.pfx, "inspect", str(small)],
            "pfx verify": [self.pfx, "verify", str(small)],
        }
        medians = {
            name: measure.median_seconds(argv, env, where) for name, argv in commands.items()
        }
        self.results["startup"] = {name: round(wall, 3) for name, (wall, _) in medians.items()}
        self.results["startup_cpu"] = {name: round(cpu, 3) for name, (_, cpu) in medians.items()}
        whole = {
            "pfx inspect": [self.pfx, "inspect", str(bundle)],
            "pfx verify": [self.pfx, "verify", str(bundle)],
        }
        self.results["whole_bundle"] = {
            name: measure.run(argv, env, where, tag="whole").as_json()
            for name, argv in whole.items()
        }

    def transfer(self, backend: str, src: Server) -> dict[str, Any]:
        log(f"{backend}: prefect transfer")
        with self.destination(backend, "transfer") as dst:
            where = self.run_in(f"{backend}-transfer")
            env = measure.user_env(where / "home", {"src": src.url, "dst": dst.url})
            counts = where / "requests.json"
            argv = [sys.executable, "-m", "bench.peer", str(counts), "--no-prompt", "transfer"]
            argv += ["--from", "src", "--to", "dst"]
            env["PYTHONPATH"] = str(ROOT.parent)
            proc = measure.run(argv, env, where, tag="transfer", timeout=3600)
            census = count_resources(dst.url)
        by_host = orjson.loads(counts.read_bytes()) if counts.exists() else {}
        src_host, dst_host = _hostport(src.url), _hostport(dst.url)
        return proc.as_json() | {
            "requests": {
                "source": by_host.get(src_host, 0),
                "destination": by_host.get(dst_host, 0),
                "total": sum(by_host.values()),
            },
            "said": _said(proc.stdout),
            "census": census,
        }

    def pfx_import(self, backend: str, bundle: Path) -> dict[str, Any]:
        log(f"{backend}: pfx import")
        with self.destination(backend, "pfx") as dst:
            where = self.run_in(f"{backend}-pfx")
            env = measure.user_env(where / "home", {"dst": dst.url}, passphrase=PASSPHRASE)
            rep = where / "report.json"
            argv = [
                self.pfx,
                "import",
                str(bundle),
                "-p",
                "dst",
                "--report",
                str(rep),
                "-q",
                "--force",
            ]
            if self.args.pfx_concurrency:
                argv += ["--concurrency", str(self.args.pfx_concurrency)]
            proc = measure.run(argv, env, where, tag="import", timeout=3600)
            census = count_resources(dst.url)
        data = orjson.loads(rep.read_bytes()) if rep.exists() else {}
        outcomes = data.get("outcomes", [])
        statuses: dict[str, int] = {}
        for o in outcomes:
            statuses[o["status"]] = statuses.get(o["status"], 0) + 1
        failed = [
            f"{o['kind']} {'/'.join(o['key'])}: {o['reason'][:160]}"
            for o in outcomes
            if o["status"] == "failed"
        ]
        return proc.as_json() | {
            "requests": data.get("requests"),
            "internal_seconds": data.get("seconds"),
            "statuses": statuses,
            "failed": failed[:10],
            "census": census,
            "tail": proc.stdout.strip().splitlines()[-1:] if proc.stdout.strip() else [],
        }

    def floor_runs(self, backend: str, prepared: floor.Prepared) -> dict[str, Any]:
        """The floor at each concurrency level, from 1 up, until a level falls behind the
        best so far (it is then stopped early, see floor.push); `--floor-all` runs every
        level in full. `--repeat` reruns the best level."""
        levels = [int(x) for x in self.args.floor_levels.split(",") if x.strip()]
        runs: list[dict[str, Any]] = []
        best: floor.FloorRun | None = None
        best_json: dict[str, Any] | None = None
        for level in levels:
            log(f"{backend}: floor at concurrency {level}")
            beat = None if self.args.floor_all else best
            with self.destination(backend, f"floor{level}") as dst:
                result = floor.push(prepared, dst.url, level, beat=beat)
                as_json = result.as_json()
                as_json["census"] = count_resources(dst.url)
            runs.append(as_json)
            if result.aborted:
                assert best is not None
                self.notes.append(
                    f"{backend} floor: concurrency {level} fell behind concurrency "
                    f"{best.concurrency} after {len(result.done_at)} creates; stopped there"
                )
                break
            if best is None or result.seconds < best.seconds:
                best, best_json = result, as_json
            elif not self.args.floor_all:
                self.notes.append(
                    f"{backend} floor: concurrency {level} ({result.seconds:.1f} s) no faster "
                    f"than {best.concurrency} ({best.seconds:.1f} s); stopped there"
                )
                break
        assert best is not None and best_json is not None
        seconds = [best.seconds]
        for _ in range(self.args.repeat - 1):
            level = best.concurrency
            log(f"{backend}: floor at concurrency {level}, again")
            with self.destination(backend, f"floor{level}") as dst:
                again = floor.push(prepared, dst.url, level)
                again_json = again.as_json()
                again_json["census"] = count_resources(dst.url)
            runs.append(again_json)
            seconds.append(again.seconds)
            if again.seconds < best.seconds:
                best, best_json = again, again_json
        best_json["all_seconds"] = [round(x, 3) for x in seconds]
        return {"runs": runs, "best": best_json}

    def memory(self, bundle: Path) -> None:
        scale = self.args.synthetic_scale
        if scale <= 0:
            return
        log(f"memory: synthetic bundles x1 and x{scale}")
        where = self.run_in("memory")
        names = ("verify", "inspect", "dry_run")
        out: dict[str, Any] = {"scale": scale, "records": {}} | {name: {} for name in names}
        with self.destination("sqlite", "empty") as empty:
            env = measure.user_env(where / "home", {"empty": empty.url})
            for k in (1, scale):
                path = where / f"synthetic-x{k}.pfx"
                records, size = synthetic.build(bundle, path, k)
                out["records"][str(k)] = records
                out.setdefault("bundle_bytes", {})[str(k)] = size
                argvs = {
                    "verify": ["verify", str(path)],
                    "inspect": ["inspect", str(path)],
                    "dry_run": ["import", str(path), "-p", "empty", "--dry-run"],
                }
                for name in names:
                    proc = measure.run([self.pfx, *argvs[name]], env, where, tag=f"{name}{k}")
                    # A dry run exits 6 when it would write, 4 when secrets are withheld.
                    if proc.returncode not in (0, 4, 6):
                        self.notes.append(f"memory x{k} {name}: exit {proc.returncode}")
                    out[name][str(k)] = proc.as_json()
        for name in names:
            one, many = out[name]["1"]["peak_rss_mb"], out[name][str(scale)]["peak_rss_mb"]
            out.setdefault("growth", {})[name] = round(many / one, 2)
        self.results["memory"] = out

    # --- the whole run -----------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        started = time.perf_counter()
        backends = [b.strip() for b in self.args.backends.split(",") if b.strip()]
        pg_version = None
        if "postgres" in backends:
            try:
                self.cluster = start_cluster(self.work / "postgres")
                self.stack.callback(self.cluster.stop)
                self.cluster.prepare_template(self.work / "postgres")
                pg_version = self.cluster.version
            except (PostgresUnavailable, RuntimeError, OSError) as e:
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                self.notes.append(f"postgres backend skipped: {first}")
                log(f"postgres skipped: {e}")
                backends.remove("postgres")
        self.results["machine"] = measure.machine()
        self.results["versions"] = measure.versions(pg_version)
        self.results["options"] = {
            "backends": backends,
            "transfer": not self.args.skip_transfer,
            "floor_levels": self.args.floor_levels,
            "pfx_concurrency": self.args.pfx_concurrency,
        }
        src = self.source()
        bundle = self.export(src)
        self.startup(bundle)
        prepared = floor.prepare(bundle, PASSPHRASE)
        self.results["backends"] = {}
        for backend in backends:
            entry: dict[str, Any] = {}
            self.results["backends"][backend] = entry
            entry["floor"] = self.floor_runs(backend, prepared)
            imports = [self.pfx_import(backend, bundle) for _ in range(max(1, self.args.repeat))]
            fastest = min(imports, key=lambda run: run["seconds"])
            fastest["all_seconds"] = [run["seconds"] for run in imports]
            entry["pfx_import"] = fastest
            if not self.args.skip_transfer:
                entry["transfer"] = self.transfer(backend, src)
            entry["baseline"] = self.baseline.get(backend, {})
            report.summarise(entry, self.source_census, self.results["export"])
        if backends and not self.args.skip_cloud:
            # Prefect Cloud keeps its data in PostgreSQL; SQLite takes one writer at a time,
            # so behind the proxy it would measure its lock, not how latency is hidden.
            far = "postgres" if "postgres" in backends else backends[0]
            results = cloud.run(self, far, bundle, prepared)
            cloud.summarise(results, self.baseline.get(far, {}))
            self.results["cloud"] = results
        if backends and self.args.max_rate:
            far = "postgres" if "postgres" in backends else backends[0]
            self.results["paced"] = paced.run(self, far, bundle, self.args.max_rate)
        self.memory(bundle)
        self.results["seconds_total"] = round(time.perf_counter() - started, 1)
        self.results["targets"] = report.targets(self.results)
        return self.results


def _said(stdout: str) -> dict[str, int] | None:
    """The peer's own closing count ("N succeeded, M failed, K skipped"), if it printed one."""
    found = re.search(r"(\d+) succeeded, (\d+) failed, (\d+) skipped", stdout)
    if not found:
        return None
    return dict(zip(("succeeded", "failed", "skipped"), map(int, found.groups()), strict=True))


def _hostport(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}"


def main(argv: list[str] | None = None, *, out: Callable[[str], None] = print) -> int:
    args = parse_args(argv)
    with ExitStack() as stack:
        bench = Bench(args, stack)
        results = bench.run()
    args.out.mkdir(parents=True, exist_ok=True)
    json_path = args.out / f"{bench.stamp}.json"
    md_path = args.out / f"{bench.stamp}.md"
    json_path.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n")
    text = report.markdown(results)
    md_path.write_text(text)
    out(text)
    log(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
