"""The companion shell file, pure: `prefect` CLI commands that create what prefect.yaml cannot
express (block types and documents, the default result storage, variables, concurrency limits,
work pools and queues).

Where Prefect's API wants ids (block documents, a pool's result storage), the script's
`pfx_api` resolves names to the target server's ids first. Secret values are never written:
the script reads each from an environment variable it names.
"""

from __future__ import annotations

import copy
import json
import math
import shlex
from urllib.parse import quote

from pfx.escaping import safe_text
from pfx.ids import find_ids
from pfx.jsontypes import JSON, JSONObject
from pfx.model import Record, Ref
from pfx.render.core import Names, Omission, Rendering
from pfx.render.settings import storage_commands
from pfx.secretsfile import env_name

SETUP_SH = "prefect-setup.sh"
# Run before `prefect deploy` (the default), and the one to run after it.
SECTIONS = ("blocks", "variables", "limits", "pools")
AFTER = "deployments"
SECRET = "secret: never written; prefect-setup.sh reads it from the PFX_SECRET__ variable it names"

# Sends one request to the server `prefect config view` names (read once per run: each
# `prefect` start costs seconds), after resolving {"$block_type": SLUG}, {"$block_schema":
# CHECKSUM}, {"$block_document": [SLUG, NAME]}, {"$deployment": [FLOW, NAME]} to that server's
# ids and {"$secret": ENV} to the environment variable's value.
_PFX_API = r"""
pfx_api() {  # pfx_api [--unless GET-PATH] METHOD PATH JSON
  if [ -z "${PFX_PREFECT_CONFIG:-}" ]; then
    PFX_PREFECT_CONFIG=$(prefect config view --show-secrets)
    export PFX_PREFECT_CONFIG
  fi
  python3 - "$@" <<'PY'
import base64, json, os, re, sys, urllib.error, urllib.parse, urllib.request

args = sys.argv[1:]
unless = None
if args[0] == "--unless":
    unless = args[1]
    args = args[2:]
method, path, body = args
config = dict(re.findall(r"^(PREFECT_API_\w+)='(.*)'", os.environ["PFX_PREFECT_CONFIG"], re.M))
headers = {"Content-Type": "application/json"}
if config.get("PREFECT_API_KEY"):
    headers["Authorization"] = f"Bearer {config['PREFECT_API_KEY']}"
elif config.get("PREFECT_API_AUTH_STRING"):
    token = base64.b64encode(config["PREFECT_API_AUTH_STRING"].encode()).decode()
    headers["Authorization"] = f"Basic {token}"

def api(method, path, data=None, check=True):
    url = config["PREFECT_API_URL"].rstrip("/") + path
    sent = None if data is None else json.dumps(data).encode()
    request = urllib.request.Request(url, data=sent, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        if not check:
            return None
        sys.exit(f"{method} {path}: {e.code} {e.read().decode(errors='replace')}")

def ident(path):
    return api("GET", path)["id"]

def quoted(*parts):
    return "/".join(urllib.parse.quote(p, safe="") for p in parts)

def resolve(value):
    if isinstance(value, dict) and len(value) == 1:
        ((key, arg),) = value.items()
        if key == "$block_type":
            return ident(f"/block_types/slug/{quoted(arg)}")
        if key == "$block_schema":
            return ident(f"/block_schemas/checksum/{quoted(arg)}")
        if key == "$block_document":
            slug, name = quoted(arg[0]), quoted(arg[1])
            return ident(f"/block_types/slug/{slug}/block_documents/name/{name}")
        if key == "$deployment":
            return ident(f"/deployments/name/{quoted(*arg)}")
        if key == "$secret":
            if arg not in os.environ:
                sys.exit(f"set {arg} to the secret value (it is never written to this file)")
            return os.environ[arg]
    if isinstance(value, dict):
        return {k: resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v) for v in value]
    return value

if unless and api("GET", unless, check=False) is not None:
    sys.exit(0)
if path.startswith("["):  # a path with names in it: ["/deployments/", {"$deployment": [...]}]
    path = "".join(resolve(json.loads(path)))
api(method, path, resolve(json.loads(body)))
PY
}
"""


