"""Diff, pure: added/removed/changed records, field-level values, ids as natural keys,
secrets never shown."""

from __future__ import annotations

from pfx.diff import diff_records
from pfx.model import Record, Ref, SecretSlot
from pfx.secrets import MASK


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
