"""Environment mapping, pure: a TOML map that renames, sets and patches records before planning.

    [rename.work-pool]               old key (as in selectors) = new name; references follow
    "k8s-dev" = "k8s-prod"
    [set.variable]                   variable name = value (any TOML value)
    env_name = "prod"
    [[patch]]                        JSON merge patch (RFC 7386) on the selected records
    select = "deployment:etl-*/*"
    merge = { job_variables = { image = "registry.example/etl:1.4" } }

Import applies the map to the bundle's records, so the destination's records are compared
with the mapped ones: importing again with the same map finds them unchanged.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field

from pfx.errors import UsageError
from pfx.jsonline import MAX_DEPTH, depth_of
from pfx.jsontypes import JSON, JSONObject
from pfx.model import Record, Ref
from pfx.sameness import Change, leaf_changes
from pfx.select import Selector, parse_selector

Ident = tuple[str, tuple[str, ...]]

# Kinds a map can rename: (number of key parts, data field holding the name).
RENAMABLE = {
    "work-pool": 1,
    "work-queue": 2,
    "block-document": 2,
    "variable": 1,
    "global-concurrency-limit": 1,
}
# Top-level fields a patch may change, per kind.
PATCHABLE = {
    "deployment": frozenset(
        {"job_variables", "parameters", "tags", "work_queue_name", "description"}
    ),
    "work-pool": frozenset({"base_job_template", "description", "concurrency_limit"}),
    "work-queue": frozenset({"description", "concurrency_limit", "priority", "is_paused"}),
}
_PLACEHOLDER = re.compile(r"{{\s*([\w\.\-\[\]$]+)\s*}}")


@dataclass(frozen=True)
class Patch:
    """A merge patch for the records a selector picks."""

    selector: Selector
    merge: JSONObject


@dataclass(frozen=True)
class EnvMap:
    """A parsed mapping file."""

    # kind -> {old key joined with "/": new name}
    renames: dict[str, dict[str, str]] = field(default_factory=dict)
    # variable name -> value
    values: dict[str, JSON] = field(default_factory=dict)
    patches: tuple[Patch, ...] = ()


@dataclass
class Mapped:
    """The mapped records (bundle order kept), what changed in each, and notes for people."""

    records: list[Record]
    # New ident -> (old key when renamed, field changes)
    changed: dict[Ident, tuple[tuple[str, ...] | None, list[Change]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def parse_mapping(text: str, name: str = "map") -> EnvMap:
    """An EnvMap from TOML text; UsageError naming the file and what is wrong."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{name}: not valid TOML: {e}") from None
    except RecursionError:
        raise UsageError(f"{name}: nested too deep to read") from None
    if depth_of(raw) > MAX_DEPTH - 2:
        # The map's values go into records, which a bundle line nests at most this deep.
        raise UsageError(f"{name}: nested deeper than {MAX_DEPTH - 2} levels")
    unknown = set(raw) - {"rename", "set", "patch"}
    if unknown:
        raise UsageError(f"{name}: unknown table(s) {sorted(unknown)} (known: rename, set, patch)")
    renames: dict[str, dict[str, str]] = {}
    for kind, table in _table(raw.get("rename", {}), f"{name}: [rename]").items():
        if kind not in RENAMABLE:
            raise UsageError(f"{name}: cannot rename {kind!r} (renamable: {', '.join(RENAMABLE)})")
        entries = _table(table, f"{name}: [rename.{kind}]")
        renames[kind] = {}
        for old, new in entries.items():
            if not isinstance(new, str) or not new or "/" in new:
                raise UsageError(f"{name}: [rename.{kind}] {old!r}: the new name must be a name")
            if old.count("/") != RENAMABLE[kind] - 1:
                parts = "/".join(["..."] * RENAMABLE[kind])
                raise UsageError(f"{name}: [rename.{kind}] {old!r}: a key is {parts}")
            renames[kind][old] = new
    values: JSONObject = {}
    for kind, table in _table(raw.get("set", {}), f"{name}: [set]").items():
        if kind != "variable":
            raise UsageError(f"{name}: [set.{kind}]: only variables can be set")
        values = _table(table, f"{name}: [set.variable]")
    patches = []
    entries = raw.get("patch", [])
    if not isinstance(entries, list):
        raise UsageError(f"{name}: patch must be an array of tables ([[patch]])")
    for n, entry in enumerate(entries, start=1):
        patches.append(_patch(entry, f"{name}: [[patch]] #{n}"))
    return EnvMap(renames, values, tuple(patches))


