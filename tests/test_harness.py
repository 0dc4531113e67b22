"""Proves the harness: servers start and stop cleanly, and the seed covers every kind and
reference pfx must move."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from fixtures.inventory import KINDS, count_resources, read_all
from fixtures.seed import SeedInfo
from fixtures.seed_blocks import expected_secret_fields
from fixtures.servers import Server, port_open

pytestmark = pytest.mark.server

Seeded = tuple[Server, SeedInfo]


def test_seeded_source_has_every_kind(seeded_source: Seeded) -> None:
    """Every kind the census knows is present on the seeded source (3.8: also saved searches
    and the default result storage), at least as seeded."""
    server, info = seeded_source
    counts = count_resources(server.url)
    assert set(counts) == {*KINDS, "saved-search", "default-result-storage"}
    assert all(n > 0 for n in counts.values()), counts
    for kind, made in info.created.items():
        assert counts[kind] >= made, (kind, counts[kind], made)
    # Only the custom types come on top of the server's own system block types.
    assert counts["flow"] == info.created["flow"]
    assert counts["deployment"] == info.created["deployment"]


def test_more_than_200_variables(seeded_source: Seeded) -> None:
    """One kind holds more than one default page (200) of items."""
    server, info = seeded_source
    assert len(info.variables) > 200
    assert len(read_all(server.url, "variable")) == len(info.variables)


def test_secrets_recorded(seeded_source: Seeded) -> None:
    """The seed records its secret values, and the server masks them on an ordinary read."""
    server, info = seeded_source
    assert info.secrets
    raw = httpx.post(
        f"{server.url}/block_documents/filter",
        json={"block_documents": {"is_anonymous": {"eq_": None}}, "limit": 200},
    ).text
    leaked = {s for s in info.secrets if s in raw}
    # Only the dict-valued Secret leaks (a Prefect 3.8.8 masking gap): pfx must mask it itself.
    assert leaked == set(info.blocks.unmasked_by_server)


def test_nested_block_reference(seeded_source: Seeded) -> None:
    """A block document holds another saved document as a reference, not as inlined data."""
    server, info = seeded_source
    docs = read_all(server.url, "block-document")
    nested_names = {name for _, name in info.blocks.nested}
    nested = [d for d in docs if d["name"] in nested_names]
    assert nested and all(d["block_document_references"] for d in nested)
    refs = nested[0]["block_document_references"]
    assert all("id" in r["block_document"] for r in refs.values())
    assert any(d["is_anonymous"] for d in docs)


def test_automation_triggers_reference_deployments(seeded_source: Seeded) -> None:
    """Automation triggers name deployments by id, and one automation pauses itself."""
    server, info = seeded_source
    autos = read_all(server.url, "automation")
    assert sum("prefect.deployment." in str(a["trigger"]) for a in autos) >= 3
    kinds = {t for a in autos for t in [a["trigger"]["type"]]}
    assert {"event", "compound", "sequence"} <= kinds
    me = str(info.self_pausing_automation_id)
    self_pauser = next(a for a in autos if a["id"] == me)
    assert any(act.get("automation_id") == me for act in self_pauser["actions"])
    same_name = [a for a in autos if a["name"] == info.duplicate_automation_name]
    assert len(same_name) == 2


def test_deployment_with_three_schedule_types(seeded_source: Seeded) -> None:
    """A deployment carries three schedules of the three types cron, interval and rrule."""
    server, info = seeded_source
    flow_name, dep_name = info.three_schedule_deployment
    dep = httpx.get(f"{server.url}/deployments/name/{flow_name}/{dep_name}").json()
    types = {
        next(k for k in ("cron", "interval", "rrule") if k in s["schedule"])
        for s in dep["schedules"]
    }
    assert len(dep["schedules"]) == 3 and types == {"cron", "interval", "rrule"}


def test_limits_split_by_kind(seeded_source: Seeded) -> None:
    """Tag limits show up as v2 `tag:` limits and are counted once, as tag limits."""
    server, info = seeded_source
    v2_names = {x["name"] for x in read_all(server.url, "v2-concurrency-limit")}
    assert {f"tag:{t}" for t in info.tag_limits} <= v2_names
    assert any(n.startswith("deployment:") for n in v2_names)
    gcl = {x["name"] for x in read_all(server.url, "global-concurrency-limit")}
    assert gcl == set(info.global_limits)
    tags = {x["tag"] for x in read_all(server.url, "tag-concurrency-limit")}
    assert tags == set(info.tag_limits)


def test_server_stops_and_port_closes(new_server: Callable[[str], Server]) -> None:
    """A stopped server's process is gone and its port no longer answers."""
    server = new_server("stopper")
    assert httpx.get(f"{server.url}/health").json() is True
    server.stop()
    assert not server.alive()
    assert not port_open(server.port)


def test_profiles_env(profiles_env: Callable[..., dict[str, str]], tmp_path: Path) -> None:
    """The profiles file names each server under its profile, as Prefect reads it."""
    env = profiles_env(src="http://127.0.0.1:1/api", dst="http://127.0.0.1:2/api", active="src")
    data = tomllib.loads(Path(env["PREFECT_PROFILES_PATH"]).read_text())
    assert data["active"] == "src"
    assert data["profiles"]["dst"]["PREFECT_API_URL"] == "http://127.0.0.1:2/api"
    assert not any(k.startswith("PREFECT_API") for k in env)


def test_server_secret_fields_match_block_classes(seeded_source: Seeded) -> None:
    """The server's block schemas name the same secret fields as the seeded Block classes."""
    server, _ = seeded_source
    by_slug: dict[str, set[str]] = {}
    for schema in read_all(server.url, "block-schema"):
        slug = schema["block_type"]["slug"]
        by_slug.setdefault(slug, set()).update(schema["fields"].get("secret_fields", []))
    for slug, fields in expected_secret_fields().items():
        assert by_slug[slug] == set(fields), slug
