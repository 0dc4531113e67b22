"""Import plans: bundle records x destination inventory x conflict policy -> one action each."""

from __future__ import annotations

import dataclasses

import pytest

from pfx.comparison import Inventory, differing
from pfx.graph import build_graph
from pfx.ids import Index
from pfx.jsontypes import JSON, JSONObject
from pfx.kinds import BY_NAME
from pfx.kinds.base import Call, Destination, Kind, Listing, Shape, field_losses
from pfx.model import Record, Ref
from pfx.openapi import read_accepts
from pfx.outcomes import predict
from pfx.output import plan_text
from pfx.plan import Plan, Policy, plan_import
from pfx.report import Report
from pfx.sameness import same

FLOW_SRC = "0b0c5e2a-6f4e-4b8e-9d7a-3c1f2e4d5a6b"
FLOW_DST = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
STAMPS = {"created": "2026-01-01T00:00:00Z", "updated": "2026-01-02T00:00:00Z"}


def flow(name: str, id_: str | None = None, tags: list[JSON] | None = None) -> Record:
    return Record(
        kind="flow", key=(name,), id=id_, data={"name": name, "tags": tags or [], "labels": {}}
    )


def variable(
    name: str, value: JSON, id_: str | None = None, refs: list[Ref] | None = None
) -> Record:
    return Record(
        kind="variable",
        key=(name,),
        id=id_,
        data={"name": name, "value": value, "tags": []},
        refs=refs or [],
    )


def inventory(*items: tuple[str, tuple[str, ...], JSONObject]) -> Inventory:
    """A destination holding `items` (kind, key, server JSON), indexed by their ids."""
    inv = Inventory()
    for kind, key, item in items:
        inv.items.setdefault(kind, {})[key] = item
        inv.index.add(kind, key, str(item["id"]) if "id" in item else None)
    return inv


def on_server(record: Record, id_: str, **changes: JSON) -> tuple[str, tuple[str, ...], JSONObject]:
    """`record` as the destination would answer for it: its own id, timestamps, and changes."""
    item: JSONObject = {**record.data, **STAMPS, "id": id_, **changes}
    return (record.kind, record.key, item)


def plan(
    records: list[Record],
    inv: Inventory,
    policy: Policy = "skip",
    missing_secrets: dict[int, list[str]] | None = None,
) -> Plan:
    graph = build_graph(records)
    return plan_import(records, graph, inv, policy=policy, missing_secrets=missing_secrets)


def verbs(p: Plan) -> list[str]:
    return [a.verb for a in p.actions]


def test_absent_records_are_created() -> None:
    """Records the destination does not have are planned as creates."""
    p = plan([flow("etl"), variable("answer", 42)], inventory())
    assert verbs(p) == ["create", "create"]
    assert p.ids == {} and p.unresolved == {}
    assert p.table() == {"flow": {"create": 1}, "variable": {"create": 1}}


def test_equal_records_are_unchanged_and_their_ids_mapped() -> None:
    """A record equal to the destination's (server fields aside) is unchanged; ids are mapped."""
    records = [
        flow("etl", FLOW_SRC),
        variable("answer", 42, "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"),
    ]
    inv = inventory(
        on_server(records[0], FLOW_DST),
        on_server(records[1], "2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a"),
    )
    p = plan(records, inv)
    assert verbs(p) == ["unchanged", "unchanged"]
    assert p.ids == {
        FLOW_SRC: FLOW_DST,
        "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f": "2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a",
    }
    assert p.actions[0].dest_id == FLOW_DST


def test_ids_inside_data_compare_by_what_they_name() -> None:
    """A value holding the source id of a flow equals one holding the destination's id of it."""
    records = [flow("etl", FLOW_SRC), variable("pointer", {"flow": FLOW_SRC})]
    inv = inventory(
        on_server(records[0], FLOW_DST),
        on_server(records[1], "2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a", value={"flow": FLOW_DST}),
    )
    assert verbs(plan(records, inv)) == ["unchanged", "unchanged"]


