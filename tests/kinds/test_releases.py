"""Release differences that live with their kinds: 2.x names, v1 tag limits, system types,
schemas by checksum, pools the destination decides; fitted to captured 3.4/3.8 documents."""

from __future__ import annotations

from pfx.jsontypes import JSONObject
from pfx.kinds import block_schema, block_type, deployment, tag_limit
from pfx.kinds.base import Destination
from pfx.losses import fit_calls, record_losses
from pfx.model import Record
from tests.conftest import accepts

# A 2.20 deployment as the 2.20 server answers it (abridged to the fields that differ).
V2_DEPLOYMENT: JSONObject = {
    "name": "etl",
    "flow_id": "0b0c5e2a-6f4e-4b8e-9d7a-3c1f2e4d5a6b",
    "paused": False,
    "is_schedule_active": True,
    "schedule": {"interval": 3600.0, "anchor_date": "2026-01-01T00:00:00+00:00"},
    "schedules": [
        {
            "id": "5d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
            "schedule": {"interval": 3600.0, "anchor_date": "2026-01-01T00:00:00+00:00"},
            "active": True,
            "max_active_runs": None,
            "catchup": False,
        }
    ],
    "infra_overrides": {"env": {"A": "1"}},
    "job_variables": {},
    "manifest_path": None,
    "work_pool_name": "pool",
    "work_queue_name": "default",
}


def test_v2_deployment_keeps_3x_names_with_the_same_meaning() -> None:
    """infra_overrides become job_variables; the read-only 2.x mirrors go; nothing is lost."""
    kept = deployment.KIND.kept(V2_DEPLOYMENT)
    assert kept["job_variables"] == {"env": {"A": "1"}}
    assert not {"infra_overrides", "is_schedule_active", "schedule", "manifest_path"} & set(kept)
    assert kept["schedules"] == [{"schedule": V2_DEPLOYMENT["schedule"], "active": True}]
    record = Record(kind="deployment", key=("f", "etl"), data=kept)
    assert record_losses(record, "create", None, accepts("3.8.8")) == []


def test_v2_inactive_schedule_means_paused_and_catchup_is_named() -> None:
    """is_schedule_active false pauses; a 2.x schedule's catchup is a named loss on 3.x."""
    data = dict(V2_DEPLOYMENT, is_schedule_active=False)
    data["schedules"] = [dict(V2_DEPLOYMENT["schedules"][0], catchup=True)]  # type: ignore[index]
    kept = deployment.KIND.kept(data)
    assert kept["paused"] is True
    record = Record(kind="deployment", key=("f", "etl"), data=kept)
    losses = record_losses(record, "create", None, accepts("3.4.25"))
    assert [(x.field, x.value_kind) for x in losses] == [("schedules.0.catchup", "boolean")]


def test_grace_period_is_a_loss_on_34_only() -> None:
    """A 3.8 deployment's grace period is named as lost on 3.4 and carried to 3.8."""
    data = dict(
        deployment.KIND.kept(V2_DEPLOYMENT),
        concurrency_options={"collision_strategy": "CANCEL_NEW", "grace_period_seconds": 300},
    )
    record = Record(kind="deployment", key=("f", "etl"), data=data)
    lost = record_losses(record, "create", None, accepts("3.4.25"))
    assert [x.field for x in lost] == ["concurrency_options.grace_period_seconds"]
    assert "Prefect 3.4.25" in lost[0].why and "POST /deployments" in lost[0].why
    assert record_losses(record, "create", None, accepts("3.8.8")) == []
    calls, _ = fit_calls(deployment.KIND.create(record, data), accepts("3.4.25"))
    assert calls[0].body["concurrency_options"] == {"collision_strategy": "CANCEL_NEW"}  # type: ignore[index, call-overload]


def test_v1_tag_limits_are_own_records_keyed_by_tag() -> None:
    """A v1 tag limit (2.x, 3.x before 3.4.19) is read as the same kind, written as v2."""
    v1 = {"id": "x", "tag": "db", "concurrency_limit": 3, "active_slots": ["r1"]}
    assert tag_limit.KIND.own(v1)
    assert tag_limit.KIND.kept(v1) == {
        "tag": "db",
        "concurrency_limit": 3,
        "active": True,
        "slot_decay_per_second": 0.0,
    }
    assert tag_limit.reads_v1("2.20.27") and tag_limit.reads_v1("3.4.18")
    assert not tag_limit.reads_v1("3.4.25") and tag_limit.reads_v1(None)
    v2 = [{"id": "y", "name": "tag:db", "limit": 3}]
    merged = tag_limit.with_v1(v2, [v1, {"id": "z", "tag": "api", "concurrency_limit": 1}])
    assert [i.get("tag", i.get("name")) for i in merged] == ["tag:db", "api"]


def test_protected_type_absent_on_destination_names_its_flag() -> None:
    """A source system type the destination lacks is created; its protection is named."""
    data: JSONObject = {"name": "JSON", "slug": "json", "is_protected": True, "logo_url": None}
    record = Record(kind="block-type", key=("json",), data=data)
    lost = record_losses(record, "create", None, accepts("3.8.8"))
    assert [(x.field, x.value_kind, x.server_set) for x in lost] == [
        ("is_protected", "boolean", True)
    ]
    own = block_type.KIND.owned({"slug": "json", "is_protected": True}, Destination())
    assert own == "destination's system type"


def test_schema_matches_by_checksum_whatever_its_version() -> None:
    """Block schemas match on checksum alone, and their version string is not compared."""
    kind = block_schema.KIND
    assert kind.match_key is not None
    assert kind.match_key(("sha256:abc", "3.6.29")) == kind.match_key(("sha256:abc", "3.8.8"))
    assert "version" in kind.ignored


def test_unprotected_types_prefect_registers_are_the_destinations_own() -> None:
    """A collection type the server registers unprotected (Prefect's published metadata) is
    the destination's own: other metadata from another release is not a difference."""
    dest: JSONObject = {
        "slug": "s3-bucket",
        "is_protected": False,
        "logo_url": "https://cdn.sanity.io/images/3ugk85nk/production/new.png",
    }
    ours: JSONObject = dict(dest, logo_url="https://cdn.sanity.io/images/3ugk85nk/old.png")
    assert block_type.KIND.compare is not None
    assert block_type.KIND.compare(ours, dest) == []
    mine: JSONObject = {"slug": "mine", "is_protected": False, "logo_url": "https://x/a.png"}
    assert block_type.KIND.compare(dict(mine, logo_url="https://x/b.png"), mine) == ["logo_url"]
