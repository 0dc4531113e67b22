"""Automations from captured 3.8.8 API JSON: ordinal keys, trigger/action refs, late ids."""

from __future__ import annotations

import json

from pfx.ids import Index, find_ids, portable, replace_ids
from pfx.jsontypes import JSONObject
from pfx.kinds import automation
from pfx.model import Record, Ref
from tests.kinds.conftest import captured, keyed

FIXTURE = captured("automation")
KIND = automation.KIND
PLACEHOLDER = automation.PLACEHOLDER


def build(side: str) -> tuple[dict[tuple[str, ...], Record], Index]:
    """Records and index of one server, keyed (with ordinals) as export keys them."""
    raw = {KIND.name: FIXTURE[side]["automations"]}
    records, index, _ = keyed(raw, KIND, FIXTURE[side]["others"])
    return records, index


RECORDS, INDEX = build("a")
DEST, DEST_INDEX = build("b")
ID_MAP = {
    src: dst
    for src, found in INDEX.by_id.items()
    for dst, dest_found in DEST_INDEX.by_id.items()
    if found == dest_found
}
OTHERS = {(o["kind"], tuple(o["key"])): o["id"] for o in FIXTURE["a"]["others"]}
PAUSE, NOTIFY, DANGLING = ("pause-things", "1"), ("on-failure-notify", "1"), ("dangling", "1")


def remapped(key: tuple[str, ...], ids: dict[str, str] = ID_MAP) -> JSONObject:
    data = replace_ids(RECORDS[key].data, ids)
    assert isinstance(data, dict)
    return data


def test_repeated_names_get_ordinals() -> None:
    """Names are not unique: every key gets an ordinal, and two `dup` automations stay apart."""
    assert set(RECORDS) == {PAUSE, NOTIFY, DANGLING, ("dup", "1"), ("dup", "2")}
    assert {RECORDS[("dup", n)].data["enabled"] for n in ("1", "2")} == {True, False}


def test_kept_drops_ids_timestamps_and_trigger_ids() -> None:
    """Kept data has no id or timestamps, and no trigger ids at any depth (the server remakes
    them on every write)."""
    for record in RECORDS.values():
        assert not {"id", "created", "updated"} & set(record.data)
        trigger = record.data["trigger"]
        assert isinstance(trigger, dict) and "id" not in trigger
        for nested in trigger.get("triggers", []):
            assert "id" not in nested
    pause = RECORDS[PAUSE].data
    assert set(pause) == {
        "name", "description", "enabled", "tags", "trigger", "actions", "actions_on_trigger",
        "actions_on_resolve",
    }  # fmt: skip


def test_refs_cover_actions_and_nested_trigger_strings() -> None:
    """Every id in actions and in compound trigger strings is a ref; automation ids are late."""
    item_ids = {key: r.id for key, r in RECORDS.items()}
    refs = {(r.kind, r.key, r.path, r.late) for r in RECORDS[PAUSE].refs}
    assert refs == {
        ("work-pool", ("proc-pool",), "trigger.triggers[0].match.prefect.resource.id", False),
        ("flow", ("etl",), "trigger.triggers[1].match.prefect.resource.id[0]", False),
        ("deployment", ("etl", "adhoc"), "trigger.triggers[1].match.prefect.resource.id[1]", False),
        ("work-pool", ("proc-pool",), "actions[0].work_pool_id", False),
        ("work-queue", ("proc-pool", "high"), "actions[1].work_queue_id", False),
        ("deployment", ("etl", "adhoc"), "actions[2].deployment_id", False),
        ("deployment", ("report", "weekly"), "actions[3].deployment_id", False),
        ("automation", NOTIFY, "actions_on_trigger[0].automation_id", True),
        ("automation", PAUSE, "actions_on_resolve[0].automation_id", True),
    }
    assert {r.id for r in RECORDS[PAUSE].refs if r.late} == {item_ids[NOTIFY], item_ids[PAUSE]}


def test_refs_of_a_notification_automation() -> None:
    """The notification block and the deployment in match_related are refs with their ids."""
    refs = set(RECORDS[NOTIFY].refs)
    assert refs == {
        Ref(
            kind="deployment",
            key=("etl", "daily"),
            id=OTHERS[("deployment", ("etl", "daily"))],
            path="trigger.match_related.prefect.resource.id",
        ),
        Ref(
            kind="block-document",
            key=("slack-webhook", "alerts"),
            id=OTHERS[("block-document", ("slack-webhook", "alerts"))],
            path="actions[0].block_document_id",
        ),
    }


def test_run_ids_are_not_refs_and_automation_match_is_late() -> None:
    """A flow-run id in a trigger is left alone; `prefect.automation.<id>` is a late ref."""
    for n in ("1", "2"):
        refs = RECORDS[("dup", n)].refs
        assert [(r.kind, r.key, r.late) for r in refs] == [("automation", PAUSE, True)]


def test_dangling_deployment_stays_a_blocking_ref() -> None:
    """A deleted deployment named in trigger and action becomes a `<missing>` ref, not silence."""
    refs = RECORDS[DANGLING].refs
    assert {(r.kind, r.key[0], r.late) for r in refs} == {("deployment", "<missing>", False)}
    assert {r.path for r in refs} == {
        "trigger.match.prefect.resource.id",
        "actions[0].deployment_id",
    }