def _table(value: object, where: str) -> JSONObject:
    if not isinstance(value, dict):
        raise UsageError(f"{where} must be a table")
    return value


def _patch(entry: object, where: str) -> Patch:
    if not isinstance(entry, dict) or set(entry) != {"select", "merge"}:
        raise UsageError(f"{where}: needs exactly `select` and `merge`")
    selector = parse_selector(str(entry["select"]))
    merge = entry["merge"]
    if not isinstance(merge, dict):
        raise UsageError(f"{where}: merge must be a table")
    if selector.kind:
        _patchable(selector.kind, merge, where)
    return Patch(selector, merge)


def _patchable(kind: str, merge: JSONObject, where: str) -> None:
    allowed = PATCHABLE.get(kind, frozenset())
    bad = sorted(set(merge) - allowed)
    if bad:
        raise UsageError(
            f"{where}: cannot patch {bad} of a {kind} "
            f"(patchable: {', '.join(sorted(allowed)) or 'nothing'})"
        )


def apply_mapping(records: list[Record], envmap: EnvMap) -> Mapped:
    """The records as the map makes them (see module doc); raises UsageError on a clash."""
    idents = _renamed_idents(records, envmap)
    present = {(r.kind, r.key) for r in records}
    for before, after in idents.items():
        if after in present and after not in idents:
            raise UsageError(
                f"map renames {before[0]} {'/'.join(before[1])} to {'/'.join(after[1])}, "
                "which the bundle already has"
            )
    notes = _unused(records, envmap)
    names = {
        kind: {tuple(k.split("/")): v for k, v in t.items()} for kind, t in envmap.renames.items()
    }
    mapped = Mapped(records=[], notes=notes)
    for record in records:
        new = _map_record(record, idents, names, envmap)
        ident = (new.kind, new.key)
        changes = leaf_changes(record.data, new.data, "", exact=True)
        renamed = record.key if new.key != record.key else None
        if renamed or changes:
            mapped.changed[ident] = (renamed, changes)
        mapped.records.append(new)
    return mapped


def _renamed_idents(records: list[Record], envmap: EnvMap) -> dict[Ident, Ident]:
    """Old ident -> new ident for every record a rename touches (a pool's queues too)."""
    out: dict[Ident, Ident] = {}
    pools = envmap.renames.get("work-pool", {})
    for record in records:
        kind, key = record.kind, record.key
        new_key = key
        table = envmap.renames.get(kind, {})
        if "/".join(key) in table:
            new_key = (*key[:-1], table["/".join(key)])
        if kind == "work-queue" and key[0] in pools:
            new_key = (pools[key[0]], *new_key[1:])
        if new_key != key:
            out[(kind, key)] = (kind, new_key)
    # Refs may name records the bundle does not hold (a partial bundle's outside refs).
    for record in records:
        for ref in record.refs:
            ident = (ref.kind, ref.key)
            if ident in out or ref.kind not in RENAMABLE:
                continue
            table = envmap.renames.get(ref.kind, {})
            new_key = ref.key
            if "/".join(ref.key) in table:
                new_key = (*ref.key[:-1], table["/".join(ref.key)])
            if ref.kind == "work-queue" and ref.key[0] in pools:
                new_key = (pools[ref.key[0]], *new_key[1:])
            if new_key != ref.key:
                out[ident] = (ref.kind, new_key)
    return out


def _unused(records: list[Record], envmap: EnvMap) -> list[str]:
    """Notes for map entries that name nothing in the bundle (maps are shared by bundles)."""
    present = {(r.kind, "/".join(r.key)) for r in records}
    named = present | {(ref.kind, "/".join(ref.key)) for r in records for ref in r.refs}
    notes = [
        f"map: rename {kind} {old}: not in the bundle"
        for kind, table in envmap.renames.items()
        for old in table
        if (kind, old) not in named
    ]
    notes += [
        f"map: set variable {name}: not in the bundle"
        for name in envmap.values
        if ("variable", name) not in present
    ]
    for patch in envmap.patches:
        if not any(patch.selector.matches(r) for r in records):
            notes.append(f"map: patch {patch.selector.text}: selects no record")
    return notes


