"""Deployments from captured 3.8.8 API JSON: key, kept data, refs, create/late/update calls."""

from __future__ import annotations

import copy

import pytest

from pfx.ids import Index, portable, replace_ids
from pfx.jsontypes import JSONObject
from pfx.kinds import concurrency_limit, deployment, flow
from pfx.kinds.base import Call
from pfx.model import Record, Ref
from tests.kinds.conftest import captured, keyed

FIXTURE = captured("deployment")
LIMITS = captured("global-concurrency-limit")
KIND = deployment.KIND


def build(
    side: str,
) -> tuple[dict[tuple[str, ...], Record], Index, dict[tuple[str, ...], JSONObject]]:
    """Records, index and raw items of one server, keyed as export keys them."""
    raw = {
        flow.KIND.name: FIXTURE[side]["flows"],
        concurrency_limit.KIND.name: LIMITS[side],
        KIND.name: FIXTURE[side]["deployments"],
    }
    return keyed(raw, KIND, FIXTURE[side]["others"])


RECORDS, INDEX, ITEMS = build("a")
DEST_RECORDS, DEST_INDEX, DEST_ITEMS = build("b")
# Source id -> destination id for every item of both captures (what import's id map holds).
ID_MAP = {
    src_id: dst_id
    for src_id, (kind, key) in INDEX.by_id.items()
    for dst_id, (dkind, dkey) in DEST_INDEX.by_id.items()
    if (kind, key) == (dkind, dkey)
}
DAILY, ADHOC, WEEKLY = ("etl", "daily"), ("etl", "adhoc"), ("report", "weekly")


def remapped(key: tuple[str, ...]) -> JSONObject:
    data = replace_ids(RECORDS[key].data, ID_MAP)
    assert isinstance(data, dict)
    return data


def body(call: Call) -> JSONObject:
    assert isinstance(call.body, dict)
    return call.body


def test_key_is_flow_name_and_deployment_name() -> None:
    """A deployment is keyed by its flow's name (through the index) and its own name."""
    assert set(RECORDS) == {DAILY, ADHOC, WEEKLY}


def test_key_needs_the_flow_in_the_index() -> None:
    """Without its flow in the index the key is unreadable (export skips it with a reason)."""
    with pytest.raises(KeyError):
        KIND.key(ITEMS[DAILY], Index())


def test_kept_drops_server_state_and_per_server_ids() -> None:
    """Kept data has no ids, timestamps, status, polling, authorship or derived queue id."""
    for record in RECORDS.values():
        assert not set(record.data) & {
            "id", "created", "updated", "status", "last_polled", "work_queue_id",
            "created_by", "updated_by", "concurrency_limit",
        }  # fmt: skip
        for schedule in record.data["schedules"]:
            assert set(schedule) == {
                "schedule", "active", "max_scheduled_runs", "parameters", "slug",
            }  # fmt: skip


def test_kept_keeps_every_user_setting() -> None:
    """Everything a user sets survives: labels, paused, options, schedules with their flags."""
    data = RECORDS[DAILY].data
    assert data["labels"] == {
        "env": "prod",
        "owner": "data",
        "prefect.flow.id": FIXTURE["a"]["flows"][0]["id"],
    }
    assert data["concurrency_options"] == {
        "collision_strategy": "CANCEL_NEW",
        "grace_period_seconds": 120,
    }
    assert data["work_pool_name"] == "proc-pool" and data["work_queue_name"] == "high"
    assert data["enforce_parameter_schema"] is True
    hourly = next(s for s in data["schedules"] if s["slug"] == "hourly")
    assert hourly["active"] is False and hourly["max_scheduled_runs"] == 5
    assert RECORDS[ADHOC].data["paused"] is True
    assert RECORDS[ADHOC].data["parameter_openapi_schema"] == {}


def test_own_limit_is_kept_with_its_settings() -> None:
    """The server-made `deployment:<id>` limit is kept with limit, active and decay, no id."""
    assert RECORDS[WEEKLY].data["global_concurrency_limit"] == {
        "name": f"deployment:{ITEMS[WEEKLY]['id']}",
        "limit": 2,
        "active": False,
        "slot_decay_per_second": 0.25,
    }


