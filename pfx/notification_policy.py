"""2.x flow-run notification policies as the 3.x automation that does the same: a reactive
flow-run state trigger and one send-notification action (export of a 2.x source). Pure:
pfx.server.reading reads the policies, this module only converts them.
"""

from __future__ import annotations

import _string  # type: ignore[import-not-found]  # str.format's own field-name parser
from collections.abc import Iterable
from dataclasses import dataclass, field
from string import Formatter
from uuid import NAMESPACE_URL, uuid5

from pfx.jsontypes import JSON, JSONObject
from pfx.model import Skipped

KIND_NAME = "flow-run-notification-policy"
LISTING_PATH = "/flow_run_notification_policies/filter"
# What 2.20's FlowRunNotifications service sends: a fixed subject, the policy's template (or
# this default, models/flow_run_notification_policies.py) formatted with str.format.
SUBJECT = "Prefect flow run notification"
DEFAULT_TEMPLATE = """
Flow run {flow_name}/{flow_run_name} entered state `{flow_run_state_name}` at {flow_run_state_timestamp}.

Flow ID: {flow_id}
Flow run ID: {flow_run_id}
Flow run URL: {flow_run_url}
State message: {flow_run_state_message}
"""  # noqa: E501  (the line is 2.20's own)
# 2.20's template variables (schemas/core.py FLOW_RUN_NOTIFICATION_TEMPLATE_KWARGS) as the
# Jinja of 3.x automation actions, whose context holds the triggering run and its flow.
# `flow_run_notification_policy_id` is a constant of the policy: written out as text.
JINJA = {
    "flow_id": "flow.id",
    "flow_name": "flow.name",
    "flow_run_url": "flow_run|ui_url",
    "flow_run_id": "flow_run.id",
    "flow_run_name": "flow_run.name",
    "flow_run_parameters": "flow_run.parameters",
    "flow_run_state_type": "flow_run.state.type.value",
    "flow_run_state_name": "flow_run.state.name",
    "flow_run_state_timestamp": "flow_run.state.timestamp",
    "flow_run_state_message": "flow_run.state.message",
}
POLICY_ID = "flow_run_notification_policy_id"


def offered_by(server_version: str | None) -> bool:
    """Whether a server can have notification policies: 2.x (3.0 removed them), or a release
    it does not name (read, and a 404 there means none)."""
    major = server_version.split(".", 1)[0] if server_version else ""
    return not major.isdigit() or int(major) < 3


class Unconvertible(ValueError):
    """A policy that no automation can express (its reason is the message)."""


@dataclass
class Conversion:
    """The automations (as a 3.x server lists them) and the policies named instead."""

    automations: list[JSONObject] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def convert_policies(policies: Iterable[JSONObject], block_document_ids: set[str]) -> Conversion:
    """One automation per policy; a policy whose notification block is not among
    `block_document_ids` (the exported documents), or whose template cannot be translated,
    is named in `skipped` instead."""
    out = Conversion()
    for policy in policies:
        ident = str(policy.get("id"))
        try:
            block = str(policy.get("block_document_id") or "").lower()
            if block not in block_document_ids:
                raise Unconvertible(f"its notification block {block or '(none)'} is not exported")
            out.automations.append(to_automation(policy))
        except Unconvertible as e:
            reason = f"Prefect 2.x flow-run notification policy not converted to an automation: {e}"
            out.skipped.append(Skipped(kind=KIND_NAME, key=(ident,), reason=reason))
    return out


def to_automation(policy: JSONObject) -> JSONObject:
    """The automation doing what `policy` does on 2.x: for each flow run entering one of its
    states (none listed: any state) and carrying one of its tags (none: any run), send its
    message through its block."""
    ident = str(policy.get("id"))
    states = _strings(policy.get("state_names"))
    tags = _strings(policy.get("tags"))
    template = policy.get("message_template")
    body, dropped = translate_template(
        template if isinstance(template, str) and template else DEFAULT_TEMPLATE, ident
    )
    description = f"Converted by pfx from Prefect 2.x flow-run notification policy {ident}."
    if dropped:
        description += f" Format details 3.x templates cannot express were dropped: {dropped}."
    related: JSONObject = (
        {"prefect.resource.role": "tag", "prefect.resource.id": [f"prefect.tag.{t}" for t in tags]}
        if tags
        else {}
    )
    return {
        # Not the policy's id: a body may hold that as text (`{flow_run_notification_policy_id}`),
        # and an automation's own id in its actions would read as a reference to itself.
        "id": str(uuid5(NAMESPACE_URL, f"pfx:flow-run-notification-policy:{ident}")),
        "name": policy_name(states, tags),
        "description": description,
        "enabled": policy.get("is_active") is not False,
        "tags": [],
        "trigger": {
            "type": "event",
            "match": {"prefect.resource.id": "prefect.flow-run.*"},
            "match_related": related,
            "after": [],
            "expect": [f"prefect.flow-run.{s}" for s in states] or ["prefect.flow-run.*"],
            "for_each": ["prefect.resource.id"],
            "posture": "Reactive",
            "threshold": 1,
            "within": 0.0,  # as servers list it: a 3.x export of the same automation reads alike
        },
        "actions": [
            {
                "type": "send-notification",
                "block_document_id": str(policy.get("block_document_id")),
                "subject": SUBJECT,
                "body": body,
            }
        ],
        "actions_on_trigger": [],
        "actions_on_resolve": [],
    }


def policy_name(states: list[str], tags: list[str]) -> str:
    """A readable name saying what the policy watches, e.g.
    "notification policy: Failed, Crashed (tags: prod)"."""
    watched = ", ".join(states) if states else "any state"
    return f"notification policy: {watched}" + (f" (tags: {', '.join(tags)})" if tags else "")


def translate_template(template: str, policy_id: str) -> tuple[str, str]:
    """The 2.x `str.format` template as 3.x Jinja, and the format details dropped (conversions
    and format specs: Jinja has no equivalent of `{x!r}` or `{x:>20}`), as text."""
    parts: list[str] = []
    dropped: list[str] = []
    try:
        parsed = list(Formatter().parse(template))
    except ValueError as e:
        raise Unconvertible(f"its message template is not a valid 2.x template ({e})") from e
    for literal, name, spec, conversion in parsed:
        # A literal `{` (written `{{` in 2.x) could open a Jinja tag: emitted as an expression.
        parts.append(literal.replace("{", "{{ '{' }}"))
        if name is None:
            continue
        if spec or conversion:
            dropped.append("{" + name + (f"!{conversion}" if conversion else "") + f":{spec}}}")
        parts.append(_expression(name, policy_id))
    return "".join(parts), ", ".join(dropped)


def _expression(name: str, policy_id: str) -> str:
    first, rest = _string.formatter_field_name_split(name)
    if first == POLICY_ID and not list(rest):
        return policy_id
    base = JINJA.get(str(first))
    if base is None:
        raise Unconvertible(f"its message template names {{{name}}}, which 2.x does not define")
    for is_attr, part in rest:
        if "|" in base:
            raise Unconvertible(f"its message template indexes {{{name}}}")
        base += f".{part}" if is_attr else f"[{part!r}]"
    return "{{ " + base + " }}"


def _strings(value: JSON) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []
