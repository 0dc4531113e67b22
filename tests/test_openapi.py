"""What a destination accepts, derived from real servers' OpenAPI documents (3.4.25, 3.8.8,
3.9.1).

The documents in fixtures/api/openapi/ are captured `/api/openapi.json` answers, trimmed to
the write endpoints pfx uses and the schemas they reach.
"""

from __future__ import annotations

import orjson
import pytest

from pfx.openapi import Accepts, Drop, read_accepts
from tests.conftest import OPENAPI, accepts


@pytest.fixture(scope="module")
def v34() -> Accepts:
    return accepts("3.4.25")


@pytest.fixture(scope="module")
def v38() -> Accepts:
    return accepts("3.8.8")


DEPLOYMENT = {
    "name": "daily",
    "flow_id": "0b0c5e2a-6f4e-4b8e-9d7a-3c1f2e4d5a6b",
    "job_variables": {"image": "x", "anything": {"nested": 1}},
    "concurrency_options": {"collision_strategy": "ENQUEUE", "grace_period_seconds": 120},
    "schedules": [{"schedule": {"cron": "0 0 * * *", "timezone": "UTC"}, "active": True}],
}


def test_older_server_drops_grace_period_as_a_named_loss(v34: Accepts) -> None:
    """3.4 does not know concurrency_options.grace_period_seconds: dropped and named."""
    body, drops = v34.trim("POST", "/deployments/", DEPLOYMENT)
    assert isinstance(body, dict)
    assert body["concurrency_options"] == {"collision_strategy": "ENQUEUE"}
    assert [(d.path, d.value_kind, d.lossy) for d in drops] == [
        ("concurrency_options.grace_period_seconds", "integer", True)
    ]


def test_newest_server_keeps_the_whole_deployment(v38: Accepts) -> None:
    """3.8 accepts every field of the deployment body, free-form job variables included."""
    body, drops = v38.trim("POST", "/deployments/", DEPLOYMENT)
    assert body == DEPLOYMENT
    assert drops == []


def test_update_routes_match_by_pattern_and_literal_segments_win(v38: Accepts) -> None:
    """`/deployments/<id>` finds DeploymentUpdate; `/deployments/<id>/schedules` its own route."""
    _, drops = v38.trim("PATCH", "/deployments/abc", {"paused": True, "name": "refused"})
    assert [d.path for d in drops] == ["name"]
    assert v38.knows("POST", "/deployments/abc/schedules")
    assert not v38.knows("POST", "/deployments/abc/nothing")


def test_unset_values_are_dropped_without_loss(v34: Accepts) -> None:
    """A dropped field that held null, false or an empty value loses nothing."""
    body = {"collision_strategy": "ENQUEUE", "grace_period_seconds": None}
    _, drops = v34.trim("POST", "/deployments/", {"concurrency_options": body})
    assert drops == [Drop("concurrency_options.grace_period_seconds", None)]
    assert not drops[0].lossy
    assert Drop("x", 0).lossy and Drop("x", True).lossy and not Drop("x", False).lossy


def test_discriminated_action_unions_pick_the_branch_by_type(v34: Accepts) -> None:
    """An automation action is trimmed by the schema of its own `type`."""
    automation = {
        "name": "a",
        "trigger": {"type": "event", "expect": ["x"], "posture": "Reactive", "threshold": 1},
        "actions": [{"type": "run-deployment", "source": "selected", "invented": 3}],
    }
    body, drops = v34.trim("POST", "/automations/", automation)
    assert isinstance(body, dict)
    assert body["actions"] == [{"type": "run-deployment", "source": "selected"}]
    assert [d.path for d in drops] == ["actions.0.invented"]


def test_endpoints_only_some_releases_have(v34: Accepts, v38: Accepts) -> None:
    """The default result storage endpoint exists from 3.7 on (in 3.8, not in 3.4)."""
    assert v38.knows("PUT", "/admin/storage") or v38.knows("POST", "/admin/storage")
    assert not v34.knows("PUT", "/admin/storage") and not v34.knows("POST", "/admin/storage")


def test_no_document_means_nothing_trimmed() -> None:
    """Without the server's document (or an unknown endpoint) a body goes as it is."""
    empty = read_accepts(None)
    assert empty.trim("POST", "/deployments/", DEPLOYMENT) == (DEPLOYMENT, [])


def test_offers_tells_which_release_has_an_endpoint(v34: Accepts, v38: Accepts) -> None:
    """`/admin/storage` is 3.7+; saved searches every release; a prefixed path still counts."""
    assert v38.offers("/admin/storage") and not v34.offers("/admin/storage")
    assert v34.offers("/saved_searches/") and v38.offers("/saved_searches/")
    prefixed = read_accepts(
        {"paths": {"/api/accounts/{a}/workspaces/{w}/saved_searches/": {"put": {}}}}
    )
    assert prefixed.offers("/saved_searches/") and not prefixed.offers("/admin/storage")


def test_39_accepts_every_field_38_accepts() -> None:
    """3.9.1's request schemas for pfx's writes have the fields 3.8.8's have (3.9 only adds a
    route and a settings field): a 3.8 record into 3.9, or back, loses nothing."""
    docs = {r: orjson.loads((OPENAPI / f"{r}.json").read_bytes()) for r in ("3.8.8", "3.9.1")}
    old, new = (docs[r]["components"]["schemas"] for r in ("3.8.8", "3.9.1"))
    assert set(old) == set(new)
    assert {n: set(s.get("properties", {})) for n, s in old.items()} == {
        n: set(s.get("properties", {})) for n, s in new.items()
    }
    body, drops = accepts("3.9.1").trim("POST", "/deployments/", DEPLOYMENT)
    assert (body, drops) == (DEPLOYMENT, [])