@pytest.mark.parametrize(
    ("policy", "verb", "reason"),
    [
        ("skip", "skip", "exists with different content (kept)"),
        ("update", "update", ""),
        ("fail", "conflict", "exists with different content"),
    ],
)
def test_different_records_follow_the_policy(policy: Policy, verb: str, reason: str) -> None:
    """A record that differs is skipped, updated or a conflict per policy, naming the fields."""
    records = [flow("etl", FLOW_SRC, tags=["a"]), variable("answer", 42)]
    inv = inventory(
        on_server(records[0], FLOW_DST, tags=["b"]),
        on_server(records[1], "2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a", value=41),
    )
    p = plan(records, inv, policy)
    assert verbs(p) == [verb, verb]
    assert [a.fields for a in p.actions] == [["tags"], ["value"]]
    assert [a.reason for a in p.actions] == [reason, reason]
    assert len(p.conflicts()) == (2 if policy == "fail" else 0)
    assert p.ids[FLOW_SRC] == FLOW_DST  # a kept destination record still resolves dependents


def test_missing_secrets_block_create_and_update() -> None:
    """A record whose secret values are missing needs secrets instead of create or update."""
    records = [variable("token", "********"), variable("other", "********")]
    inv = inventory(on_server(records[1], "2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a", value="x"))
    p = plan(records, inv, "update", missing_secrets={0: ["value"], 1: ["value"]})
    assert verbs(p) == ["needs-secrets", "needs-secrets"]
    assert [a.missing_secrets for a in p.actions] == [["value"], ["value"]]


def test_ref_outside_bundle_and_destination_is_unresolved() -> None:
    """A record whose hard ref is in neither the bundle nor the destination is unresolved."""
    outside = Ref(kind="flow", key=("elsewhere",), id=FLOW_SRC, path="value.flow")
    records = [variable("pointer", {"flow": FLOW_SRC}, refs=[outside])]
    p = plan(records, inventory())
    assert p.unresolved == {0: "flow elsewhere"}
    assert verbs(p) == ["create"]


def test_ref_outside_bundle_found_on_destination_maps_its_id() -> None:
    """A hard ref outside the bundle that the destination has resolves to the destination's id."""
    outside = Ref(kind="flow", key=("elsewhere",), id=FLOW_SRC, path="value.flow")
    records = [variable("pointer", {"flow": FLOW_SRC}, refs=[outside])]
    inv = inventory(("flow", ("elsewhere",), {"id": FLOW_DST, "name": "elsewhere"}))
    p = plan(records, inv)
    assert p.unresolved == {}
    assert p.ids == {FLOW_SRC: FLOW_DST}


def test_soft_ref_to_absent_record_is_not_unresolved() -> None:
    """A soft ref to a record nowhere to be found does not hold the record back."""
    soft = Ref(kind="variable", key=("gone",), soft=True)
    p = plan([variable("template", "{{ prefect.variables.gone }}", refs=[soft])], inventory())
    assert p.unresolved == {} and verbs(p) == ["create"]


# --- kinds without unique names, with a fake kind ---------------------------------------------


def _create(record: Record, data: JSONObject) -> Call:
    return Call("POST", "/fake/", data)


def _update(record: Record, data: JSONObject, dest: JSONObject) -> list[Call]:
    return [Call("PUT", f"/fake/{dest['id']}", data)]


def _unsupported(record: Record, dest: Destination) -> str | None:
    return "needs Prefect Cloud" if record.data.get("cloud") else None


FAKE = Kind(
    name="fake-automation",
    listing=Listing("/fake/filter"),
    server_fields=frozenset({"id", "created", "updated"}),
    key=lambda data, _index: (str(data["name"]),),
    create=_create,
    update=_update,
    shape=Shape(key=2, fields={"name": "str"}),
    unique_key=False,
    unsupported=_unsupported,
)


@pytest.fixture
def fake_kind(monkeypatch: pytest.MonkeyPatch) -> Kind:
    monkeypatch.setitem(BY_NAME, FAKE.name, FAKE)
    return FAKE


def auto(name: str, ordinal: int, trigger: str, **more: JSON) -> Record:
    data: JSONObject = {"name": name, "trigger": trigger, **more}
    return Record(kind=FAKE.name, key=(name, str(ordinal)), data=data)


def dest_auto(
    name: str, ordinal: int, trigger: str, id_: str
) -> tuple[str, tuple[str, ...], JSONObject]:
    return (FAKE.name, (name, str(ordinal)), {"name": name, "trigger": trigger, "id": id_})


def test_non_unique_names_pair_by_content_first(fake_kind: Kind) -> None:
    """Same-named records pair with the destination item of equal content, whatever ordinal."""
    records = [auto("alert", 1, "A"), auto("alert", 2, "B")]
    inv = inventory(dest_auto("alert", 1, "B", "id-b"), dest_auto("alert", 2, "A", "id-a"))
    p = plan(records, inv)
    assert verbs(p) == ["unchanged", "unchanged"]
    assert [a.dest_id for a in p.actions] == ["id-a", "id-b"]