def render_commands(records: list[Record], names: Names, source: str) -> Rendering:
    """prefect-setup.sh (and the base job template files its pool commands read)."""
    out = Rendering()
    by_key = {(r.kind, r.key): r for r in records}
    sections = {
        "blocks": _blocks(records, by_key, out) + storage_commands(records, out.omissions),
        "variables": [_variable(r) for r in records if r.kind == "variable"],
        "limits": [c for r in records for c in _limit(r, out.omissions)],
        "pools": _pools(records, names, by_key, out),
        AFTER: [c for r in records if _deployable(r) for c in _late(r)],
    }
    for record in records:
        if record.kind == "flow":
            _flow(record, out.omissions)
    lines = [
        "#!/usr/bin/env bash",
        f"# Rendered by pfx from {safe_text(source)}: creates what prefect.yaml cannot express.",
        "# Run it against the target server (`prefect profile use NAME` or PREFECT_API_URL)",
        "# before `prefect deploy --all`. Sections: ./prefect-setup.sh ["
        + "] [".join(SECTIONS)
        + "]",
        "# (every one when none is named). Secret values are never written here: export the",
        "# PFX_SECRET__* variables named below before the blocks section runs.",
        "set -euo pipefail",
        'cd "$(dirname "$0")"',
        _PFX_API.strip("\n"),
    ]
    for name in (*SECTIONS, AFTER):
        body = sections[name] or [":  # nothing to create"]
        lines += ["", f"{name}() {{", *(f"  {c}" for c in body), "}"]
    lines += [
        "",
        f'sections=("$@"); [ $# -gt 0 ] || sections=({" ".join(SECTIONS)})',
        'for section in "${sections[@]}"; do "$section"; done',
    ]
    out.files[SETUP_SH] = "\n".join(lines) + "\n"
    out.counts = {
        "commands": sum(1 for c in (x for s in sections.values() for x in s) if c[:1] not in "#:")
    }
    return out


def _q(value: JSON) -> str:
    if isinstance(value, str):
        return shlex.quote(value)
    return shlex.quote(_json(value))


def _url(*parts: str) -> str:
    return "/" + "/".join(quote(p, safe="") for p in parts)


def _json(value: JSON) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


# --- blocks --------------------------------------------------------------------------------


def _blocks(
    records: list[Record], by_key: dict[tuple[str, tuple[str, ...]], Record], out: Rendering
) -> list[str]:
    commands: list[str] = []
    done: set[tuple[str, tuple[str, ...]]] = set()

    def visit(record: Record) -> None:
        ident = (record.kind, record.key)
        if ident in done:
            return
        done.add(ident)
        for ref in record.refs:
            target = by_key.get((ref.kind, ref.key))
            if target is not None and not ref.late and target.kind.startswith("block-"):
                visit(target)
        commands.extend(_block_command(record, by_key, out.omissions))

    for record in records:
        if record.kind == "block-document":
            visit(record)
    return commands


def _block_command(
    record: Record, by_key: dict[tuple[str, tuple[str, ...]], Record], omissions: list[Omission]
) -> list[str]:
    data = record.data
    if record.kind == "block-type":
        if data.get("is_protected"):
            return []  # a server's own type: every server has it
        body = {k: v for k, v in data.items() if k != "is_protected"}
        path = _url("block_types", "slug", record.key[0])
        return [f"pfx_api --unless {_q(path)} POST /block_types/ {_q(body)}"]
    if record.kind == "block-schema":
        slug = _type_slug(record, by_key)
        body = {k: v for k, v in data.items() if k not in ("block_type_id", "checksum")}
        body["block_type_id"] = {"$block_type": slug}
        path = _url("block_schemas", "checksum", str(data.get("checksum")))
        return [f"pfx_api --unless {_q(path)} POST /block_schemas/ {_q(body)}"]
    if data.get("is_anonymous"):
        omissions.append(
            Omission(record.kind, record.key, "*", "anonymous: made with what references it")
        )
        return []
    return _document(record, by_key, omissions)


