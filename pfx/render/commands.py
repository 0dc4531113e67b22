"""The setup files, pure: prefect-setup.sh (`prefect` commands for variables and limits, and a
call of the setup client per section of API requests), prefect-setup.json (those requests:
block types and documents, the default result storage, work pools and queues, deployment
settings that must wait for `prefect deploy`) and prefect-setup.py (the client itself).

Secret values are never written: the client reads each from an environment variable the
script names.
"""

from __future__ import annotations

import json
import math
from importlib import resources

from pfx.escaping import is_safe
from pfx.jsontypes import JSON
from pfx.model import Record
from pfx.render.blocks import block_requests
from pfx.render.deployments import deployment_entry, late_fields
from pfx.render.model import Names, Omission, Rendering
from pfx.render.pools import pool_requests
from pfx.render.requests import Lookup, Request, setup_json
from pfx.render.script import (
    AFTER,
    PYTHON,
    SECTIONS,
    SETUP_JSON,
    SETUP_PY,
    SETUP_SH,
    Command,
    Section,
    script_text,
)
from pfx.render.settings import storage_requests

LEADING_DASH = "starts with '-', which `prefect` would read as an option: not rendered"
UNSAFE = (
    "holds a control character or line break, which a line of the script cannot show as "
    "it is: not rendered"
)
NOT_WHOLE = "its limit is not a whole number: not rendered"
LATE_NOTE = "run-time templates, which `prefect deploy` would resolve"


def render_commands(records: list[Record], names: Names, source: str) -> Rendering:
    """prefect-setup.sh, prefect-setup.json and prefect-setup.py for `records`."""
    out = Rendering()
    by_key = {(r.kind, r.key): r for r in records}
    # Comment lines of each section: which secret variables to set, which templates wait.
    notes: dict[str, list[str]] = {"blocks": [], AFTER: []}
    requests = {
        "blocks": block_requests(records, by_key, out.omissions, notes["blocks"])
        + storage_requests(records, out.omissions),
        "pools": pool_requests(records, names, out.omissions),
        AFTER: [
            r for record in records if _deployable(record) for r in _late(record, notes[AFTER])
        ],
    }
    commands = {
        "variables": [c for r in records if r.kind == "variable" for c in _variable(r, out)],
        "limits": [c for r in records for c in _limit(r, out.omissions)],
    }
    for record in records:
        if record.kind == "flow":
            _flow(record, out.omissions)
    sections: list[Section] = []
    for name in (*SECTIONS, AFTER):
        calls = [Command((PYTHON, SETUP_PY, name))] if requests.get(name) else []
        sections.append(Section(name, notes.get(name, []), calls + commands.get(name, [])))
    out.files[SETUP_SH] = script_text(source, sections)
    out.files[SETUP_JSON] = setup_json(requests)
    out.files[SETUP_PY] = client_source()
    out.counts = {
        "commands": sum(len(c) for c in commands.values()) + sum(map(len, requests.values()))
    }
    return out


def client_source() -> str:
    """The setup client's source (pfx/render/setup_api.py), as prefect-setup.py."""
    return resources.files("pfx.render").joinpath("setup_api.py").read_text(encoding="utf-8")


def _deployable(record: Record) -> bool:
    """Whether prefect.yaml holds the deployment (so that there is one to set after it)."""
    return record.kind == "deployment" and deployment_entry(record, []) is not None


def _late(record: Record, notes: list[str]) -> list[Request]:
    fields = late_fields(record.data)
    if not fields:
        return []
    notes.append(f"{record.label}: {LATE_NOTE}")
    lookup = Lookup((), "deployment", record.key)
    return [Request(record.label, "PATCH", "/deployments/{id}", fields, id=lookup)]


# --- variables, limits, flows ----------------------------------------------------------------


def _variable(record: Record, out: Rendering) -> list[Command]:
    data = record.data
    name = str(data.get("name"))
    if name.startswith("-"):
        out.omissions.append(Omission(record.kind, record.key, "*", LEADING_DASH))
        return []
    tags = data.get("tags")
    flags = [f"--tag={t}" for t in tags if isinstance(t, str)] if isinstance(tags, list) else []
    # `prefect variable set` parses VALUE as JSON, so JSON text keeps strings strings.
    # `--value=` keeps a negative number from reading as an option.
    value = "--value=" + _json(data.get("value"))
    return _command(record, ("prefect", "variable", "set", name, value, *flags), out.omissions)


def _limit(record: Record, omissions: list[Omission]) -> list[Command]:
    data = record.data

    def omit(name: str, reason: str) -> None:
        omissions.append(Omission(record.kind, record.key, name, reason))

    if record.kind == "global-concurrency-limit":
        name, limit = str(data.get("name")), data.get("limit")
        if name.startswith("-"):
            omit("*", LEADING_DASH)
            return []
        if not _is_int(limit):
            omit("*", NOT_WHOLE)
            return []
        argv = ["prefect", "gcl", "create", name, f"--limit={_number(limit)}"]
        decay = data.get("slot_decay_per_second")
        if decay and _is_number(decay):
            argv.append(f"--slot-decay-per-second={_number(decay)}")
        elif decay:
            omit("slot_decay_per_second", "not a number: not rendered")
        if data.get("active") is False:
            argv.append("--disable")
        return _command(record, tuple(argv), omissions)
    if record.kind == "tag-concurrency-limit":
        for name in ("active", "slot_decay_per_second"):
            if name in data and data[name] not in (True, 0, 0.0, None):
                omit(name, "`prefect concurrency-limit create` sets a tag's limit only")
        tag, limit = record.key[0], data.get("concurrency_limit")
        if tag.startswith("-"):
            omit("*", LEADING_DASH)
            return []
        if not _is_int(limit):
            omit("*", NOT_WHOLE)
            return []
        create = ("prefect", "concurrency-limit", "create", tag, _number(limit))
        return _command(record, create, omissions)
    return []


def _command(record: Record, argv: tuple[str, ...], omissions: list[Omission]) -> list[Command]:
    """The command, when every argument can stand on its line of the script as it is."""
    if all(is_safe(word) for word in argv):
        return [Command(argv)]
    omissions.append(Omission(record.kind, record.key, "*", UNSAFE))
    return []


def _is_int(value: JSON) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: JSON) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value)


def _number(value: JSON) -> str:
    """A value checked to be a finite number, as the digits `prefect` reads."""
    if not _is_number(value):
        raise ValueError(f"not a number: {value!r}")
    return repr(value)


def _json(value: JSON) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _flow(record: Record, omissions: list[Omission]) -> None:
    for name in ("tags", "labels"):
        if record.data.get(name):
            omissions.append(
                Omission(record.kind, record.key, name, "`prefect deploy` makes flows by name only")
            )