def test_non_unique_leftovers_pair_in_order_then_create(fake_kind: Kind) -> None:
    """Unmatched same-named records take the remaining destination items, then are created."""
    records = [auto("alert", 1, "A"), auto("alert", 2, "C"), auto("alert", 3, "D")]
    inv = inventory(dest_auto("alert", 1, "A", "id-a"), dest_auto("alert", 2, "B", "id-b"))
    p = plan(records, inv)
    assert verbs(p) == ["unchanged", "skip", "create"]
    assert p.actions[1].fields == ["trigger"] and p.actions[1].dest_id == "id-b"


def test_non_unique_names_do_not_pair_across_names(fake_kind: Kind) -> None:
    """A record never pairs with a destination item of another name."""
    p = plan([auto("alert", 1, "A")], inventory(dest_auto("other", 1, "A", "id-a")))
    assert verbs(p) == ["create"]


def test_unsupported_absent_record(fake_kind: Kind) -> None:
    """An absent record the destination cannot hold is unsupported, with the kind's reason."""
    p = plan([auto("alert", 1, "A", cloud=True)], inventory())
    assert verbs(p) == ["unsupported"]
    assert p.actions[0].reason == "needs Prefect Cloud"


def test_index_of_hand_made_inventory() -> None:
    """The inventory helper indexes destination ids the way import does."""
    inv = inventory(("flow", ("etl",), {"id": FLOW_DST, "name": "etl"}))
    assert inv.index.lookup(FLOW_DST) == ("flow", ("etl",))
    assert isinstance(inv.index, Index)


# --- what "the same" means across releases ------------------------------------------------


def test_a_field_the_bundle_lacks_is_not_compared() -> None:
    """A 2.x flow has no `labels`; the 3.8 destination shows `{}` or server-made labels."""
    flow = BY_NAME["flow"]
    assert differing(flow, {"name": "etl"}, {"name": "etl", "labels": {"team": "a"}}) == []
    assert differing(flow, {"name": "etl", "labels": {}}, {"name": "etl", "labels": {"x": "1"}})


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        # A newer release fills in keys an older one lacks, unset.
        ({"cron": "0 2 * * *"}, {"cron": "0 2 * * *", "slug": None, "parameters": {}}),
        ([{"type": "run-deployment"}], [{"type": "run-deployment", "schedule_after": 0.0}]),
        # Servers store null, {} and [] for one another.
        (None, {}),
        ([], None),
        (1, 1.0),
        # One instant, written by two releases.
        ("2024-01-15T06:30:00+00:00", "2024-01-15T06:30:00Z"),
    ],
)
def test_unset_values_a_release_fills_in_are_the_same(ours: JSON, theirs: JSON) -> None:
    assert same(ours, theirs)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        # A limit of 0 blocks every run; none means no limit.
        (None, 0),
        (0, None),
        (True, 1),
        ({"image": "a"}, {}),
        ({}, {"image": "a"}),
        ({"cron": "0 2 * * *"}, {"cron": "0 2 * * *", "slug": "nightly"}),
        ([{"a": 1}], [{"a": 1}, {"a": 1}]),
        ("", None),
        ("2024-01-15T06:30:00+00:00", "2024-01-15T07:30:00Z"),
        ("2024-01-15T06:30:00", "2024-01-15T06:30:00Z"),
    ],
)
def test_values_that_differ_in_meaning_are_not_the_same(ours: JSON, theirs: JSON) -> None:
    assert not same(ours, theirs)


def test_a_value_naming_a_schema_names_its_checksum_whatever_the_version() -> None:
    """A block schema is reused by checksum across releases' version strings (3.8 -> 3.7):
    a value pointing at it points at the same schema, and a re-run finds it unchanged."""
    checksum = "sha256:0fc8b7f936f38f465715ef2df4a817ac9fe38b80bb01d5c6c9649a6da6ae6971"
    ours = Record(
        kind="block-schema", key=(checksum, "3.8.8"), id=FLOW_SRC, data={"version": "3.8.8"}
    )
    pointer = variable("schema", {"block_schema_id": FLOW_SRC})
    inv = inventory(
        ("block-schema", (checksum, "3.7.8"), {"id": FLOW_DST, "version": "3.7.8"}),
        on_server(
            pointer, "2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a", value={"block_schema_id": FLOW_DST}
        ),
    )
    assert verbs(plan([ours, pointer], inv)) == ["unchanged", "unchanged"]


