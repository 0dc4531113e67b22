"""The registry of resource kinds, in dependency-friendly order (also the bundle's order).

Adding a kind: write one module with a `KIND = Kind(...)` and add it to the tuple below.
"""

from __future__ import annotations

from pfx.errors import BundleError
from pfx.kinds import (
    automation,
    block_document,
    block_schema,
    block_type,
    concurrency_limit,
    deployment,
    flow,
    result_storage,
    saved_search,
    sla,
    tag_limit,
    variable,
    webhook,
    work_pool,
    work_queue,
)
from pfx.kinds.base import Kind

KINDS: tuple[Kind, ...] = (
    flow.KIND,
    block_type.KIND,
    block_schema.KIND,
    block_document.KIND,
    variable.KIND,
    concurrency_limit.KIND,
    tag_limit.KIND,
    work_pool.KIND,
    work_queue.KIND,
    deployment.KIND,
    automation.KIND,
    saved_search.KIND,
    result_storage.KIND,
    webhook.KIND,
    sla.KIND,
)

BY_NAME: dict[str, Kind] = {kind.name: kind for kind in KINDS}
ORDER: dict[str, int] = {kind.name: i for i, kind in enumerate(KINDS)}


def kind_named(name: str) -> Kind:
    """The kind called `name`, or a BundleError naming the kinds this pfx knows."""
    try:
        return BY_NAME[name]
    except KeyError:
        known = ", ".join(BY_NAME)
        raise BundleError(f"unknown kind {name!r} (this pfx knows: {known})") from None
