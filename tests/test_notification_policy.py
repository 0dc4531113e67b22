"""2.x flow-run notification policies converted to 3.x automations (pfx.notification_policy):
the trigger, the action, and the message rendered by Prefect 3.8's own template renderer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from prefect.server.events.jinja_filters import all_filters
from prefect.server.schemas.core import Flow, FlowRun
from prefect.server.schemas.states import State, StateType
from prefect.server.utilities.user_templates import (
    register_user_template_filters,
    render_user_template_sync,
)
from prefect.settings import PREFECT_UI_URL, temporary_settings

from pfx.jsontypes import JSONObject
from pfx.keying import build_records
from pfx.notification_policy import DEFAULT_TEMPLATE, convert_policies, to_automation
from pfx.secrets import Sealer

BLOCK = "5b0c7a8e-1111-4c4c-8888-000000000001"
POLICY = "9e3d5c1a-2222-4d4d-9999-000000000002"
FLOW = Flow(id=UUID("00000000-0000-4000-8000-00000000f10e"), name="etl")
RUN = FlowRun(
    id=UUID("00000000-0000-4000-8000-0000000000a1"),
    name="brave-fox",
    flow_id=FLOW.id,
    parameters={"date": "2024-01-01"},
    state=State.model_validate(
        {
            "type": StateType.FAILED,
            "name": "Crashed",
            "message": "boom",
            "timestamp": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        }
    ),
)


def policy(**fields: Any) -> JSONObject:
    """A policy as 2.20's /flow_run_notification_policies/filter lists it."""
    base: JSONObject = {
        "id": POLICY,
        "created": "2024-01-01T00:00:00+00:00",
        "updated": "2024-01-01T00:00:00+00:00",
        "is_active": True,
        "state_names": ["Failed", "Crashed"],
        "tags": ["prod"],
        "block_document_id": BLOCK,
        "message_template": None,
    }
    return base | fields


def render(body: str) -> str:
    """`body` rendered as 3.8 renders a send-notification action for RUN."""
    register_user_template_filters(all_filters)
    with temporary_settings({PREFECT_UI_URL: "http://ui.example"}):
        return render_user_template_sync(body, {"flow": FLOW, "flow_run": RUN})


def body_of(automation: JSONObject) -> str:
    actions = automation["actions"]
    assert isinstance(actions, list) and isinstance(actions[0], dict)
    return str(actions[0]["body"])


def test_policy_becomes_a_reactive_state_trigger_with_one_notification() -> None:
    """Each state is an expected event; tags are related tag resources; block and flag kept."""
    auto = to_automation(policy())
    assert auto["name"] == "notification policy: Failed, Crashed (tags: prod)"
    assert auto["enabled"] is True
    assert POLICY in str(auto["description"]) and "2.x" in str(auto["description"])
    assert auto["trigger"] == {
        "type": "event",
        "match": {"prefect.resource.id": "prefect.flow-run.*"},
        "match_related": {
            "prefect.resource.role": "tag",
            "prefect.resource.id": ["prefect.tag.prod"],
        },
        "after": [],
        "expect": ["prefect.flow-run.Failed", "prefect.flow-run.Crashed"],
        "for_each": ["prefect.resource.id"],
        "posture": "Reactive",
        "threshold": 1,
        "within": 0.0,
    }
    actions = auto["actions"]
    assert isinstance(actions, list) and len(actions) == 1 and isinstance(actions[0], dict)
    assert actions[0]["type"] == "send-notification"
    assert actions[0]["block_document_id"] == BLOCK
    assert actions[0]["subject"] == "Prefect flow run notification"


def test_no_tags_inactive_no_states() -> None:
    """No tags: every flow run; inactive: disabled; no states (2.x: any state): any event."""
    auto = to_automation(policy(tags=[], is_active=False, state_names=[]))
    assert auto["name"] == "notification policy: any state"
    assert auto["enabled"] is False
    trigger = auto["trigger"]
    assert isinstance(trigger, dict)
    assert trigger["match_related"] == {}
    assert trigger["expect"] == ["prefect.flow-run.*"]


