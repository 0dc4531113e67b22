"""`pfx cutover`: turn on what a `--standby` import held back (or hold it back again).

Reads the import report's `standby` entries, reads the destination's deployments and
automations (pfx.server.reading), sets exactly those records' states, and reads them back to
confirm.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import orjson
from pydantic import ValidationError

from pfx.errors import UsageError
from pfx.ids import Index
from pfx.interrupts import run_interruptibly
from pfx.jsontypes import JSONObject
from pfx.keying import key_items
from pfx.profiles import Target, resolve
from pfx.server.api import Api
from pfx.server.reading import read_server
from pfx.standby import SWITCHES, Held, Step, plan_cutover
from pfx.watching import Conduct
from pfx.zstdframe import MAGIC as ZSTD_MAGIC

# Deployments are keyed by their flow's name: flows are read too.
KINDS_READ = ("flow", *SWITCHES)

__all__ = ["CutoverResult", "cutover", "read_held"]


@dataclass
class CutoverResult:
    """The steps, and which set steps the server did not confirm on reading back."""

    destination: str
    rollback: bool
    dry_run: bool
    steps: list[Step]
    failed: dict[int, str] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """0 done (or nothing to do); 4 a record is missing or did not take the state;
        6 a dry run that would change states."""
        if self.failed or any(s.verdict == "missing" for s in self.steps):
            return 4
        if self.dry_run and any(s.verdict == "set" for s in self.steps):
            return 6
        return 0


def read_held(path: Path) -> tuple[str, list[Held]]:
    """The destination URL and the standby entries of an import report file."""
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
    except ValidationError as e:
        raise UsageError(f"{path}: damaged standby entry: {e.errors()[0]['msg']}") from None
    return str(raw["destination"]), held


def cutover(
    report: Path,
    profile: str | None = None,
    *,
    rollback: bool = False,
    dry_run: bool = False,
    conduct: Conduct | None = None,
) -> CutoverResult:
    """Set the held records of `report` to the bundle's states (standby's with `rollback`);
    `conduct`: who watches the run, and its --max-rate (pfx.watching)."""
    destination, held = read_held(report)
    target = resolve(profile)
    if target.public_url.rstrip("/") != destination.rstrip("/"):
        raise UsageError(
            f"{report} is the report of an import into {destination}; "
            f"profile {target.profile or '(active)'} is {target.public_url}"
        )
    return run_interruptibly(_cutover, target, held, rollback, dry_run, conduct)


async def _cutover(
    target: Target, held: list[Held], rollback: bool, dry_run: bool, conduct: Conduct | None
) -> CutoverResult:
    async with Api(target, conduct=conduct) as api:
        steps = plan_cutover(held, await _read(api), rollback=rollback)
        result = CutoverResult(target.public_url, rollback, dry_run, steps)
        if dry_run:
            return result
        api.watcher.phase("writing")
        for step in steps:
            if step.call is not None:
                await api.call(step.call)
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


async def _read(api: Api) -> dict[tuple[str, tuple[str, ...]], JSONObject]:
    """The destination's held kinds by (kind, key), read and keyed as every read is."""
    read = await read_server(api, kinds=KINDS_READ, side="destination")
    keyed = key_items(read.raw, Index(), skipped=[])
    return {(kind.name, key): item for kind, key, item in keyed if kind.name in SWITCHES}