# --- kinds that only some releases have (Kind.endpoint) ---------------------------------------

OPTIONAL = Kind(
    name="fake-setting",
    listing=Listing("/fake/setting", single=True),
    server_fields=frozenset(),
    key=lambda _data, _index: ("default",),
    create=lambda record, data: Call("PUT", "/fake/setting", data),
    update=lambda record, data, dest: [Call("PUT", "/fake/setting", data)],
    shape=Shape(key=1),
    endpoint="/fake/setting",
)


def release(*paths: str) -> Destination:
    """A destination whose OpenAPI offers exactly `paths` (GET and PUT each)."""
    document: JSONObject = {"paths": {p: {"get": {}, "put": {}} for p in paths}}
    return Destination(accepts=read_accepts(document, "Prefect 3.4.25"))


@pytest.fixture
def optional_kind(monkeypatch: pytest.MonkeyPatch) -> Kind:
    monkeypatch.setitem(BY_NAME, OPTIONAL.name, OPTIONAL)
    return OPTIONAL


def test_kind_the_destination_lacks_is_unsupported_with_release_and_endpoint(
    optional_kind: Kind,
) -> None:
    """Every record of a kind whose endpoint the destination's OpenAPI lacks: `unsupported`,
    naming the release and the endpoint; the dry run predicts a skip (exit 4 by report)."""
    record = Record(kind=OPTIONAL.name, key=("default",), data={"x": 1})
    graph = build_graph([record])
    p = plan_import([record], graph, inventory(), destination=release("/flows/"))
    assert verbs(p) == ["unsupported"]
    assert p.actions[0].reason == (
        "Prefect 3.4.25 does not have fake-setting records (its API offers no /fake/setting); "
        "not imported"
    )
    [predicted] = predict(p, graph)
    assert (predicted.status, predicted.code) == ("skipped", "unsupported")
    assert predicted.reason == p.actions[0].reason


def test_kind_the_destination_has_or_may_have_is_planned_as_usual(optional_kind: Kind) -> None:
    """Offered endpoint, or no OpenAPI known: the record is planned like any other."""
    record = Record(kind=OPTIONAL.name, key=("default",), data={"x": 1})
    graph = build_graph([record])
    for destination in (release("/fake/setting"), Destination()):
        p = plan_import([record], graph, inventory(), destination=destination)
        assert verbs(p) == ["create"]


def test_named_losses_are_left_out_when_pairing_by_content(
    fake_kind: Kind, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same-named records pair with the destination item of equal content once the fields
    the destination cannot hold are left out, as replay's read-back pairs them (the plan
    compared them whole, crossed the pairs and called both differing)."""
    lossy = dataclasses.replace(
        fake_kind, losses=lambda record, _dest: field_losses(record, ("extra",), "not kept")
    )
    monkeypatch.setitem(BY_NAME, FAKE.name, lossy)
    records = [auto("alert", 1, "A", extra=1), auto("alert", 2, "B", extra=1)]
    inv = inventory(dest_auto("alert", 1, "B", "id-b"), dest_auto("alert", 2, "A", "id-a"))
    p = plan(records, inv)
    assert verbs(p) == ["unchanged", "unchanged"]
    assert [a.dest_id for a in p.actions] == ["id-a", "id-b"]


def test_the_dry_run_shows_the_values_of_the_fields_the_plan_names() -> None:
    """The dry run lists, for a differing record, the values of exactly the fields the plan
    compared (bundle <- destination); a field the bundle lacks is not one of them."""
    ours = Record(kind="flow", key=("etl",), data={"name": "etl", "tags": ["a"]})
    theirs = (
        "flow",
        ("etl",),
        {"name": "etl", "tags": ["b"], "labels": {"team": "x"}, "id": FLOW_DST},
    )
    p = plan([ours], inventory(theirs))
    assert p.actions[0].fields == ["tags"]
    assert [(c.path, c.old, c.new) for c in p.actions[0].changes] == [("tags", ["b"], ["a"])]
    graph = build_graph([ours])
    report = Report(bundle="b", destination="d", dry_run=True, outcomes=predict(p, graph))
    text = plan_text(p, report)
    assert 'tags: ["b"] -> ["a"]' in text and "labels" not in text
