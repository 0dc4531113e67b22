"""`make bench` (backups part): what a backup costs against an export, and how `snapshots` and
`log` scale with the number of snapshots, on a real S3-compatible store (moto_server).

    python -m bench.backups --deployments 1000 [--snapshots 1000] [--repeat 3]

Targets (issue 17): an unchanged server backed up again costs no more than its export's reads
and writes no bundle; a backup to S3 within 1.2x of the export to a local file; `snapshots`
over 1,000 snapshots under 1 s and `log` of one record across them under 10 s, memory flat
(peak RSS at 1,000 snapshots over that at 100). Results: bench/results/<stamp>-backups-N<N>.json
and .md. See bench/README.md.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from bench import measure
from fixtures.objectstore import ObjectStore, start_object_store
from fixtures.seed import seed
from fixtures.servers import start_server
from pfx import bundle as codec
from pfx import bundlefile
from pfx.authenticity import open_keys
from pfx.model import Record
from pfx.repository.hashes import record_hashes, snapshot_entry
from pfx.repository.hashfile import encode_records
from pfx.repository.model import RECORD_PACKS, SnapshotEntry, format_time
from pfx.repository.repo import (
    COMPACT_AT,
    Repository,
    bundle_name,
    entry_name,
    records_name,
    server_identity,
)

PASSPHRASE = "pfx-bench-passphrase"
ROOT = Path(__file__).resolve().parent
BUCKET = "pfx-bench"
# Snapshots whose record changes in the synthetic history: every CHANGE_EVERY-th one.
CHANGE_EVERY = 100


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.backups", description=__doc__.split("\n")[0])
    ap.add_argument("--deployments", "-n", type=int, default=200)
    ap.add_argument("--snapshots", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each timed command")
    ap.add_argument("--out", type=Path, default=ROOT / "results")
    ap.add_argument("--work", type=Path, default=ROOT / "work")
    return ap.parse_args(argv)


def best(runs: list[measure.Proc]) -> measure.Proc:
    for proc in runs:
        if proc.returncode != 0:
            raise SystemExit(f"{proc.argv} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return min(runs, key=lambda p: p.seconds)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S") + f"-backups-N{args.deployments}"
    work = (args.work / stamp).resolve()
    work.mkdir(parents=True)
    pfx = measure.tool("pfx")
    results: dict[str, Any] = {"n": args.deployments, "stamp": stamp, "machine": measure.machine()}
    with ExitStack() as stack:
        store = stack.enter_context(start_object_store(work / "moto"))
        store.make_bucket(BUCKET)
        log(f"moto_server at {store.endpoint}; seeding the source (N={args.deployments})")
        server = start_server(work / "servers", "source")
        stack.callback(server.stop)
        seed(server.url, deployments=args.deployments)
        env = measure.user_env(work / "home", {"src": server.url}, passphrase=PASSPHRASE)
        env |= store.env()

        def timed(tag: str, *argv: str) -> measure.Proc:
            runs = [
                measure.run([pfx, *argv], env, work, tag=f"{tag}-{i}") for i in range(args.repeat)
            ]
            return best(runs)

        log("export to a local file, and backups into new S3 repositories")
        export = timed(
            "export",
            "export",
            "-p",
            "src",
            "-o",
            str(work / "x.pfx"),
            "--secrets",
            "encrypt",
            "--json",
            "--force",  # each repeat writes the same file
        )
        runs = [
            measure.run(
                [pfx, "backup", "-p", "src", "--repo", f"s3://{BUCKET}/fresh-{i}", "--json"],
                env,
                work,
                tag=f"s3-{i}",
            )
            for i in range(args.repeat)
        ]
        s3 = best(runs)
        exported = orjson.loads(export.stdout)
        log("the same server backed up again (unchanged)")
        before = objects(store, f"{BUCKET}/fresh-0")
        again = timed(
            "unchanged", "backup", "-p", "src", "--repo", f"s3://{BUCKET}/fresh-0", "--json"
        )
        after = objects(store, f"{BUCKET}/fresh-0")
        unchanged = orjson.loads(again.stdout)
        written = {k: v for k, v in after.items() if k not in before}
        results["backup"] = {
            "export": export.as_json()
            | {"requests": exported["requests"], "size": exported["size"]},
            "backup_s3": s3.as_json() | {"requests": orjson.loads(s3.stdout)["requests"]},
            "s3_over_export": round(s3.seconds / export.seconds, 3),
            "unchanged": again.as_json() | {"requests": unchanged["requests"]},
            "unchanged_is_unchanged": unchanged["unchanged"],
            "unchanged_over_export": round(again.seconds / export.seconds, 3),
            "unchanged_new_objects": written,
            "unchanged_new_bundles": [k for k in written if "/bundles/" in k],
        }

        log(f"a synthetic history of {args.snapshots} snapshots (and of a tenth of them)")
        variable = make_history(store, work, f"{BUCKET}/history", args.snapshots)
        make_history(store, work, f"{BUCKET}/history-small", max(1, args.snapshots // 10))
        copy_locally(store, f"{BUCKET}/history", work / "history-local")
        scale: dict[str, Any] = {}
        places = [
            ("all", f"s3://{BUCKET}/history"),
            ("tenth", f"s3://{BUCKET}/history-small"),
            ("all, local directory", str(work / "history-local")),
        ]
        for name, repo in places:
            listed = timed(f"snapshots-{name}", "snapshots", "--repo", repo, "--json")
            history = timed(f"log-{name}", "log", "--repo", repo, f"variable:{variable}", "--json")
            events = orjson.loads(history.stdout)["records"][0]["events"]
            scale[name] = {
                "snapshots": len(orjson.loads(listed.stdout)),
                "snapshots_cmd": listed.as_json(),
                "log_cmd": history.as_json(),
                "log_events": len(events),
            }
        scale["snapshots_rss_growth"] = round(
            scale["all"]["snapshots_cmd"]["peak_rss_mb"]
            / scale["tenth"]["snapshots_cmd"]["peak_rss_mb"],
            3,
        )
        scale["log_rss_growth"] = round(
            scale["all"]["log_cmd"]["peak_rss_mb"] / scale["tenth"]["log_cmd"]["peak_rss_mb"], 3
        )
        results["history"] = scale
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stamp}.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    text = markdown(results)
    (args.out / f"{stamp}.md").write_text(text)
    print(text)
    return 0


def copy_locally(store: ObjectStore, prefix: str, target: Path) -> None:
    """The same repository in a local directory: what `snapshots` and `log` cost without the
    object store (and without importing s3fs)."""
    import s3fs

    fs = s3fs.S3FileSystem(
        key="k", secret="s", endpoint_url=store.endpoint, skip_instance_cache=True
    )
    fs.get(f"{prefix}/", str(target) + "/", recursive=True)


def objects(store: ObjectStore, prefix: str) -> dict[str, int]:
    import s3fs

    fs = s3fs.S3FileSystem(
        key="k", secret="s", endpoint_url=store.endpoint, skip_instance_cache=True
    )
    return {p: int(i["size"]) for p, i in fs.find(prefix, detail=True).items()}


def make_history(store: ObjectStore, work: Path, prefix: str, count: int) -> str:
    """A repository of `count` hourly snapshots of the exported server in which one variable
    changes every CHANGE_EVERY snapshots. Each change is a real bundle; the snapshots between
    two changes hold copies of it (made by the store, as a quiet server's re-exports would be
    with another record changing), each with its own entry and record hashes; the entries
    are packed as backups pack them (every COMPACT_AT snapshots)."""
    import s3fs

    fs = s3fs.S3FileSystem(
        key="k", secret="s", endpoint_url=store.endpoint, skip_instance_cache=True
    )
    original = bundlefile.read_bundle(work / "x.pfx")
    keys = open_keys(original.manifest, PASSPHRASE)
    records = list(original.records)
    index = next(i for i, r in enumerate(records) if r.kind == "variable")
    variable = records[index].key[0]
    url = f"s3://{prefix}"
    env_endpoint = {"endpoint_url": store.endpoint, "key": "k", "secret": "s"}
    repo = open_s3(url, env_endpoint)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    repo.create(server_identity(original.manifest.source.url), format_time(start))
    entries: list[SnapshotEntry] = []
    current: tuple[str, Any, list[Any]] | None = None
    for i in range(count):
        when = format_time(start + timedelta(hours=i))
        snapshot = uuid.uuid4().hex + uuid.uuid4().hex
        if i % CHANGE_EVERY == 0:
            changed = records[index].model_copy(
                update={"data": {**records[index].data, "value": f"v{i}"}}
            )
            variant: list[Record] = [*records[:index], changed, *records[index + 1 :]]
            path = work / f"variant-{prefix.replace('/', '-')}-{i}.pfx"
            lines = list(
                codec.encode(
                    variant,
                    source=original.manifest.source,
                    created=when,
                    secrets=original.manifest.secrets,
                    skipped=original.manifest.skipped,
                    keys=keys,  # sealed again, as export seals (format 1.4)
                )
            )
            bundlefile.write_lines(path, lines)
            made = bundlefile.read_bundle(path)
            hashes = record_hashes(made, PASSPHRASE, repo.salt)
            repo.store.upload(bundle_name(snapshot), path)
            current = (snapshot, made, hashes)
        else:
            assert current is not None
            fs.copy(f"{prefix}/{bundle_name(current[0])}", f"{prefix}/{bundle_name(snapshot)}")
        assert current is not None
        made, hashes = current[1], current[2]
        size = (work / f"variant-{prefix.replace('/', '-')}-{i - i % CHANGE_EVERY}.pfx").stat()
        # The entry a backup would publish, at this snapshot's (synthetic) hour.
        entry = snapshot_entry(
            made,
            PASSPHRASE,
            id=snapshot,
            size=size.st_size,
            parent=entries[-1].id if entries else None,
        ).model_copy(update={"time": when})
        repo.store.write(records_name(snapshot), encode_records(snapshot, hashes))
        repo.store.write(entry_name(snapshot), orjson.dumps(entry.model_dump(mode="json")))
        entries.append(entry)
        if len(entries) % COMPACT_AT == 0:
            repo.compact(repo.listing())  # as each backup does once 32 entries are loose
    packs = len(repo.store.list(RECORD_PACKS))
    log(f"{prefix}: {len(repo.listing().entries)} snapshots, {packs} record packs")
    return variable


def open_s3(url: str, options: dict[str, str]) -> Repository:
    """The repository through s3fs with explicit options (the benchmark's own process)."""
    import s3fs

    from pfx.repository.store import ObjectStore as Store

    fs = s3fs.S3FileSystem(skip_instance_cache=True, **options)
    return Repository(Store(url, fs, url.removeprefix("s3://")), None)


def _row(label: str, run: dict[str, Any]) -> str:
    return f"| {label} | {run['seconds']} | {run['peak_rss_mb']} | {run.get('requests', '')} |"


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def markdown(r: dict[str, Any]) -> str:
    b, h = r["backup"], r["history"]
    export, s3, quiet = b["export"], b["backup_s3"], b["unchanged"]
    written = b["unchanged_new_objects"]
    lines = [
        f"# pfx backups, N={r['n']} ({r['stamp']})",
        "",
        "| run | wall s | peak RSS MB | requests to the server |",
        "|---|---|---|---|",
        _row("pfx export to a local file", export),
        _row("pfx backup to S3 (new repository)", s3),
        _row("pfx backup to S3, server unchanged", quiet),
        "",
        f"- backup to S3 / export: **{b['s3_over_export']}** "
        f"(target <= 1.2: {_met(b['s3_over_export'] <= 1.2)})",
        f"- unchanged backup: said unchanged: {b['unchanged_is_unchanged']}; requests "
        f"{quiet['requests']} vs the export's {export['requests']} "
        f"({_met(quiet['requests'] <= export['requests'])}); bundles written: "
        f"{len(b['unchanged_new_bundles'])}; new objects: {len(written)} "
        f"({sum(written.values())} bytes); wall / export {b['unchanged_over_export']}",
        "",
        "| repository | snapshots | `snapshots --json` s | RSS MB | `log` s | RSS MB | events |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("tenth", "all", "all, local directory"):
        x = h[name]
        listed, logged = x["snapshots_cmd"], x["log_cmd"]
        lines.append(
            f"| {name} | {x['snapshots']} | {listed['seconds']} | {listed['peak_rss_mb']} | "
            f"{logged['seconds']} | {logged['peak_rss_mb']} | {x['log_events']} |"
        )
    a = h["all"]
    listed, logged = a["snapshots_cmd"], a["log_cmd"]
    lines += [
        "",
        f"- snapshots over {a['snapshots']}: {listed['seconds']} s "
        f"(target < 1 s: {_met(listed['seconds'] < 1)}); peak RSS x10 snapshots: "
        f"{h['snapshots_rss_growth']}",
        f"- log of one record over {a['snapshots']}: {logged['seconds']} s "
        f"(target < 10 s: {_met(logged['seconds'] < 10)}); peak RSS x10 snapshots: "
        f"{h['log_rss_growth']}",
        f"- load (1 min) at the end of the export and of the last log: {export['load_1m']}, "
        f"{logged['load_1m']}",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
