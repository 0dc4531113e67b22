"""Diff, pure: added/removed/changed records, field-level values, ids as natural keys,
secrets never shown."""

from __future__ import annotations

from pfx.diff import diff_records
from pfx.kinds.base import Destination
from pfx.model import Record, Ref, SecretSlot
from pfx.secrets import MASK
from tests.conftest import accepts


def pool(
    name: str, image: str = "etl:1", id_: str = "11111111-1111-1111-1111-111111111111"
) -> Record:
    data = {"name": name, "type": "process", "base_job_template": {"image": image, "cpu": 1}}
    return Record(kind="work-pool", key=(name,), id=id_, data=data)  # type: ignore[arg-type]


def deployment(pool_id: str, pool_name: str, dep_id: str) -> Record:
    data = {"name": "prod", "job_variables": {"block": pool_id}, "work_pool_name": pool_name}
    return Record(
        kind="deployment",
        key=("etl", "prod"),
        id=dep_id,
        data=data,  # type: ignore[arg-type]
        refs=[Ref(kind="work-pool", key=(pool_name,), id=pool_id)],
    )


def test_equal_records_from_two_servers_are_equal() -> None:
    """Ids differ between servers; records naming the same targets are equal."""
    a = [pool("k8s", id_="11111111-1111-1111-1111-111111111111")]
    a.append(
        deployment(
            "11111111-1111-1111-1111-111111111111", "k8s", "aaaaaaaa-0000-0000-0000-000000000000"
        )
    )
    b = [pool("k8s", id_="22222222-2222-2222-2222-222222222222")]
    b.append(
        deployment(
            "22222222-2222-2222-2222-222222222222", "k8s", "bbbbbbbb-0000-0000-0000-000000000000"
        )
    )
    result = diff_records(a, b, names=("a", "b"))
    assert result.same
    assert result.counts() == {"added": 0, "removed": 0, "changed": 0, "equal": 2}


def test_added_removed_and_changed_fields() -> None:
    """A changed leaf is named by its dotted path with old and new values."""
    a = [pool("k8s"), pool("old", id_="33333333-3333-3333-3333-333333333333")]
    b = [pool("k8s", image="etl:2"), pool("new", id_="44444444-4444-4444-4444-444444444444")]
    result = diff_records(a, b, names=("a", "b"))
    assert [(r.status, r.label) for r in result.records] == [
        ("changed", "work-pool k8s"),
        ("added", "work-pool new"),
        ("removed", "work-pool old"),
    ]
    (change,) = result.records[0].changes
    assert (change.path, change.old, change.new) == ("base_job_template.image", "etl:1", "etl:2")
    assert result.as_json()["equal"] is False


def block(password: str, mode: str = "plaintext") -> Record:
    return Record(
        kind="block-document",
        key=("secret", "db"),
        data={"name": "db", "data": {"password": password, "user": "app"}},
        secrets=SecretSlot(mode=mode, fields=["data.password"]),  # type: ignore[arg-type]
    )


def test_secret_values_never_shown() -> None:
    """A secret held in clear on both sides is 'changed' without values; masked compares equal."""
    result = diff_records([block("hunter2")], [block("swordfish")], names=("a", "b"))
    (change,) = result.records[0].changes
    assert change.secret and change.path == "data.password"
    assert "hunter2" not in str(result.as_json()) and "swordfish" not in str(result.as_json())
    masked = diff_records([block("hunter2")], [block(MASK, "withheld")], names=("a", "b"))
    assert masked.same


def automation(name: str, enabled: bool, n: str) -> Record:
    data = {"name": name, "enabled": enabled, "trigger": {}}
    return Record(kind="automation", key=(name, n), data=data)  # type: ignore[arg-type]


def test_automations_pair_by_content_within_a_name() -> None:
    """Same-named automations whose ordinals swapped still pair with their equal twin."""
    a = [automation("x", True, "1"), automation("x", False, "2")]
    b = [automation("x", False, "1"), automation("x", True, "2")]
    assert diff_records(a, b, names=("a", "b")).same


# --- diff compares as the import plan compares (pfx.comparison) -------------------------------


def variable(value: object, id_: str = "55555555-5555-5555-5555-555555555555") -> Record:
    data = {"name": "flag", "value": value, "tags": []}
    return Record(kind="variable", key=("flag",), id=id_, data=data)  # type: ignore[arg-type]


def test_a_bool_is_not_a_number_in_diff_as_in_the_plan() -> None:
    """True and 1 differ in meaning: the plan calls the record differing, and so does diff
    (it called them equal, comparing values with Python's ==)."""
    result = diff_records([variable(True)], [variable(1)], names=("a", "b"))
    assert [(r.status, r.fields) for r in result.records] == [("changed", ("value",))]
    (change,) = result.records[0].changes
    assert (change.path, change.old, change.new) == ("value", True, 1)


def test_a_schema_pairs_by_its_checksum_whatever_the_version_as_in_the_plan() -> None:
    """A block schema registered under another release's version string is the same schema
    (the plan reuses it): equal, not removed and added."""
    checksum = "sha256:0fc8b7f936f38f465715ef2df4a817ac9fe38b80bb01d5c6c9649a6da6ae6971"

    def schema(version: str) -> Record:
        data = {"checksum": checksum, "version": version, "fields": {"title": "Secret"}}
        return Record(kind="block-schema", key=(checksum, version), data=data)  # type: ignore[arg-type]

    result = diff_records([schema("3.8.8")], [schema("3.7.8")], names=("a", "b"))
    assert result.same and result.equal == 1


def test_against_a_live_server_its_named_losses_are_no_difference() -> None:
    """A field the live server cannot hold (3.4 has no grace period) is a named loss in the
    plan of an import there, not a difference; diff -p compares the same way."""
    flow_id = "0b0c5e2a-6f4e-4b8e-9d7a-3c1f2e4d5a6b"

    def deployment(options: dict[str, object]) -> Record:
        data = {"name": "d", "flow_id": flow_id, "concurrency_options": options}
        return Record(kind="deployment", key=("f", "d"), data=data)  # type: ignore[arg-type]

    ours = [deployment({"collision_strategy": "ENQUEUE", "grace_period_seconds": 60})]
    theirs = [deployment({"collision_strategy": "ENQUEUE"})]
    lossless = diff_records(ours, theirs, names=("a", "b"))
    assert [r.fields for r in lossless.records] == [("concurrency_options",)]
    live = Destination(accepts=accepts("3.4.25"))
    assert diff_records(ours, theirs, names=("a", "b"), destination=live).same
