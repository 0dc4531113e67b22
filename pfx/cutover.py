"""`pfx cutover`: turn on what a `--standby` import held back (or hold it back again).

Reads the import report's `standby` entries, reads the destination's deployments and
automations (pfx.server.reading), sets exactly those records' states, and reads them back to
confirm. With `--prune`, the report also lists deletions deferred to cutover: cutover deletes
them (pfx.deleting; a record something else uses by now is kept), and `--rollback` restores
what they were from the bundle the import kept beside the report (an import of it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from pydantic import ValidationError

from pfx.comparison import build_inventory
from pfx.deleting import Deleting
from pfx.errors import UsageError
from pfx.ids import Index
from pfx.interrupts import run_interruptibly
from pfx.jsontypes import JSONObject
from pfx.keying import key_items
from pfx.profiles import Target, resolve
from pfx.prune import destination_records, plan_deferred, prune_outcomes
from pfx.report import Outcome, Report, worst_exit
from pfx.server.api import Api
from pfx.server.reading import read_server
from pfx.standby import SWITCHES, Deferred, Held, Step, plan_cutover
from pfx.watching import Conduct
from pfx.zstdframe import MAGIC as ZSTD_MAGIC

PassphraseSource = Callable[[], str]

# Deployments are keyed by their flow's name: flows are read too.
KINDS_READ = ("flow", *SWITCHES)

__all__ = ["CutoverPlan", "CutoverResult", "cutover", "read_report"]


@dataclass
class CutoverResult:
    """The steps, and which set steps the server did not confirm on reading back; with
    --prune, the deferred deletions' outcomes (cutover), or the restore's report (rollback)."""

    destination: str
    rollback: bool
    dry_run: bool
    steps: list[Step]
    failed: dict[int, str] = field(default_factory=dict)
    deletions: list[Outcome] = field(default_factory=list)
    deferred: int = 0  # how many deletions the report deferred to cutover
    restored: Report | None = None

    @property
    def exit_code(self) -> int:
        """0 done (or nothing to do); 4 a record is missing or did not take the state, or a
        deletion or restore failed; 3 a deletion kept (something uses the record now);
        6 a dry run that would change something. Precedence 4 > 5 > 3 > 6 > 0."""
        codes = [self.restored.exit_code] if self.restored is not None else []
        bad = {o.status for o in self.deletions} - {"deleted", "kept"}
        if self.failed or bad or any(s.verdict == "missing" for s in self.steps):
            codes.append(4)
        if any(o.status == "kept" for o in self.deletions):
            codes.append(3)
        changes = any(s.verdict == "set" for s in self.steps) or bool(self.deletions)
        if self.dry_run and changes:
            codes.append(6)
        return worst_exit(codes)


@dataclass
class CutoverPlan:
    """What an import report says cutover does: its destination, the held states, the
    deferred deletions and the bundle that keeps what they delete (None: none)."""

    destination: str
    held: list[Held]
    deferred: list[Deferred] = field(default_factory=list)
    deleted_bundle: Path | None = None


def read_report(path: Path) -> CutoverPlan:
    """What an import report file says cutover does (see CutoverPlan)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise UsageError(f"no such file: {path}") from None
    except OSError as e:
        raise UsageError(f"{path}: cannot read it ({e.strerror or e})") from None
    if data[:4] == ZSTD_MAGIC:
        # The bundle instead of the report: the most likely mix-up, named as such.
        raise UsageError(
            f"{path} is a bundle; cutover takes the report of `pfx import --standby "
            "--report REPORT` (pass that file)"
        )
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise UsageError(f"{path}: not a pfx import report (not JSON: {e})") from None
    if not isinstance(raw, dict) or "standby" not in raw or "destination" not in raw:
        raise UsageError(f"{path}: not the report of a `pfx import --standby`")
    try:
        held = [Held.model_validate(entry) for entry in raw["standby"] or []]
        deferred = [Deferred.model_validate(entry) for entry in raw.get("deferred") or []]
    except ValidationError as e:
        raise UsageError(f"{path}: damaged standby entry: {e.errors()[0]['msg']}") from None
    kept = raw.get("deleted_bundle")
    # Beside the report, by its file name only: a report names no other place to read.
    beside = Path(path).parent / Path(kept).name if isinstance(kept, str) and kept else None
    return CutoverPlan(str(raw["destination"]), held, deferred, beside)


