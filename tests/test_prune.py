"""`import --prune`'s decisions, pure (pfx.scope, pfx.prune): what is in a bundle's scope,
what is deleted, what is kept and what holds it, the order of deletions, the guard; and each
kind's delete call against the routes of every supported destination release."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pfx.bundle import Bundle
from pfx.errors import UsageError
from pfx.kinds import BY_NAME, KINDS, ORDER
from pfx.kinds.base import Destination
from pfx.kinds.work_queue import DEFAULT_MARK
from pfx.model import Manifest, Partial, Record, Ref, Skipped, Source
from pfx.promotion import Promotion, check_matched, pick
from pfx.prune import Pruning, plan_deferred, plan_prune
from pfx.scope import Scope, scope_of

ROUTES = Path(__file__).resolve().parents[1] / "fixtures" / "api" / "routes"
DEST = Destination()


def manifest(
    release: str | None = "3.8.8",
    cloud: bool | None = False,
    kinds: tuple[str, ...] | None = None,
    **extra: object,
) -> Manifest:
    counts = {k: 0 for k in (kinds if kinds is not None else ORDER)}
    return Manifest(
        pfx_version="0.3.0",
        created="2026-12-01T00:00:00Z",
        source=Source(url="http://src/api", server_version=release, cloud=cloud),
        counts=counts,
        edges=[],
        hashes=[],
        digest="",
        **extra,  # type: ignore[arg-type]
    )


def rec(kind: str, *key: str, refs: tuple[Ref, ...] = (), **data: object) -> Record:
    ident = f"{kind}-{'-'.join(key)}"
    return Record(kind=kind, key=key, id=ident, data=dict(data), refs=list(refs))


def ref(kind: str, *key: str, **extra: object) -> Ref:
    return Ref(kind=kind, key=key, **extra)  # type: ignore[arg-type]


def verdicts(pruning: Pruning) -> dict[str, tuple[str, list[str]]]:
    return {v.label: (v.action, v.held_by) for v in pruning.verdicts}


def prune(
    theirs: list[Record],
    ours: list[Record] = [],  # noqa: B006 (never mutated)
    scope: Scope | None = None,
    arrives: bool = True,
) -> Pruning:
    """Pair each of `ours` with the destination record of the same key."""
    keys = {(r.kind, r.key) for r in theirs}
    pairs = {i: (r.kind, r.key) for i, r in enumerate(ours) if (r.kind, r.key) in keys}
    return plan_prune(theirs, pairs, ours, lambda _i: arrives, scope or scope_of(manifest()), DEST)


def test_what_the_bundle_does_not_hold_is_deleted_and_its_system_types_left() -> None:
    """A destination record no bundle record pairs with is deleted; a protected (or
    server-registered) block type and a schema of one are the destination's own."""
    theirs = [
        rec("block-type", "secret", slug="secret", is_protected=True),
        rec("block-type", "mine", slug="mine", is_protected=False),
        rec("block-schema", "abc", "3.9.1",
            refs=(ref("block-type", "secret", path="block_type_id"),)),
        rec("variable", "a", name="a"),
        rec("variable", "b", name="b"),
    ]  # fmt: skip
    found = verdicts(prune(theirs, [rec("variable", "a", name="a")]))
    assert found == {
        "block-type mine": ("delete", []),
        "variable b": ("delete", []),
        "block-type secret": ("leave", []),
        "block-schema abc/3.9.1": ("leave", []),
    }


def test_a_record_used_by_something_that_stays_is_kept_with_what_holds_it() -> None:
    """What a record outside the scope uses is kept, naming it; what a kept record uses is
    kept in turn; the bundle's own records hold what they use outside themselves."""
    theirs = [
        rec("block-document", "s3", "inner", name="inner"),
        rec("block-document", "s3", "outer", name="outer",
            refs=(ref("block-document", "s3", "inner", path="data.inner"),)),
        rec("deployment", "etl", "daily", name="daily",
            refs=(ref("block-document", "s3", "outer", path="storage_document_id"),)),
        rec("variable", "bucket", name="bucket"),
        rec("variable", "gone", name="gone"),
    ]  # fmt: skip
    ours = [rec("automation", "a", "1", refs=(ref("variable", "bucket", soft=True),))]
    scope = scope_of(manifest(), exclude=["kind:deployment"])
    found = verdicts(prune(theirs, ours, scope))
    assert found["block-document s3/outer"] == ("keep", ["deployment etl/daily"])
    assert found["block-document s3/inner"] == ("keep", ["block-document s3/outer"])
    assert found["variable bucket"] == ("keep", ["automation a/1"])
    assert found["variable gone"] == ("delete", [])
    assert found["deployment etl/daily"][0] == "leave"


