"""Synthetic bundles: a real bundle's records, copied `scale` times under new names and ids.

Stands in for a source with `scale` times the deployments when seeding one would take too
long, to see how pfx's memory grows with the size of a bundle. Every kind that grows with the
number of deployments is copied (flows, deployments, pools, queues, block documents,
variables, limits, automations) with each natural key renamed consistently (`-cNN` suffix on
the name that makes it unique) and every id replaced by a per-copy id, so refs, edges and
remapping stay as rich as in the real bundle. Block types and schemas are not copied (a
server has them once). Secret values are withheld in the synthetic bundle (encrypted values
are already masked in a record's data; re-encrypting them under renamed keys is not the
point); the scale-1 bundle is made the same way so the two
compare like for like.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from pfx import bundle as bundle_codec
from pfx.bundlefile import read_bundle, write_lines
from pfx.ids import replace_ids
from pfx.jsontypes import JSON
from pfx.model import Record, Ref, SecretSlot, SecretsSummary

FIXED = frozenset({"block-type", "block-schema"})
NAMESPACE = uuid.UUID("6f1d2c1e-9a43-4c1a-9d0b-3f7f4b1b2a10")


def _rename(kind: str, key: tuple[str, ...], sfx: str) -> tuple[str, ...]:
    """The key of copy `sfx` of a record of `kind` (the first name part that is the record's)."""
    if kind in FIXED or not sfx:
        return key
    if kind in ("deployment", "work-queue", "block-document"):
        # (flow, name), (pool, name), (type slug, name): the flow/pool is renamed with its
        # own record; a block document keeps its (shared) type and gets a new name.
        if kind == "block-document":
            return (key[0], key[1] + sfx, *key[2:])
        return (key[0] + sfx, *key[1:])
    return (key[0] + sfx, *key[1:])


def _copy(record: Record, copy: int, ids: dict[str, str]) -> Record:
    sfx = f"-c{copy:02d}" if copy else ""
    key = _rename(record.kind, record.key, sfx)
    data = replace_ids(record.data, ids) if copy else record.data
    assert isinstance(data, dict)
    if copy and record.kind not in FIXED:
        data = _rename_data(record.kind, data, key, sfx)
    refs = [
        Ref(
            kind=r.kind,
            key=_rename(r.kind, r.key, sfx),
            id=ids.get(r.id.lower(), r.id) if (copy and r.id) else r.id,
            path=r.path,
            soft=r.soft,
            late=r.late,
        )
        for r in record.refs
    ]
    secrets = None
    if record.secrets is not None:
        secrets = SecretSlot(mode="withheld", fields=record.secrets.fields)
    new_id = ids.get(record.id.lower(), record.id) if (copy and record.id) else record.id
    return Record(kind=record.kind, key=key, id=new_id, data=data, refs=refs, secrets=secrets)


def _rename_data(
    kind: str, data: dict[str, JSON], key: tuple[str, ...], sfx: str
) -> dict[str, JSON]:
    out = dict(data)
    if kind == "tag-concurrency-limit" and "tag" in out:
        out["tag"] = key[0]
    elif kind == "work-queue":
        if "work_pool_name" in out:
            out["work_pool_name"] = key[0]
    elif kind == "block-document":
        out["name"] = key[1]
    elif kind == "deployment":
        pass  # its key's flow name comes from flow_id, already a per-copy id
    elif "name" in out:
        out["name"] = key[0]
    return out


def build(source: Path, target: Path, scale: int) -> tuple[int, int]:
    """Write a bundle of `scale` copies of `source`'s records to `target`.

    Returns (records, compressed size)."""
    original = read_bundle(source)
    records: list[Record] = []
    for copy in range(scale):
        ids: dict[str, str] = {}
        if copy:
            for record in original.records:
                if record.id and record.kind not in FIXED:
                    ids[record.id.lower()] = str(uuid.uuid5(NAMESPACE, f"{copy}:{record.id}"))
        for record in original.records:
            if copy and record.kind in FIXED:
                continue
            records.append(_copy(record, copy, ids))
    lines = bundle_codec.encode(
        records,
        source=original.manifest.source,
        created=original.manifest.created,
        secrets=SecretsSummary(mode="withheld"),
    )
    size = write_lines(target, lines)
    return len(records), size


def tiny(source: Path, target: Path, per_kind: int = 5) -> int:
    """A small valid bundle (a few flows and variables of `source`, which hold no refs), for
    timing how fast a command starts rather than how fast it reads a large bundle."""
    original = read_bundle(source)
    kept: list[Record] = []
    for kind in ("flow", "variable"):
        kept += [r for r in original.records if r.kind == kind][:per_kind]
    lines = bundle_codec.encode(
        kept, source=original.manifest.source, created=original.manifest.created
    )
    write_lines(target, lines)
    return len(kept)