def cutover(
    report: Path,
    profile: str | None = None,
    *,
    rollback: bool = False,
    dry_run: bool = False,
    passphrase: PassphraseSource | None = None,
    conduct: Conduct | None = None,
) -> CutoverResult:
    """Set the held records of `report` to the bundle's states (standby's with `rollback`),
    and delete the deferred deletions (restore them, with `rollback`; `passphrase`: of the
    bundle that keeps them, when it is encrypted). `conduct`: who watches the run, and its
    --max-rate (pfx.watching)."""
    found = read_report(report)
    target = resolve(profile)
    if target.public_url.rstrip("/") != found.destination.rstrip("/"):
        raise UsageError(
            f"{report} is the report of an import into {found.destination}; "
            f"profile {target.profile or '(active)'} is {target.public_url}"
        )
    result = run_interruptibly(_cutover, target, found, rollback, dry_run, conduct)
    if rollback and found.deleted_bundle is not None and found.deferred:
        from pfx.importing import import_bundle

        if not found.deleted_bundle.exists():
            raise UsageError(f"{found.deleted_bundle} (what cutover deletes) is not there")
        restore = import_bundle(
            found.deleted_bundle, profile, dry_run=dry_run, passphrase=passphrase, conduct=conduct
        )
        result.restored = restore.report
    return result


async def _cutover(
    target: Target, found: CutoverPlan, rollback: bool, dry_run: bool, conduct: Conduct | None
) -> CutoverResult:
    held = found.held
    async with Api(target, conduct=conduct) as api:
        steps = plan_cutover(held, await _read(api), rollback=rollback)
        result = CutoverResult(target.public_url, rollback, dry_run, steps)
        result.deferred = len(found.deferred)
        if dry_run:
            if found.deferred and not rollback:
                deleting = await _deleting(api, found.deferred)
                result.deletions = prune_outcomes(deleting.pruning, "dry run: would be deleted")
            return result
        api.watcher.phase("writing")
        for step in steps:
            if step.call is not None:
                await api.call(step.call)
        if found.deferred and not rollback:
            deleting = await _deleting(api, found.deferred)
            await deleting.run(api)
            result.deletions = deleting.close(f"not attempted: {deleting.stopped}")
        # "Set" means the server now holds the value: read back, never assume.
        after = await _read(api)
    by_id = {str(item.get("id")): item for item in after.values()}
    for n, step in enumerate(steps):
        if step.verdict != "set":
            continue
        entry = step.held
        # By id where known: an automation's ordinal can change with the state just set.
        item = by_id.get(entry.id) if entry.id else after.get((entry.kind, entry.key))
        now = item.get(entry.field) if item else None
        if now != step.target:
            result.failed[n] = f"server holds {entry.field}={now!r} after the write"
    return result


async def _deleting(api: Api, deferred: list[Deferred]) -> Deleting:
    """The deferred deletions as the destination stands now: those it still has (by id, else
    by natural key), kept where anything else uses them by now (pfx.prune)."""
    inventory = build_inventory((await read_server(api)).raw)
    wanted: set[tuple[str, tuple[str, ...]]] = set()
    for entry in deferred:
        found = inventory.index.lookup(entry.id) if entry.id else None
        if found is None and inventory.get(entry.kind, entry.key) is not None:
            found = (entry.kind, entry.key)
        if found is not None:
            wanted.add(found)
    return Deleting(plan_deferred(destination_records(inventory), wanted), inventory)


async def _read(api: Api) -> dict[tuple[str, tuple[str, ...]], JSONObject]:
    """The destination's held kinds by (kind, key), read and keyed as every read is."""
    read = await read_server(api, kinds=KINDS_READ, side="destination")
    keyed = key_items(read.raw, Index(), skipped=[])
    return {(kind.name, key): item for kind, key, item in keyed if kind.name in SWITCHES}