def test_a_bundle_record_that_does_not_arrive_holds_what_its_counterpart_uses() -> None:
    """A deployment the run updates away from a pool frees the pool; one that keeps the
    destination's content (skipped, failed) still uses it."""
    pool = ref("work-pool", "old", path="work_pool_name")
    theirs = [
        rec("work-pool", "old", name="old"),
        rec("deployment", "etl", "daily", refs=(pool,)),
    ]
    ours = [rec("deployment", "etl", "daily", refs=(ref("work-pool", "new"),))]
    assert verdicts(prune(theirs, ours))["work-pool old"] == ("delete", [])
    held = verdicts(prune(theirs, ours, arrives=False))["work-pool old"]
    assert held == ("keep", ["deployment etl/daily"])


def test_deletions_go_from_what_uses_to_what_is_used_and_pools_take_their_default_queue() -> None:
    """Automations before the deployments they name, deployments before their pools, flows
    and blocks; a pool's other queues before it; its default queue goes with it."""
    theirs = [
        rec("flow", "etl", name="etl"),
        rec("block-document", "secret", "token", name="token"),
        rec("work-pool", "p", name="p"),
        rec("work-queue", "p", "default", refs=(ref("work-pool", "p", path=DEFAULT_MARK),)),
        rec("work-queue", "p", "q", refs=(ref("work-pool", "p", path="work_pool_id"),)),
        rec("deployment", "etl", "daily", refs=(
            ref("flow", "etl"), ref("work-pool", "p"), ref("work-queue", "p", "q", soft=True),
            ref("block-document", "secret", "token"),
        )),
        rec("automation", "alert", "1", refs=(ref("deployment", "etl", "daily"),)),
    ]  # fmt: skip
    pruning = prune(theirs)
    order = [(v.level, v.label, v.with_pool) for v in pruning.deletions]
    assert order == [
        (0, "automation alert/1", None),
        (1, "deployment etl/daily", None),
        (2, "work-queue p/q", None),
        (2, "block-document secret/token", None),
        (2, "flow etl", None),
        (3, "work-pool p", None),
        (4, "work-queue p/default", "work-pool p"),
    ]
    assert pruning.deletions[-1].after == [("work-pool", ("p",))]
    assert pruning.deletions[1].after == [("automation", ("alert", "1"))]


def test_a_pools_default_queue_stays_with_a_pool_that_stays() -> None:
    """The default queue of a pool that stays is never deleted, even when the bundle names
    no such queue (a renamed default queue), nor does it hold its pool."""
    theirs = [
        rec("work-pool", "p", name="p"),
        rec("work-queue", "p", "default", refs=(ref("work-pool", "p", path=DEFAULT_MARK),)),
    ]
    found = verdicts(prune(theirs, [rec("work-pool", "p", name="p")]))
    assert found == {"work-queue p/default": ("leave", [])}


def test_the_scope_holds_only_kinds_the_bundle_covers() -> None:
    """Kinds the bundle's format predates, kinds its source release or server did not have,
    and kinds it could not read at export are not the bundle's to prune."""
    old = manifest(
        release="3.4.25",
        kinds=tuple(k for k in ORDER if k != "saved-search"),
        skipped=[Skipped(kind="automation", key=("*",), reason="could not be read")],
    )
    scope = scope_of(old)
    assert "variable" in scope.kinds and "deployment" in scope.kinds
    left = {k: scope.uncovered[k] for k in BY_NAME if k not in scope.kinds}
    assert set(left) == {"saved-search", "automation", "default-result-storage", "webhook", "sla"}
    assert "Prefect 3.4.25" in left["default-result-storage"]
    assert "could not be read" in left["automation"]
    assert "default-result-storage" in scope_of(manifest(release="3.7.8")).kinds
    cloud = scope_of(manifest(release=None, cloud=True))
    assert {"webhook", "sla"} <= cloud.kinds and "default-result-storage" not in cloud.kinds


def test_a_partial_bundle_and_import_selectors_scope_by_choice_not_closure() -> None:
    """A partial bundle speaks for what its selectors choose, the import's selectors narrow
    that further; dependencies a selection brought along are not chosen."""
    partial = manifest(selection=Partial(include=["variable:etl_*", "deployment:etl/*"]))
    theirs = [
        rec("variable", "etl_a", name="etl_a"),
        rec("variable", "etl_keep", name="etl_keep"),
        rec("variable", "other", name="other"),
        rec("work-pool", "p", name="p"),
        rec("deployment", "etl", "old", name="old"),
    ]
    scope = scope_of(partial, exclude=["variable:etl_keep"])
    found = {k: v[0] for k, v in verdicts(prune(theirs, [], scope)).items()}
    assert found == {
        "variable etl_a": "delete",
        "deployment etl/old": "delete",
        "variable etl_keep": "leave",
        "variable other": "leave",
        "work-pool p": "leave",
    }


