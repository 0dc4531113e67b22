"""Prefect's own block types: the slugs every Prefect server registers itself at start-up, as
the prefect package pfx runs beside defines them (its built-in block classes, and the
integrations' types it registers from `prefect/server/collection_blocks_data.json`)."""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
from importlib import resources

# The packaged registry a server registers its integrations' types from (every release
# 2.20-3.9 ships it; `prefect/server/models/block_registration.py`).
_COLLECTIONS = "collection_blocks_data.json"
# Where the prefect package defines its own block classes (3.x; a module a release drops is
# skipped, and its classes are then those the other modules import).
_BUILTIN_MODULES = (
    "prefect.blocks.system",
    "prefect.blocks.notifications",
    "prefect.blocks.webhook",
    "prefect.filesystems",
)
# A packaged file, not a server's answer; this only guards against a broken install.
_MAX_BYTES = 16 * 1024 * 1024


@functools.cache
def prefect_block_types() -> frozenset[str]:
    """Every block type slug Prefect registers on its servers by itself (a server registers
    these at each start-up, overwriting their metadata with its own release's)."""
    return frozenset(_builtin() | _collections())


def _builtin() -> set[str]:
    """The block classes the prefect package defines (what a server registers from its own
    block registry: secret, webhook, local-file-system, the notification blocks, ...)."""
    from prefect.blocks.core import Block
    from prefect.utilities.dispatch import get_registry_for_type

    for module in _BUILTIN_MODULES:
        # Imported for their side effect: each module's Block subclasses join the registry.
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    registry = get_registry_for_type(Block) or {}
    # Only prefect's own classes: the registry also holds every Block subclass this process
    # imported (a user's, through PREFECT_EXTRA_ENTRYPOINTS), which are the user's types.
    return {
        str(slug)
        for slug, cls in registry.items()
        if str(getattr(cls, "__module__", "")).split(".")[0] == "prefect"
    }


def _collections() -> set[str]:
    """The integrations' block types a server registers from its packaged registry."""
    try:
        path = resources.files("prefect.server").joinpath(_COLLECTIONS)
        with path.open("rb") as f:
            data = json.loads(f.read(_MAX_BYTES))
    except (OSError, ValueError, ModuleNotFoundError):
        # A prefect without the server's registry (prefect-client): the built-in types and
        # the destination's protected ones remain known; the rest compare as user types.
        return set()
    collections = data.get("collections") if isinstance(data, dict) else None
    if not isinstance(collections, dict):
        return set()
    return {
        str(slug)
        for c in collections.values()
        if isinstance(c, dict) and isinstance(c.get("block_types"), dict)
        for slug in c["block_types"]
    }