def test_linked_limit_is_kept_as_a_reference() -> None:
    """A linked named limit is kept as its id and name; its settings belong to its own record."""
    gcl = ITEMS[ADHOC]["global_concurrency_limit"]
    assert isinstance(gcl, dict)
    assert RECORDS[ADHOC].data["global_concurrency_limit"] == {"id": gcl["id"], "name": "db-pool"}


def test_refs_of_a_full_deployment() -> None:
    """Flow, pool, queue, storage block, templates and late self-refs are all named."""
    item = ITEMS[DAILY]
    refs = set(RECORDS[DAILY].refs)
    others = {tuple(o["key"]): o["id"] for o in FIXTURE["a"]["others"]}
    assert refs == {
        Ref(kind="flow", key=("etl",), id=str(item["flow_id"]), path="flow_id"),
        Ref(kind="work-pool", key=("proc-pool",), path="work_pool_name"),
        Ref(kind="work-queue", key=("proc-pool", "high"), path="work_queue_name", soft=True),
        Ref(
            kind="block-document",
            key=("local-file-system", "flows-dir"),
            id=others[("local-file-system", "flows-dir")],
            path="storage_document_id",
        ),
        Ref(kind="block-document", key=("secret", "db-password"), path="job_variables"),
        Ref(kind="variable", key=("region",), path="job_variables"),
        Ref(kind="variable", key=("region",), path="parameters"),
        Ref(kind="block-document", key=("secret", "not-there"), path="job_variables", soft=True),
        Ref(kind="deployment", key=DAILY, id=str(item["id"]), path="schedules", late=True),
    }


def test_refs_of_linked_and_own_limits() -> None:
    """A linked limit is a ref by id; a tuned own limit is a late self-ref."""
    gcl = ITEMS[ADHOC]["global_concurrency_limit"]
    assert isinstance(gcl, dict)
    adhoc = set(RECORDS[ADHOC].refs)
    assert (
        Ref(
            kind="global-concurrency-limit",
            key=("db-pool",),
            id=str(gcl["id"]),
            path="global_concurrency_limit",
        )
        in adhoc
    )
    assert Ref(kind="block-document", key=("secret", "db-password"), path="pull_steps") in adhoc
    assert (
        Ref(kind="work-queue", key=("proc-pool", "default"), path="work_queue_name", soft=True)
        in adhoc
    )
    weekly = RECORDS[WEEKLY].refs
    assert [r for r in weekly if r.late] == [
        Ref(
            kind="deployment",
            key=WEEKLY,
            id=str(ITEMS[WEEKLY]["id"]),
            path="global_concurrency_limit",
            late=True,
        )
    ]
    assert not any(r.kind == "work-pool" for r in weekly)


def test_dangling_block_id_stays_a_blocking_ref() -> None:
    """A storage block id the source does not know becomes a `<missing>` ref, not silence."""
    item = dict(ITEMS[DAILY]) | {"storage_document_id": "00000000-0000-4000-8000-000000000001"}
    refs = KIND.refs(item, INDEX)
    assert (
        Ref(
            kind="block-document",
            key=("<missing>", "00000000-0000-4000-8000-000000000001"),
            id="00000000-0000-4000-8000-000000000001",
            path="storage_document_id",
        )
        in refs
    )


def test_create_sends_deployment_create_fields_with_remapped_ids() -> None:
    """Create POSTs DeploymentCreate fields, ids remapped, the own limit as concurrency_limit."""
    record, data = RECORDS[DAILY], remapped(DAILY)
    call = KIND.create(record, data)
    assert (call.method, call.path) == ("POST", "/deployments/")
    sent = body(call)
    assert sent["flow_id"] == DEST_ITEMS[DAILY]["flow_id"]
    assert sent["storage_document_id"] == DEST_ITEMS[DAILY]["storage_document_id"]
    assert sent["concurrency_limit"] == 3
    assert sent["labels"] == DEST_ITEMS[DAILY]["labels"]
    # max_scheduled_runs is dropped by this POST: the schedules go through `late` instead.
    assert sent["schedules"] == []
    assert "global_concurrency_limit_id" not in sent and "global_concurrency_limit" not in sent