def _map_record(
    record: Record,
    idents: dict[Ident, Ident],
    names: dict[str, dict[tuple[str, ...], str]],
    envmap: EnvMap,
) -> Record:
    data: JSONObject = dict(record.data)
    pools = envmap.renames.get("work-pool", {})
    key = idents.get((record.kind, record.key), (record.kind, record.key))[1]
    if key != record.key and "name" in data:
        data["name"] = key[-1]
    if record.kind == "work-queue" and isinstance(data.get("work_pool_name"), str):
        data["work_pool_name"] = key[0]
    if record.kind == "deployment":
        _map_deployment(data, idents, pools)
    if record.kind == "variable" and record.key[0] in envmap.values:
        data["value"] = envmap.values[record.key[0]]
    templated = _map_templates(data, names)
    assert isinstance(templated, dict)
    data = templated
    for patch in envmap.patches:
        if patch.selector.matches(record):
            _patchable(
                record.kind, patch.merge, f"map: patch {patch.selector.text} ({record.label})"
            )
            patched = merge_patch(data, patch.merge)
            assert isinstance(patched, dict)
            data = patched
    refs = [_map_ref(ref, idents) for ref in record.refs]
    if record.kind == "deployment":
        refs = _queue_ref(refs, data)
    return record.model_copy(update={"key": key, "data": data, "refs": refs})


def _map_deployment(data: JSONObject, idents: dict[Ident, Ident], pools: dict[str, str]) -> None:
    pool, queue = data.get("work_pool_name"), data.get("work_queue_name")
    if isinstance(pool, str):
        if isinstance(queue, str):
            found = idents.get(("work-queue", (pool, queue)))
            if found:
                data["work_queue_name"] = found[1][1]
        data["work_pool_name"] = pools.get(pool, pool)
    gcl = data.get("global_concurrency_limit")
    if isinstance(gcl, dict) and isinstance(gcl.get("name"), str):
        found = idents.get(("global-concurrency-limit", (str(gcl["name"]),)))
        if found:
            data["global_concurrency_limit"] = gcl | {"name": found[1][0]}


def _map_ref(ref: Ref, idents: dict[Ident, Ident]) -> Ref:
    found = idents.get((ref.kind, ref.key))
    return ref.model_copy(update={"key": found[1]}) if found else ref


def _queue_ref(refs: list[Ref], data: JSONObject) -> list[Ref]:
    """A deployment's soft queue ref follows a patched work_queue_name."""
    pool, queue = data.get("work_pool_name"), data.get("work_queue_name")
    out = []
    for ref in refs:
        if ref.kind == "work-queue" and ref.path == "work_queue_name" and isinstance(pool, str):
            ref = ref.model_copy(update={"key": (pool, str(queue))})
        out.append(ref)
    return out


def _map_templates(value: JSON, names: dict[str, dict[tuple[str, ...], str]]) -> JSON:
    """`{{ prefect.variables.x }}` and `{{ prefect.blocks.slug.name }}` follow renames."""
    if isinstance(value, str):
        if "{{" not in value:
            return value
        return _PLACEHOLDER.sub(lambda m: _template(m, names), value)
    if isinstance(value, list):
        return [_map_templates(v, names) for v in value]
    if isinstance(value, dict):
        return {k: _map_templates(v, names) for k, v in value.items()}
    return value


def _template(match: re.Match[str], names: dict[str, dict[tuple[str, ...], str]]) -> str:
    name = match.group(1)
    if name.startswith("prefect.variables."):
        var = name.removeprefix("prefect.variables.")
        new = names.get("variable", {}).get((var,))
        if new:
            return match.group(0).replace(name, f"prefect.variables.{new}")
    elif name.startswith("prefect.blocks."):
        parts = name.removeprefix("prefect.blocks.").split(".")
        if len(parts) >= 2:
            new = names.get("block-document", {}).get((parts[0], parts[1]))
            if new:
                renamed = ".".join(["prefect.blocks", parts[0], new, *parts[2:]])
                return match.group(0).replace(name, renamed)
    return match.group(0)


def merge_patch(target: JSON, patch: JSON) -> JSON:
    """RFC 7386 JSON merge patch: objects merge, null deletes, anything else replaces."""
    if not isinstance(patch, MappingABC):
        return patch
    out: JSONObject = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out