def test_several_states_and_tags_name_each() -> None:
    """Several states and tags: all expected, any tag matches (2.x's OR over tags)."""
    auto = to_automation(policy(state_names=["Completed", "Failed", "Late"], tags=["a", "b"]))
    assert auto["name"] == "notification policy: Completed, Failed, Late (tags: a, b)"
    trigger = auto["trigger"]
    assert isinstance(trigger, dict)
    assert trigger["expect"] == [
        "prefect.flow-run.Completed",
        "prefect.flow-run.Failed",
        "prefect.flow-run.Late",
    ]
    assert trigger["match_related"] == {
        "prefect.resource.role": "tag",
        "prefect.resource.id": ["prefect.tag.a", "prefect.tag.b"],
    }


def test_null_template_renders_as_the_2x_default() -> None:
    """A policy without a template sends 2.20's default message, rendered by 3.8."""
    text = render(body_of(to_automation(policy())))
    # Jinja drops a template's final newline (Prefect's environment does not keep it).
    assert text + "\n" == DEFAULT_TEMPLATE.format(
        flow_name="etl",
        flow_run_name="brave-fox",
        flow_run_state_name="Crashed",
        # 3.x prints datetimes with a space, 2.x (pendulum) with a T: the same instant.
        flow_run_state_timestamp="2024-01-02 03:04:05+00:00",
        flow_id=FLOW.id,
        flow_run_id=RUN.id,
        flow_run_url=f"http://ui.example/runs/flow-run/{RUN.id}",
        flow_run_state_message="boom",
    )


def test_template_renders_as_2x_formats_it() -> None:
    """Every 2.x variable, indexing and escaped braces render on 3.8 as 2.x formatted them."""
    template = (
        "{{x}} {flow_name}/{flow_run_name} {flow_run_state_name} {flow_run_state_type} "
        "{flow_run_state_message} {flow_id} {flow_run_id} {flow_run_parameters[date]} "
        "policy {flow_run_notification_policy_id}"
    )
    text = render(body_of(to_automation(policy(message_template=template))))
    assert text == template.format(
        flow_name="etl",
        flow_run_name="brave-fox",
        flow_run_state_name="Crashed",
        flow_run_state_type="FAILED",
        flow_run_state_message="boom",
        flow_id=FLOW.id,
        flow_run_id=RUN.id,
        flow_run_parameters={"date": "2024-01-01"},
        flow_run_notification_policy_id=POLICY,
    )


def test_format_specs_are_dropped_and_named_in_the_description() -> None:
    """`{x!r}` / `{x:>9}` have no Jinja equivalent: rendered plain, named in the description."""
    auto = to_automation(policy(message_template="run {flow_run_name!r:>12}"))
    assert render(body_of(auto)) == "run brave-fox"
    assert "{flow_run_name!r:>12}" in str(auto["description"])


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"block_document_id": "5b0c7a8e-1111-4c4c-8888-0000000000ff"}, "is not exported"),
        ({"message_template": "{unknown}"}, "does not define"),
        ({"message_template": "open { brace"}, "not a valid 2.x template"),
    ],
)
def test_unconvertible_policies_are_named(fields: JSONObject, why: str) -> None:
    """A policy whose block is not exported or whose template is invalid is named, not lost."""
    converted = convert_policies([policy(**fields)], {BLOCK})
    assert converted.automations == []
    assert [(s.kind, s.key) for s in converted.skipped] == [
        ("flow-run-notification-policy", (POLICY,))
    ]
    assert why in converted.skipped[0].reason


def test_converted_automation_is_a_record_referencing_its_block() -> None:
    """As an export record: keyed by its name, its block a ref, the policy id only text."""
    converted = convert_policies(
        [policy(message_template="{flow_run_notification_policy_id}")], {BLOCK}
    )
    raw: dict[str, list[JSONObject]] = {
        "block-type": [{"id": "bt", "slug": "slack-webhook", "name": "Slack Webhook"}],
        "block-document": [
            {"id": BLOCK, "name": "ops", "block_type_id": "bt", "is_anonymous": False, "data": {}}
        ],
        "automation": converted.automations,
    }
    records, skipped = build_records(raw, Sealer.create("withheld", None))
    autos = [r for r in records if r.kind == "automation"]
    assert not skipped and len(autos) == 1
    assert autos[0].key == ("notification policy: Failed, Crashed (tags: prod)", "1")
    assert [(r.kind, r.key, r.path) for r in autos[0].refs] == [
        ("block-document", ("slack-webhook", "ops"), "actions[0].block_document_id")
    ]