def test_create_links_named_limit_and_keeps_paused_schedules() -> None:
    """A linked limit is sent as global_concurrency_limit_id; schedules go in the POST."""
    call = KIND.create(RECORDS[ADHOC], remapped(ADHOC))
    sent = body(call)
    dest_gcl = DEST_ITEMS[ADHOC]["global_concurrency_limit"]
    assert isinstance(dest_gcl, dict)
    assert sent["global_concurrency_limit_id"] == dest_gcl["id"]
    assert "concurrency_limit" not in sent
    assert sent["paused"] is True
    assert sent["schedules"] == [
        {
            "schedule": {
                "rrule": "DTSTART:20200101T000000\nFREQ=WEEKLY;BYDAY=MO,WE",
                "timezone": "America/New_York",
            },
            "active": True,
            "max_scheduled_runs": None,
            "parameters": {},
            "slug": None,
        }
    ]
    # Sent, {} would come back as {"type": "object", "properties": {}}.
    assert "parameter_openapi_schema" not in sent


def test_late_sets_what_create_cannot() -> None:
    """Late posts schedules with max_scheduled_runs and tunes the own limit by its name."""
    (schedules,) = KIND.late(RECORDS[DAILY], remapped(DAILY), "new-id")
    assert (schedules.method, schedules.path) == ("POST", "/deployments/new-id/schedules")
    assert {s["slug"]: s["max_scheduled_runs"] for s in schedules.body} == {
        "hourly": 5,
        "nightly": None,
    }
    (limit,) = KIND.late(RECORDS[WEEKLY], remapped(WEEKLY), "new-id")
    assert limit == Call(
        "PATCH",
        "/v2/concurrency_limits/deployment:new-id",
        {"limit": 2, "active": False, "slot_decay_per_second": 0.25},
    )
    assert KIND.late(RECORDS[ADHOC], remapped(ADHOC), "new-id") == []


def test_early_is_what_create_leaves() -> None:
    """Early data has no schedules when late posts them, and an own limit at create defaults."""
    assert KIND.early is not None
    assert KIND.early(RECORDS[DAILY].data)["schedules"] == []
    assert KIND.early(RECORDS[WEEKLY].data)["global_concurrency_limit"] == {
        "name": f"deployment:{ITEMS[WEEKLY]['id']}",
        "limit": 2,
        "active": True,
        "slot_decay_per_second": 0.0,
    }


def test_update_of_an_equal_deployment_only_patches_fields() -> None:
    """Update PATCHes DeploymentUpdate fields by id, and touches nothing else when equal."""
    dest = DEST_ITEMS[ADHOC]
    calls = KIND.update(RECORDS[ADHOC], remapped(ADHOC), dest)
    assert [(c.method, c.path) for c in calls] == [("PATCH", f"/deployments/{dest['id']}")]
    sent = body(calls[0])
    assert sent["paused"] is True
    assert not set(sent) & {"name", "flow_id", "labels", "schedules", "concurrency_limit"}


def test_update_moves_from_own_limit_to_linked_limit() -> None:
    """Own -> linked: the own limit is deleted (null), then the named limit is linked."""
    dest = copy.deepcopy(DEST_ITEMS[ADHOC])
    dest["global_concurrency_limit"] = {
        "name": f"deployment:{dest['id']}",
        "limit": 7,
        "active": True,
    }
    calls = KIND.update(RECORDS[ADHOC], remapped(ADHOC), dest)
    linked = DEST_ITEMS[ADHOC]["global_concurrency_limit"]
    assert isinstance(linked, dict)
    assert [c.body for c in calls[1:]] == [
        {"concurrency_limit": None},
        {"global_concurrency_limit_id": linked["id"]},
    ]


def test_update_never_sends_null_limit_to_a_linked_deployment() -> None:
    """Linked -> own: unlink first (a null limit would delete the named limit), then set own."""
    dest = copy.deepcopy(DEST_ITEMS[DAILY])
    dest["global_concurrency_limit"] = {
        "id": "11111111-1111-4111-8111-111111111111",
        "name": "db-pool",
    }
    calls = KIND.update(RECORDS[DAILY], remapped(DAILY), dest)
    limit_bodies = [c.body for c in calls if c.path == f"/deployments/{dest['id']}"][1:]
    assert limit_bodies == [{"global_concurrency_limit_id": None}, {"concurrency_limit": 3}]


