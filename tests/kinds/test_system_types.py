"""The destination's own block types are recognised by slug and protection, never by their
metadata: checked on the block types real 3.8.8 and 3.9.1 servers register (captured in
fixtures/api/block-types/), and on metadata a future release might rewrite."""

from __future__ import annotations

import json
from pathlib import Path

from pfx.comparison import Inventory, build_inventory
from pfx.graph import build_graph
from pfx.jsontypes import JSONObject
from pfx.kinds import block_type
from pfx.kinds.base import Destination
from pfx.model import Record
from pfx.plan import plan_import
from pfx.prefect_types import prefect_block_types

TYPES = Path(__file__).parents[2] / "fixtures" / "api" / "block-types"
METADATA = ("logo_url", "documentation_url", "description", "code_example")


def registered(release: str) -> list[JSONObject]:
    """The block types a fresh server of `release` registers, as it lists them."""
    items = json.loads((TYPES / f"{release}.json").read_text())
    assert isinstance(items, list)
    return items


def records(items: list[JSONObject]) -> list[Record]:
    """Bundle records of `items`, as export keeps them."""
    return [
        Record(
            kind="block-type",
            key=(str(i["slug"]),),
            id=str(i["id"]),
            data=block_type.KIND.kept(i),
        )
        for i in items
    ]


def plan(items: list[JSONObject], dest: list[JSONObject], destination: Destination) -> list[str]:
    """The action per record (verb, and the reason of an unchanged one) of `items` into `dest`."""
    ours = records(items)
    inventory: Inventory = build_inventory({"block-type": dest})
    result = plan_import(ours, build_graph(ours), inventory, destination=destination)
    return [f"{a.verb} {a.reason}".strip() for a in result.actions]


def rewritten(item: JSONObject, n: int) -> JSONObject:
    """`item` with every piece of metadata moved elsewhere, as a future release might: another
    logo host (3.9 moved some to images.ctfassets.net), no documentation, new texts."""
    return item | {
        "logo_url": f"https://images.example.invalid/logos/{n}.png?h=250",
        "documentation_url": None,
        "description": f"Rewritten by a future release ({n}).",
        "code_example": None,
    }


def test_every_type_38_registers_is_the_3_9_destinations_own() -> None:
    """A 3.8 bundle's types into 3.9 (which moved logos and documentation) are all unchanged,
    as the destination's system type: 3.9's metadata differs for most of them."""
    ours, theirs = registered("3.8.8"), registered("3.9.1")
    by_slug = {t["slug"]: t for t in theirs}
    moved = [o["slug"] for o in ours if any(o[k] != by_slug[o["slug"]][k] for k in METADATA)]
    assert len(moved) > 40, moved  # what the rule must not depend on
    assert set(plan(ours, theirs, Destination())) == {"unchanged destination's system type"}


def test_types_whose_metadata_a_future_release_rewrites_stay_unchanged() -> None:
    """Every type 3.9 registers, with all its metadata rewritten on the destination, is still
    unchanged (its slug and its protection decide, nothing a release can change)."""
    ours = registered("3.9.1")
    theirs = [rewritten(t, n) for n, t in enumerate(ours)]
    assert set(plan(ours, theirs, Destination())) == {"unchanged destination's system type"}


def test_a_users_own_type_with_edited_metadata_still_differs() -> None:
    """A type the user registered (not a slug Prefect registers, not protected) with other
    metadata on the destination differs, whichever hosts its URLs point to."""
    mine: JSONObject = {
        "id": "7d2f3c1e-1a2b-4c3d-8e4f-5a6b7c8d9e0f",
        "name": "Team Warehouse",
        "slug": "team-warehouse",
        "logo_url": "https://cdn.sanity.io/images/3ugk85nk/production/team.png",
        "documentation_url": "https://docs.prefect.io/team",
        "description": "Our warehouse.",
        "code_example": None,
        "is_protected": False,
    }
    edited = mine | {"logo_url": "https://raw.githubusercontent.com/PrefectHQ/x.png"}
    assert plan([edited], [mine], Destination()) == ["skip exists with different content (kept)"]


def test_a_type_only_the_installed_prefect_registers_is_the_destinations_own() -> None:
    """A slug a newer Prefect registers (unknown to pfx's list) is the destination's own when
    the prefect package pfx runs beside registers it, and compared otherwise."""
    ours: JSONObject = {
        "id": "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
        "name": "Future Credentials",
        "slug": "future-credentials",
        "logo_url": "https://a.invalid/1.png",
        "documentation_url": None,
        "description": "d",
        "code_example": None,
        "is_protected": False,
    }
    theirs = ours | {"logo_url": "https://b.invalid/2.png"}
    newer = Destination(prefect_block_types=frozenset({"future-credentials"}))
    assert plan([ours], [theirs], newer) == ["unchanged destination's system type"]
    assert plan([ours], [theirs], Destination()) == ["skip exists with different content (kept)"]


def test_the_installed_prefect_registers_no_slug_outside_the_tested_list() -> None:
    """The prefect package pfx runs beside (3.8.8 in development) registers the types its
    servers register, all of them in the list of tested releases' slugs."""
    installed = prefect_block_types()
    assert {"secret", "slack-webhook", "s3-bucket", "gitlab-credentials"} <= installed
    assert installed <= block_type.REGISTERED, installed - block_type.REGISTERED
    assert {t["slug"] for t in registered("3.8.8")} == installed