def test_with_prune_a_selector_may_match_only_on_the_destination_but_not_nowhere() -> None:
    """With --prune, an --exclude that no bundle record matches waits for the destination
    (it protects records there) and is refused only when it matches nothing there either;
    without --prune it is refused at once."""
    bundle = Bundle(manifest(), [rec("variable", "shared")], [])
    promotion = Promotion(exclude=("variable:prod_only_*",))
    with pytest.raises(UsageError, match="matches no record"):
        pick(bundle, promotion)
    picked, _, pending = pick(bundle, promotion, prune=True)
    assert [r.key for r in picked.records] == [("shared",)]
    assert [(flag, s.text) for flag, s in pending] == [("--exclude", "variable:prod_only_*")]
    check_matched(pending, [rec("variable", "prod_only_1")])
    with pytest.raises(UsageError, match="in the bundle or on the destination"):
        check_matched(pending, [rec("variable", "shared")])


def test_the_guard_refuses_more_than_half_of_a_kind_unless_prune_max_allows() -> None:
    """More than half of the destination's records of a kind (all of one record) is refused
    in one line naming the counts; --prune-max N bounds all deletions; `all` lifts it."""
    five = [rec("variable", f"v{i}", name=f"v{i}") for i in range(5)]
    two_gone = prune(five, five[2:])
    assert two_gone.refusal() is None
    three_gone = prune(five, five[3:])
    line = three_gone.refusal()
    assert line is not None and "3 of 5 variable records" in line and "\n" not in line
    assert three_gone.refusal(3) is None and three_gone.refusal("all") is None
    assert "more than --prune-max 2" in (three_gone.refusal(2) or "")
    only = prune([rec("work-pool", "p", name="p")])
    assert "1 of 1 work-pool records" in (only.refusal() or "")


def test_cutover_keeps_a_deferred_deletion_that_something_uses_by_now() -> None:
    """At cutover the deferred deletions are decided again: one that another record uses by
    now is kept, naming it."""
    theirs = [
        rec("variable", "v", name="v"),
        rec("variable", "w", name="w"),
        rec("deployment", "etl", "new", refs=(ref("variable", "w", soft=True),)),
    ]
    found = verdicts(plan_deferred(theirs, {("variable", ("v",)), ("variable", ("w",))}))
    assert found == {"variable v": ("delete", []), "variable w": ("keep", ["deployment etl/new"])}


# --- each kind's delete call, against the routes of real servers -------------------------


def _routes() -> dict[str, set[tuple[str, str]]]:
    """Release -> (method, path pattern) of every operation its /api/openapi.json lists
    (fixtures/api/routes: captured from real servers of each release)."""
    found = {}
    for path in sorted(ROUTES.glob("*.txt")):
        pairs = set()
        for line in path.read_text().splitlines():
            method, route = line.split(" ", 1)
            pairs.add((method, re.sub(r"\{[^}]+\}", "{}", route)))
        found[path.stem] = pairs
    return found


ITEMS = {
    "work-pool": {"id": "11111111-1111-1111-1111-111111111111", "name": "my pool"},
    "tag-concurrency-limit": {"id": "11111111-1111-1111-1111-111111111111", "name": "tag:db"},
    "sla": {"deployment_id": "11111111-1111-1111-1111-111111111111", "slas": []},
}


def test_every_supported_destination_release_has_each_kinds_delete() -> None:
    """Each kind's delete call is an operation of every supported destination release (3.4 to
    3.9) that has the kind; Cloud's kinds (webhooks, SLAs) are on no self-hosted one."""
    routes = _routes()
    assert {r.rsplit(".", 1)[0] for r in routes} == {"3.4", "3.6", "3.7", "3.8", "3.9"}
    for kind in KINDS:
        assert kind.delete is not None, kind.name
        item = ITEMS.get(kind.name, {"id": "11111111-1111-1111-1111-111111111111"})
        for call in kind.delete(item):
            path = re.sub(r"/[0-9a-f-]{36}|/my%20pool|prefect\.deployment\.[0-9a-f-]{36}", "/{}",
                          call.path).replace("//", "/")  # fmt: skip
            for release, operations in routes.items():
                offered = kind.endpoint is None or any(
                    re.sub(r"\{[^}]+\}", "{}", kind.endpoint) == p for _, p in operations
                )
                if offered:
                    assert (call.method, path) in operations, (kind.name, release, call)
                elif kind.name not in ("webhook", "sla"):
                    assert release.startswith(("3.4", "3.6")), (kind.name, release)


@pytest.mark.parametrize("item", [{"id": "x1", "tag": "db"}, {"id": "x2", "name": "tag:db"}])
def test_a_tag_limit_is_deleted_where_its_server_keeps_it(item: dict[str, str]) -> None:
    """A v1-shaped tag limit (a server before 3.4.19) is deleted from the v1 table; one kept
    as a `tag:` global limit from the v2 one."""
    delete = BY_NAME["tag-concurrency-limit"].delete
    assert delete is not None
    (call,) = delete(item)
    expected = "/concurrency_limits/x1" if "tag" in item else "/v2/concurrency_limits/x2"
    assert (call.method, call.path) == ("DELETE", expected)