def test_create_sends_placeholders_for_automation_ids() -> None:
    """Create POSTs AutomationCreate fields with other ids remapped and automation ids blanked."""
    call = automation.KIND.create(RECORDS[PAUSE], remapped(PAUSE))
    assert (call.method, call.path) == ("POST", "/automations/")
    assert isinstance(call.body, dict)
    assert call.body["actions_on_trigger"] == [
        {"automation_id": PLACEHOLDER, "source": "selected", "type": "resume-automation"}
    ]
    assert call.body["actions_on_resolve"][0]["automation_id"] == PLACEHOLDER
    dest_ids = set(DEST_INDEX.by_id)
    sent_ids = set(find_ids(call.body)) - {PLACEHOLDER}
    assert sent_ids and sent_ids <= dest_ids


def test_create_blanks_automation_ids_inside_trigger_strings() -> None:
    """`prefect.automation.<id>` in a sequence trigger is blanked at create too."""
    call = KIND.create(RECORDS[("dup", "1")], remapped(("dup", "1")))
    assert isinstance(call.body, dict)
    first = call.body["trigger"]["triggers"][0]
    assert first["match"] == {"prefect.resource.id": f"prefect.automation.{PLACEHOLDER}"}


def test_create_without_automation_refs_sends_everything() -> None:
    """An automation that names no automation is created whole."""
    data = remapped(NOTIFY)
    call = KIND.create(RECORDS[NOTIFY], data)
    assert call.body == {k: data[k] for k in automation.UPDATE_FIELDS}


def test_late_puts_the_full_remapped_automation() -> None:
    """Late PUTs the whole automation once every automation id has a destination id."""
    ids = ID_MAP | {RECORDS[PAUSE].id: "new-pause-id"}
    assert KIND.late is not None
    (call,) = KIND.late(RECORDS[PAUSE], remapped(PAUSE, ids), "new-pause-id")
    assert (call.method, call.path) == ("PUT", "/automations/new-pause-id")
    assert isinstance(call.body, dict)
    assert call.body["actions_on_resolve"][0]["automation_id"] == "new-pause-id"
    assert PLACEHOLDER not in json.dumps(call.body)


def test_update_puts_by_destination_id() -> None:
    """Update is a full PUT of AutomationUpdate fields (no owner_resource) by destination id."""
    dest = next(a for a in FIXTURE["b"]["automations"] if a["name"] == "on-failure-notify")
    (call,) = KIND.update(RECORDS[NOTIFY], remapped(NOTIFY), dest)
    assert (call.method, call.path) == ("PUT", f"/automations/{dest['id']}")
    assert isinstance(call.body, dict) and "owner_resource" not in call.body


def test_early_matches_what_create_wrote() -> None:
    """The portable data of a created-but-not-patched automation equals early(portable data)."""
    assert KIND.early is not None
    ours = portable(RECORDS[PAUSE].data, INDEX.tokens())
    assert isinstance(ours, dict)
    created = KIND.create(RECORDS[PAUSE], remapped(PAUSE)).body
    assert isinstance(created, dict)
    theirs = portable(created, DEST_INDEX.tokens())
    assert KIND.early(ours) == theirs


def test_owner_is_inferred_from_relation_without_run_action() -> None:
    """A deployment relation not explained by a run-deployment action is ownership."""
    raw = {a["name"]: a for a in FIXTURE["a"]["automations"]}
    daily = OTHERS[("deployment", ("etl", "daily"))]
    weekly = OTHERS[("deployment", ("report", "weekly"))]
    assert automation.infer_owner(raw["dangling"], daily) == f"prefect.deployment.{daily}"
    assert automation.infer_owner(raw["pause-things"], weekly) is None


def test_owner_resource_is_kept_and_referenced_when_present() -> None:
    """An owner_resource (when one is known) is kept, referenced and sent at create."""
    item = dict(next(a for a in FIXTURE["a"]["automations"] if a["name"] == "on-failure-notify"))
    daily = OTHERS[("deployment", ("etl", "daily"))]
    item["owner_resource"] = f"prefect.deployment.{daily}"
    assert Ref(
        kind="deployment", key=("etl", "daily"), id=daily, path="owner_resource"
    ) in KIND.refs(item, INDEX)
    record = Record(kind=KIND.name, key=NOTIFY, id=str(item["id"]), data=KIND.kept(item))
    call = KIND.create(record, KIND.kept(item))
    assert (
        isinstance(call.body, dict) and call.body["owner_resource"] == f"prefect.deployment.{daily}"
    )


def test_same_automations_on_two_servers_compare_equal() -> None:
    """The same automations captured from two servers have equal portable data, name by name
    (but for `dangling`, whose deleted deployment has no natural key to compare by)."""
    ours, theirs = INDEX.tokens(), DEST_INDEX.tokens()

    def by_name(
        records: dict[tuple[str, ...], Record], tokens: dict[str, str]
    ) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for key, record in records.items():
            if key != DANGLING:
                encoded = json.dumps(portable(record.data, tokens), sort_keys=True)
                out.setdefault(key[0], []).append(encoded)
        return {name: sorted(contents) for name, contents in out.items()}

    assert by_name(RECORDS, ours) == by_name(DEST, theirs)


def test_ordinals_agree_across_servers() -> None:
    """Same-named automations get the same ordinals on two servers holding the same content."""
    ours, theirs = INDEX.tokens(), DEST_INDEX.tokens()
    for n in ("1", "2"):
        key = ("dup", n)
        assert portable(RECORDS[key].data, ours) == portable(DEST[key].data, theirs)