def test_update_rewrites_labels_through_one_whole_upsert() -> None:
    """Labels change only by the upsert POST, which replaces schedules: it carries the whole
    configuration with the schedules, so no later call can leave the deployment without them."""
    dest = copy.deepcopy(DEST_ITEMS[ADHOC])
    dest["labels"] = {"env": "dev"}
    calls = KIND.update(RECORDS[ADHOC], remapped(ADHOC), dest)
    upsert = calls[0]
    assert (upsert.method, upsert.path) == ("POST", "/deployments/")
    assert isinstance(upsert.body, dict)
    assert upsert.body["labels"] == DEST_ITEMS[ADHOC]["labels"]
    assert upsert.body["flow_id"] == dest["flow_id"] and upsert.body["name"] == "adhoc"
    assert upsert.body["schedules"] and "concurrency_limit" not in upsert.body
    assert not any("/schedules" in c.path for c in calls)


def test_update_replaces_differing_schedules_by_id() -> None:
    """Differing schedules are deleted by id and posted again (PATCH would drop max runs)."""
    dest = copy.deepcopy(DEST_ITEMS[ADHOC])
    dest["schedules"][0]["active"] = False
    calls = KIND.update(RECORDS[ADHOC], remapped(ADHOC), dest)
    sid = dest["schedules"][0]["id"]
    assert [(c.method, c.path) for c in calls[1:]] == [
        ("DELETE", f"/deployments/{dest['id']}/schedules/{sid}"),
        ("POST", f"/deployments/{dest['id']}/schedules"),
    ]


def test_update_leaves_schedules_to_late_when_it_posts_them() -> None:
    """With max_scheduled_runs, update only clears schedules; late (run after it) posts them."""
    dest = DEST_ITEMS[DAILY]
    calls = KIND.update(RECORDS[DAILY], remapped(DAILY), dest)
    assert [c.method for c in calls if "/schedules" in c.path] == ["DELETE", "DELETE"]


def test_update_clears_a_null_schema_it_would_be_refused_on() -> None:
    """A null schema with enforcement makes every PATCH 409, so update replaces it first."""
    dest = copy.deepcopy(DEST_ITEMS[ADHOC]) | {"parameter_openapi_schema": None}
    sent = body(KIND.update(RECORDS[ADHOC], remapped(ADHOC), dest)[0])
    assert sent["parameter_openapi_schema"] == {"type": "object", "properties": {}}


def test_same_deployments_on_two_servers_compare_equal() -> None:
    """The same deployments captured from two servers have equal portable kept data."""
    ours, theirs = INDEX.tokens(), DEST_INDEX.tokens()
    for key, record in RECORDS.items():
        assert portable(record.data, ours) == portable(DEST_RECORDS[key].data, theirs), key


def test_schedules_compare_as_a_set_with_the_destinations_rrule_anchor() -> None:
    """3.8 adds a DTSTART line to an rrule stored without one; the order of a set is free."""
    from pfx.kinds.deployment.schedules import same_schedules

    rule = "FREQ=WEEKLY;BYDAY=MO;BYHOUR=9"
    cron = {"schedule": {"cron": "0 2 * * *", "timezone": "UTC"}, "active": True}
    ours = [{"schedule": {"rrule": rule, "timezone": "UTC"}, "active": True}, cron]
    anchored = {"schedule": {"rrule": f"DTSTART:20200101T000000\n{rule}", "timezone": "UTC"}}
    theirs = [cron | {"slug": None}, anchored | {"active": True, "parameters": {}}]
    assert same_schedules(ours, theirs)
    # Another rule under the anchor, or an anchor the bundle set itself, is a difference.
    other = {"schedule": {"rrule": "DTSTART:20200101T000000\nFREQ=DAILY", "timezone": "UTC"}}
    assert not same_schedules(ours, [cron, other | {"active": True}])
    mine = [{"schedule": {"rrule": f"DTSTART:20240101T000000\n{rule}", "timezone": "UTC"}}]
    assert not same_schedules(mine, [anchored])
    assert not same_schedules(ours, [cron])