def _type_slug(record: Record, by_key: dict[tuple[str, tuple[str, ...]], Record]) -> str:
    for ref in record.refs:
        if ref.kind == "block-type":
            return ref.key[0]
    return str(record.data.get("block_type_slug"))


def _document(
    record: Record, by_key: dict[tuple[str, tuple[str, ...]], Record], omissions: list[Omission]
) -> list[str]:
    data = copy.deepcopy(record.data)
    inner = data.get("data")
    comments: list[str] = []
    for path in record.secrets.fields if record.secrets else []:
        env = env_name(record, path)
        _put(data, path, {"$secret": env})
        what = safe_text(path.removeprefix("data."))
        comments.append(f"# {safe_text(record.label)}: secret {what} from ${env}")
        omissions.append(Omission(record.kind, record.key, path, SECRET))
    # Nested blocks are references by id; name them so the target server's id is used.
    refs = {ref.id: ref for ref in record.refs if ref.id and ref.kind == "block-document"}
    data["data"] = _name_refs(inner if isinstance(inner, dict) else {}, refs)
    schema = next((r.key[0] for r in record.refs if r.kind == "block-schema"), None)
    body: JSONObject = {
        "name": data.get("name"),
        "block_type_id": {"$block_type": record.key[0]},
        "block_schema_id": {"$block_schema": schema},
        "data": data["data"],
    }
    exists = _url("block_types", "slug", record.key[0], "block_documents", "name", record.key[1])
    return [*comments, f"pfx_api --unless {_q(exists)} POST /block_documents/ {_q(body)}"]


def _name_refs(value: JSON, refs: dict[str, Ref]) -> JSON:
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, dict) and str(ref.get("block_document_id")) in refs:
            key: list[JSON] = list(refs[str(ref["block_document_id"])].key)
            return {"$ref": {"block_document_id": {"$block_document": key}}}
        return {k: _name_refs(v, refs) for k, v in value.items()}
    if isinstance(value, list):
        return [_name_refs(v, refs) for v in value]
    return value


def _put(data: JSONObject, path: str, value: JSON) -> None:
    parts = path.split(".")
    node: JSON = data
    for part in parts[:-1]:
        if not isinstance(node, dict) or not isinstance(node.get(part), dict):
            return
        node = node[part]
    if isinstance(node, dict) and parts[-1] in node:
        node[parts[-1]] = value


def _deployable(record: Record) -> bool:
    return record.kind == "deployment" and isinstance(record.data.get("work_pool_name"), str)


def _late(record: Record) -> list[str]:
    from pfx.render.deployments import late_fields

    fields = late_fields(record.data)
    if not fields:
        return []
    path: list[JSON] = ["/deployments/", {"$deployment": list(record.key)}]
    return [
        f"# {safe_text(record.label)}: run-time templates, which `prefect deploy` would resolve",
        f"pfx_api PATCH {_q(path)} {_q(fields)}",
    ]


# --- variables, limits, flows ----------------------------------------------------------------


def _variable(record: Record) -> str:
    data = record.data
    tags = data.get("tags")
    flags = (
        "".join(f" --tag {_q(t)}" for t in tags if isinstance(t, str))
        if isinstance(tags, list)
        else ""
    )
    # `prefect variable set` parses VALUE as JSON, so JSON text keeps strings strings.
    # `--value=` keeps a negative number from reading as an option.
    value = shlex.quote("--value=" + _json(data.get("value")))
    return f"prefect variable set {_q(str(data.get('name')))} {value}{flags}"


def _limit(record: Record, omissions: list[Omission]) -> list[str]:
    data = record.data

    def omit(name: str, reason: str) -> None:
        omissions.append(Omission(record.kind, record.key, name, reason))

    if record.kind == "global-concurrency-limit":
        limit = data.get("limit")
        if not _is_int(limit):
            omit("*", "its limit is not a whole number: not rendered")
            return []
        command = f"prefect gcl create {_q(str(data.get('name')))} --limit {_number(limit)}"
        decay = data.get("slot_decay_per_second")
        if decay and _is_number(decay):
            command += f" --slot-decay-per-second {_number(decay)}"
        elif decay:
            omit("slot_decay_per_second", "not a number: not rendered")
        if data.get("active") is False:
            command += " --disable"
        return [command]
    if record.kind == "tag-concurrency-limit":
        for name in ("active", "slot_decay_per_second"):
            if name in data and data[name] not in (True, 0, 0.0, None):
                omit(name, "`prefect concurrency-limit create` sets a tag's limit only")
        limit = data.get("concurrency_limit")
        if not _is_int(limit):
            omit("*", "its limit is not a whole number: not rendered")
            return []
        return [f"prefect concurrency-limit create {_q(record.key[0])} {_number(limit)}"]
    return []


