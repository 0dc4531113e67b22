"""Kinds some releases have (format 1.3): saved searches (every release) and the server's
default result storage (3.7+), end to end on real servers and judged by the census.

3.8 -> 3.8: both arrive, ids in a saved search's filters rewritten; a second import changes
nothing. 3.8 -> 3.4 (no /admin/storage): the dry run names the default storage skipped
(`unsupported`, naming 3.4.25 and the endpoint), the run does exactly that, saved searches
arrive.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from fixtures import compare
from fixtures.releases import release, start_release_server
from fixtures.servers import Server
from tests.running import load, ok, pfx

pytestmark = pytest.mark.server

STORAGE = "default-result-storage"


def seed_small(url: str) -> dict[str, str]:
    """A flow, a result storage block set as the server's default, two saved searches as the
    UI saves them (one holds the flow's id). Returns the ids made."""
    with httpx.Client(base_url=url, timeout=30) as c:
        flow = c.post("/flows/", json={"name": "etl"}).json()["id"]
        block_type = c.get("/block_types/slug/local-file-system").json()["id"]
        schemas = c.post(
            "/block_schemas/filter",
            json={"block_schemas": {"block_type_id": {"any_": [block_type]}}},
        ).json()
        document = c.post(
            "/block_documents/",
            json={
                "name": "results",
                "block_type_id": block_type,
                "block_schema_id": schemas[0]["id"],
                "data": {"basepath": "/var/prefect/results"},
            },
        )
        document.raise_for_status()
        block = document.json()["id"]
        c.put("/admin/storage", json={"default_result_storage_block_id": block}).raise_for_status()
        for name, prop, value in (
            ("etl runs", "flow", [flow]),
            ("failed", "state", ["Failed", "Crashed"]),
        ):
            body = {
                "name": name,
                "filters": [
                    {
                        "object": "flowRun",
                        "property": prop,
                        "type": "",
                        "operation": "",
                        "value": value,
                    }
                ],
            }
            c.put("/saved_searches/", json=body).raise_for_status()
    return {"flow": flow, "block": block}


def report(path: Path) -> dict[tuple[str, tuple[str, ...]], dict[str, Any]]:
    value = orjson.loads(path.read_bytes())
    return {(o["kind"], tuple(o["key"])): o for o in value["outcomes"]}


@pytest.fixture
def exported(
    new_server: Callable[[str], Server],
    profiles_env: Callable[..., dict[str, str]],
    tmp_path: Path,
) -> Iterator[tuple[Server, Path]]:
    src = new_server("src")
    seed_small(src.url)
    env = profiles_env(src=src)
    path = tmp_path / "src.pfx"
    ok(env, "export", "-p", "src", "-o", path, "-q")
    yield src, path


def test_saved_searches_and_default_storage_arrive_and_reimport_unchanged(
    exported: tuple[Server, Path],
    new_server: Callable[[str], Server],
    profiles_env: Callable[..., dict[str, str]],
    tmp_path: Path,
) -> None:
    src, path = exported
    bundle = load(path)
    assert bundle.manifest.counts["saved-search"] == 2 and bundle.manifest.counts[STORAGE] == 1
    assert bundle.manifest.version == (1, 4) and bundle.manifest.reader == "0.2"
    assert not bundle.manifest.skipped
    dst = new_server("dst")
    env = profiles_env(dst=dst)
    baseline = compare.take(dst.url)
    dry = pfx(env, "import", path, "-p", "dst", "--dry-run", "--report", tmp_path / "dry.json")
    assert dry.returncode == 6, dry.stderr
    predicted = report(tmp_path / "dry.json")
    ok(env, "import", path, "-p", "dst", "--report", tmp_path / "run.json")
    done = report(tmp_path / "run.json")
    assert {k: o["status"] for k, o in done.items()} == {
        k: o["status"] for k, o in predicted.items()
    }
    assert done[(STORAGE, ("default",))]["status"] == "created"
    verdicts = compare.compare(compare.take(src.url), compare.take(dst.url), baseline)
    wrong = [v for v in verdicts if v.state not in ("equal", "own")]
    assert not wrong, wrong
    assert {v.kind for v in verdicts} >= {"saved-search", STORAGE}
    again = ok(env, "import", path, "-p", "dst", "--report", tmp_path / "again.json")
    assert again.returncode == 0
    assert {o["status"] for o in report(tmp_path / "again.json").values()} == {"unchanged"}


def test_older_destination_names_the_default_storage_unsupported(
    exported: tuple[Server, Path],
    profiles_env: Callable[..., dict[str, str]],
    tmp_path: Path,
) -> None:
    src, path = exported
    dst = start_release_server(release("3.4"), tmp_path, "dst-3.4")
    try:
        env = profiles_env(dst=dst)
        dry = pfx(env, "import", path, "-p", "dst", "--dry-run", "--report", tmp_path / "dry.json")
        run = pfx(env, "import", path, "-p", "dst", "--report", tmp_path / "run.json")
        assert (dry.returncode, run.returncode) == (4, 4), (dry.stderr, run.stderr)
        predicted, done = report(tmp_path / "dry.json"), report(tmp_path / "run.json")
        storage = done[(STORAGE, ("default",))]
        assert (storage["status"], storage["code"]) == ("skipped", "unsupported")
        assert "Prefect 3.4.25" in storage["reason"] and "/admin/storage" in storage["reason"]
        assert predicted[(STORAGE, ("default",))] == storage
        assert all(
            o["status"] in ("created", "unchanged") for k, o in done.items() if k[0] != STORAGE
        )
        verdicts = compare.compare(compare.take(src.url), compare.take(dst.url))
        searches = [v for v in verdicts if v.kind == "saved-search"]
        assert [v.state for v in searches] == ["equal", "equal"]
        assert [v.state for v in verdicts if v.kind == STORAGE] == ["missing"]
    finally:
        dst.stop()
