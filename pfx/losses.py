"""Named losses, pure: what of a record a destination cannot hold, known before any write.

A kind's calls are fitted to the destination's request schemas (pfx.openapi); every dropped
field that held a value becomes a `Loss` in the plan and in the report.
"""

from __future__ import annotations

import copy

from pfx.jsontypes import JSON, JSONObject
from pfx.kinds import kind_named
from pfx.kinds.base import Call, Destination
from pfx.model import Loss, Record
from pfx.openapi import Accepts

# Fields servers set on their own resources: a system type's protection follows from the
# release that registers it, so a destination that does not register the type cannot hold it.
SERVER_SET = frozenset({"is_protected"})


def fit_call(call: Call, accepts: Accepts | None) -> tuple[Call, list[Loss]]:
    """`call` with its body trimmed to what the destination accepts, and the losses."""
    if accepts is None or call.body is None:
        return call, []
    body, drops = accepts.trim(call.method, call.path, call.body)
    losses = [
        Loss(
            field=d.path,
            value_kind=d.value_kind,
            why=f"{accepts.server} does not accept it ({call.method} {_route(call.path)})",
            server_set=d.path in SERVER_SET,
        )
        for d in drops
        if d.lossy
    ]
    return Call(call.method, call.path, body), losses


def fit_calls(calls: Call | list[Call], accepts: Accepts | None) -> tuple[list[Call], list[Loss]]:
    """Every call fitted (see fit_call), losses in call order without repeats."""
    fitted: list[Call] = []
    losses: list[Loss] = []
    for call in calls if isinstance(calls, list) else [calls]:
        one, lost = fit_call(call, accepts)
        fitted.append(one)
        losses.extend(loss for loss in lost if loss not in losses)
    return fitted, losses


def record_losses(
    record: Record,
    verb: str,
    dest: JSONObject | None,
    accepts: Accepts | None,
    destination: Destination | None = None,
) -> list[Loss]:
    """The losses the writes for `record` would have (plan time, before any id is known):
    the kind's own (Kind.losses, given `destination`) and what the schemas drop."""
    if verb not in ("create", "update", "finish"):
        return []
    kind = kind_named(record.kind)
    own = kind.losses(record, destination or Destination(accepts=accepts))
    if accepts is None:
        return own
    calls: list[Call] = []
    if verb == "create":
        made = kind.create(record, record.data)
        calls = made if isinstance(made, list) else [made]
    elif verb == "update" and dest is not None:
        calls = kind.update(record, record.data, dest)
    if kind.late is not None and verb in ("create", "finish"):
        calls += kind.late(record, record.data, "<id>")
    schema = fit_calls(calls, accepts)[1]
    return own + [loss for loss in schema if loss.field not in {o.field for o in own}]


def fitted(calls: Call | list[Call], accepts: Accepts | None) -> list[Call]:
    """The calls as the destination takes them (what replay sends)."""
    return fit_calls(calls, accepts)[0]


def held(losses: list[Loss], ours: JSONObject, theirs: JSONObject) -> list[Loss]:
    """The losses whose field the destination item does not hold with our value (a record
    found unchanged: a system type is protected there, whatever the create could carry)."""
    missing = object()
    return [
        loss
        for loss in losses
        if _at(theirs, loss.field, missing) is missing
        or _at(theirs, loss.field, missing) != _at(ours, loss.field, missing)
    ]


def _at(data: JSON, path: str, default: object) -> object:
    node: JSON = data
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return default
    return node


def without(data: JSONObject, losses: list[Loss]) -> JSONObject:
    """A copy of `data` without the lost fields, to compare with what the destination holds."""
    out = copy.deepcopy(data)
    for loss in losses:
        *parents, last = loss.field.split(".")
        node: JSON = out
        for part in parents:
            if isinstance(node, dict):
                node = node.get(part)
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                node = None
        if isinstance(node, dict):
            node.pop(last, None)
    return out


def _route(path: str) -> str:
    """The endpoint without ids, so that one reason reads the same for every record."""
    parts = path.strip("/").split("/")
    return "/" + "/".join("{id}" if _looks_like_id(p) else p for p in parts)


def _looks_like_id(part: str) -> bool:
    return (len(part) == 36 and part.count("-") == 4) or part == "<id>"
