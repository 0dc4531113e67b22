"""A deployment's concurrency limit: its own (server-made, `deployment:<id>`) or a linked
named global limit, and the calls that set it (pure)."""

from __future__ import annotations

from pfx.jsontypes import JSONObject
from pfx.kinds.base import Call
from pfx.kinds.concurrency_limit import DEPLOYMENT_PREFIX

# What a deployment's own (server-made) limit is configured with.
OWN_LIMIT_FIELDS = ("name", "limit", "active", "slot_decay_per_second")


def own_limit(data: JSONObject) -> JSONObject | None:
    """The deployment's own concurrency limit (`deployment:<id>`), or None."""
    gcl = data.get("global_concurrency_limit")
    if isinstance(gcl, dict) and str(gcl.get("name", "")).startswith(DEPLOYMENT_PREFIX):
        return gcl
    return None


def linked_limit(data: JSONObject) -> JSONObject | None:
    """The named global concurrency limit the deployment is linked to, or None."""
    gcl = data.get("global_concurrency_limit")
    if isinstance(gcl, dict) and own_limit(data) is None:
        return gcl
    return None


def own_limit_value(data: JSONObject) -> int | None:
    own = own_limit(data)
    if own is not None:
        value = own.get("limit")
    else:
        value = data.get("concurrency_limit") if linked_limit(data) is None else None
    return value if isinstance(value, int) else None


def own_needs_patch(data: JSONObject) -> bool:
    """Whether the own limit differs from what `concurrency_limit: n` creates (active, no decay)."""
    own = own_limit(data)
    if own is None:
        return False
    return (
        own.get("limit") == 0
        or own.get("active") is False
        or bool(own.get("slot_decay_per_second"))
    )


def own_limit_settings(data: JSONObject, dest_id: str) -> list[Call]:
    own = own_limit(data)
    if own is None or not own_needs_patch(data):
        return []
    return [Call("PATCH", f"/v2/concurrency_limits/{DEPLOYMENT_PREFIX}{dest_id}", _settings(own))]


def _settings(own: JSONObject) -> JSONObject:
    return {k: own[k] for k in ("limit", "active", "slot_decay_per_second") if k in own}


def limit_calls(data: JSONObject, dest: JSONObject, dest_id: str) -> list[Call]:
    """Calls that move the destination from its limit to the record's, one change per PATCH.

    `concurrency_limit: null` deletes whatever limit the deployment points at, a linked named
    limit included, so a linked limit is unlinked first and never sent a null.
    """
    path = f"/deployments/{dest_id}"
    calls: list[Call] = []
    value, linked = own_limit_value(data), linked_limit(data)
    dest_own, dest_linked = own_limit(dest), linked_limit(dest)
    linked_id = linked.get("id") if linked is not None else None
    if dest_linked is not None and dest_linked.get("id") != linked_id:
        calls.append(Call("PATCH", path, {"global_concurrency_limit_id": None}))
    if dest_own is not None and value is None:
        calls.append(Call("PATCH", path, {"concurrency_limit": None}))
    if value is not None:
        if dest_own is None or dest_own.get("limit") != value:
            calls.append(Call("PATCH", path, {"concurrency_limit": max(value, 1)}))
        # The own limit as the PATCH above leaves it: a new one starts active without decay.
        after: JSONObject = {"active": True, "slot_decay_per_second": 0.0}
        after = (dest_own or after) | {"limit": max(value, 1)}
        body = _settings(own_limit(data) or {})
        if any(after.get(k) != v for k, v in body.items()):
            calls.append(
                Call("PATCH", f"/v2/concurrency_limits/{DEPLOYMENT_PREFIX}{dest_id}", body)
            )
    if linked_id is not None and (dest_linked is None or dest_linked.get("id") != linked_id):
        calls.append(Call("PATCH", path, {"global_concurrency_limit_id": linked_id}))
    return calls