def _is_int(value: JSON) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: JSON) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value)


def _number(value: JSON) -> str:
    """A number checked to be one, as a shell word (quoted all the same: a word is a word)."""
    assert _is_number(value)
    return shlex.quote(repr(value))


def _flow(record: Record, omissions: list[Omission]) -> None:
    for name in ("tags", "labels"):
        if record.data.get(name):
            omissions.append(
                Omission(record.kind, record.key, name, "`prefect deploy` makes flows by name only")
            )


# --- pools and queues -------------------------------------------------------------------------


def _pools(
    records: list[Record],
    names: Names,
    by_key: dict[tuple[str, tuple[str, ...]], Record],
    out: Rendering,
) -> list[str]:
    commands: list[str] = []
    queues: dict[str, list[Record]] = {}
    for record in records:
        if record.kind == "work-queue":
            queues.setdefault(record.key[0], []).append(record)
    for record in records:
        if record.kind != "work-pool":
            continue
        commands += _pool(record, names, out)
        for queue in sorted(queues.get(record.key[0], []), key=_queue_order):
            commands += _queue(queue)
    return commands


def _pool(record: Record, names: Names, out: Rendering) -> list[str]:
    data = record.data
    name = record.key[0]
    # `prefect work-pool create` takes only the worker types it knows (no push or managed
    # pools, no custom types); the API takes any, with every setting in one call.
    body: JSONObject = {"name": name}
    for field in ("type", "description", "is_paused", "concurrency_limit"):
        if data.get(field) is not None:
            body[field] = data[field]
    # The API takes block documents by id: pfx_api resolves them by name on the target.
    refs = {ref.id: ref for ref in record.refs if ref.id and ref.kind == "block-document"}
    body["base_job_template"] = _name_refs(data.get("base_job_template") or {}, refs)
    storage = data.get("storage_configuration")
    if isinstance(storage, dict) and any(v is not None for v in storage.values()):
        block = storage.get("default_result_storage_block_id")
        storage = dict(storage)
        if isinstance(block, str) and block in refs:
            storage["default_result_storage_block_id"] = {"$block_document": list(refs[block].key)}
        body["storage_configuration"] = storage
    left = find_ids(body)
    if left:
        what = ", ".join(names.labels.get(i, i) for i in left)
        out.omissions.append(
            Omission(
                record.kind, record.key, "base_job_template", f"ids of no rendered block: {what}"
            )
        )
    exists = _url("work_pools", name)
    return [f"pfx_api --unless {_q(exists)} POST /work_pools/ {_q(body)}"]


def _queue_order(record: Record) -> tuple[int, int]:
    default = any(ref.path == "default_queue_id" for ref in record.refs)
    priority = record.data.get("priority")
    return (0 if default else 1, priority if isinstance(priority, int) else 0)


def _queue(record: Record) -> list[str]:
    data = record.data
    pool, name = record.key
    default = any(ref.path == "default_queue_id" for ref in record.refs)
    settings: JSONObject = {
        k: data[k]
        for k in ("description", "is_paused", "concurrency_limit", "priority")
        if k in data
    }
    if default:
        # Every pool comes with its default queue (named `default`): set it, never add one.
        if name != "default":
            settings["name"] = name
        path = _url("work_pools", pool, "queues", "default")
        return [f"pfx_api PATCH {_q(path)} {_q(settings)}"]
    path, exists = _url("work_pools", pool, "queues"), _url("work_pools", pool, "queues", name)
    return [f"pfx_api --unless {_q(exists)} POST {_q(path)} {_q({'name': name, **settings})}"]
