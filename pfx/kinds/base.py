"""The contract every resource kind fulfils: how it is listed, keyed, referenced and written.

A kind is data plus pure functions; it never does I/O. pfx.server.api executes the Calls it returns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

from pfx.ids import Index, replace_ids
from pfx.jsontypes import JSON, JSONObject
from pfx.model import Loss, Record, Ref
from pfx.openapi import Accepts, Drop


@dataclass(frozen=True)
class Call:
    """One HTTP request to the Prefect API, relative to the API root."""

    method: str
    path: str
    body: JSON = None


@dataclass(frozen=True)
class Listing:
    """How to page through every item of a kind: POST `path` with `body` plus offset/limit."""

    path: str
    body: JSONObject = field(default_factory=dict)
    # Some list endpoints (v1 tag limits) ignore paging; one call then returns everything.
    paged: bool = True
    # Merged into `body` when secret values are to be read (block documents).
    secret_body: JSONObject = field(default_factory=dict)
    # The endpoint that counts the same items (same filter body), where the server has one:
    # a paged read that disagrees with it is read again, then refused (nothing lost silently).
    count_path: str | None = None
    # Read once per item of this kind, `{name}` in `path` filled with the item's name: for
    # lists whose global endpoint sorts on a non-unique field (queue names repeat per pool).
    per: str | None = None
    # A GET of one object (a server setting) instead of a POST listing: the answer is the
    # kind's only item.
    single: bool = False

    def with_body(self, extra: JSONObject) -> Listing:
        return Listing(
            self.path,
            self.body | extra,
            self.paged,
            self.secret_body,
            self.count_path,
            self.per,
            self.single,
        )

    def under(self, name: str) -> Listing:
        """The listing for one parent item (see `per`)."""
        path = self.path.replace("{name}", quote(name, safe=""))
        return Listing(path, self.body, self.paged, self.secret_body, None, None)


@dataclass(frozen=True)
class Shape:
    """What a kind's import code reads from a record, checked by `pfx verify` before import.

    `key`: the number of natural-key parts. `fields`: `data` fields the kind's
    create/update/late code reads (dotted: a field of an object field), each with its JSON
    type: `str`, `int`, `number`, `bool`, `object`, `array` or `any`; a trailing `?` allows
    the field to be absent or null.
    """

    key: int
    fields: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Destination:
    """What import knows about the destination server when it decides what is supported."""

    cloud: bool = False
    server_version: str | None = None
    block_types: frozenset[str] = frozenset()
    # Block type slugs the prefect package pfx runs beside registers on its servers by itself
    # (pfx.prefect_types): with the slugs of the releases pfx was tested with
    # (kinds/block_type.py), what makes a destination's type its own system type.
    prefect_block_types: frozenset[str] = frozenset()
    # The request schemas the destination accepts (its /openapi.json); None: not known, and
    # payloads go as the kinds build them.
    accepts: Accepts | None = None


Remap = Callable[[str], str | None]
"""Source id -> destination id, or None when the referenced record has no destination id."""


def no_reason(_record: Record, _dest: Destination) -> str | None:
    """Default: every record of the kind can be created anywhere."""
    return None


def no_refs(_data: JSONObject, _index: Index) -> list[Ref]:
    """Default: the kind depends on nothing."""
    return []


def remap_all(data: JSON, remap: Mapping[str, str]) -> JSON:
    """Rewrite every source id inside `data` (also inside strings) to its destination id."""
    return replace_ids(data, remap)


@dataclass(frozen=True)
class Kind:
    """One resource kind. Field docs say who calls what; see pfx/kinds/flow.py for the simplest."""

    # kebab-case, as in the bundle and the CLI: "work-pool".
    name: str
    listing: Listing
    # Fields the server manages (ids, timestamps, status): not kept in the bundle, not compared.
    server_fields: frozenset[str]
    # The natural key of an item of this kind, from its server JSON. `index` already holds
    # every item of the kinds before this one in the registry (a deployment's key needs its
    # flow's name: `index.lookup(item["flow_id"])`).
    key: Callable[[JSONObject, Index], tuple[str, ...]]
    # The request(s) that create the record on the destination, run in order; ids already
    # remapped in `data`. The created id comes from the last response that has one.
    create: Callable[[Record, JSONObject], Call | list[Call]]
    # The requests that make an existing destination object equal to the record.
    update: Callable[[Record, JSONObject, JSONObject], list[Call]]
    # What import reads from a record of this kind (verify checks it; see Shape).
    shape: Shape
    # What the record depends on; `index` resolves source ids and names to natural keys.
    refs: Callable[[JSONObject, Index], list[Ref]] = no_refs
    # Whether the source item is a resource of its own (False: it belongs to another record,
    # like the server-made `deployment:<id>` concurrency limits).
    own: Callable[[JSONObject], bool] = lambda _data: True
    # Why the destination cannot hold the record (reserved names, tag limits on a server
    # without v2 tag limits), or None. Anything else the destination decides (see openapi.py).
    unsupported: Callable[[Record, Destination], str | None] = no_reason
    # A warning for a record the destination holds but cannot put to use (a push pool on a
    # server without push infrastructure), shown on its outcome; None: nothing to say.
    caveat: Callable[[Record, Destination], str | None] = no_reason
    # A coarser key under which a destination item is this same record when none has its
    # exact key (block schemas: the checksum, whatever the version string). None: exact only.
    match_key: Callable[[tuple[str, ...]], tuple[str, ...]] | None = None
    # Why a destination item is its server's own (a system block type): the record counts as
    # unchanged whatever either holds, and import never writes it; shown on its outcome.
    # None: the record is compared.
    owned: Callable[[JSONObject, Destination], str | None] = lambda _dest, _destination: None
    # Names are not unique (automations): keys get an ordinal, matching pairs by content.
    unique_key: bool = True
    # An API path (relative to the API root) that a server offers exactly when it has this
    # kind (kinds that only some releases have); None: every server has it. A destination
    # whose OpenAPI lacks it gets no record of the kind (plan: `unsupported`), and a source
    # that answers 404 there has none.
    endpoint: str | None = None
    # The oldest pfx release that reads records of this kind (kinds appended in a later minor
    # format version): a bundle holding one names it as its `reader`.
    since: str = "0.1"
    # Fields that exist on both sides but that the destination sets itself and import does not
    # carry; excluded from comparison only.
    ignored: frozenset[str] = frozenset()
    # Fields the server fixes at creation (no update can change them): a record that differs
    # in one is never reported updated.
    immutable: frozenset[str] = frozenset()
    # The id of the created object, from the create call's response.
    created_id: Callable[[JSONObject], str | None] = lambda response: _str(response.get("id"))
    # Data as export keeps it: the server JSON without server fields (override to reshape).
    keep: Callable[[JSONObject], JSONObject] | None = None
    # Calls run after every record is created, for references that can only be set late
    # (automations that point at themselves or each other). None: nothing late.
    late: Callable[[Record, JSONObject, str], list[Call]] | None = None
    # The portable data as `create` first leaves it, before late refs are set (or, for a pool's
    # default queue, before it is configured); lets a re-run finish a record that an
    # interrupted import created but did not complete.
    early: Callable[[JSONObject], JSONObject] | None = None
    # Dotted paths of the item's secret values (block documents: from the schema's
    # secret_fields); None for kinds that hold no secrets. A kind with them compares in
    # pfx.sameness's masked mode (a masked value cannot be compared: the same).
    secret_paths: Callable[[JSONObject], list[str]] | None = None
    # Differing field names between the bundle's and the destination's portable data (ids
    # replaced by natural-key tokens, server and ignored fields dropped). None: top-level
    # fields compared by pfx.sameness (pfx.comparison.differing).
    compare: Callable[[JSONObject, JSONObject], list[str]] | None = None
    # The items as the kind keys them, from what its listing returns (SLAs: one item per
    # deployment from one per SLA); applied wherever the listing is read. None: as listed.
    gather: Callable[[list[JSONObject]], list[JSONObject]] | None = None
    # The requests that delete an item of this kind from the destination (`import --prune`),
    # given its server JSON; by id wherever the API offers it (a repeated or late DELETE by
    # id cannot remove another object). None: pfx never deletes the kind.
    delete: Callable[[JSONObject], list[Call]] | None = None
    # Whether a source of this release (None: unknown) and kind of server (Cloud or not;
    # None: not recorded) has this kind at all: a bundle from a source without it says
    # nothing about a destination's records of it (`--prune` leaves them).
    had_by: Callable[[str | None, bool | None], bool] = lambda _release, _cloud: True
    # Losses the destination's request schemas cannot reveal (pfx.losses adds the schema's):
    # a field the kind never sends (a webhook's service account, of the source's account) or
    # that a destination accepts and discards (a deployment's version_info off Cloud).
    losses: Callable[[Record, Destination], list[Loss]] = lambda _record, _dest: []

    def kept(self, data: JSONObject) -> JSONObject:
        """The record data export keeps for an item: server fields dropped."""
        trimmed = {k: v for k, v in data.items() if k not in self.server_fields}
        return self.keep(trimmed) if self.keep else trimmed


def delete_by_id(path: str) -> Callable[[JSONObject], list[Call]]:
    """A kind's `delete`: DELETE `path` followed by the item's own id."""

    def delete(item: JSONObject) -> list[Call]:
        return [Call("DELETE", f"{path}{quote(str(item['id']), safe='')}")]

    return delete


def field_losses(record: Record, fields: tuple[str, ...], why: str) -> list[Loss]:
    """A loss for each of `fields` that holds a value in the record's data."""
    return [
        Loss(field=name, value_kind=Drop(name, record.data[name]).value_kind, why=why)
        for name in fields
        if record.data.get(name) not in (None, "", [], {})
    ]


def _str(value: JSON) -> str | None:
    return value if isinstance(value, str) else None
