"""Prefect Cloud's own kinds: webhooks and SLAs carried, version history and per-object access
named. No Cloud workspace is reachable here: the integration test puts a Cloud-shaped fake
(fixtures/cloudfake.py) in front of a real 3.8 server, so it proves detection and naming
against Cloud's published shapes, never how Prefect Cloud itself behaves."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson

from fixtures import compare
from fixtures.cloudfake import Canned, CloudFake, canned_for
from fixtures.proxy import Proxy
from fixtures.seed import SeedInfo
from fixtures.servers import Server
from pfx import cloud
from pfx.ids import Index
from pfx.kinds import sla, webhook
from pfx.kinds.base import Destination
from pfx.losses import record_losses
from pfx.model import Record
from pfx.openapi import read_accepts
from pfx.plan import lacks
from tests.running import load, ok, pfx

DEP = "3f2c1b0a-9e8d-4c7b-a6f5-e4d3c2b1a091"
SA = "5b4a3928-1706-4f5e-8d4c-3b2a19087f6e"


def test_slas_are_gathered_per_deployment_and_applied_as_one_set() -> None:
    """SLAs listed one by one become one item per deployment (sorted, configuration only), and
    its create is the one apply call with the whole set, each owned by the deployment."""
    owner = f"prefect.deployment.{DEP}"
    items: list[Any] = [
        {"id": "a", "name": "late", "owner_resource": owner, "within": 300.0, "trigger": {}},
        {"id": "b", "name": "ttc", "owner_resource": owner, "duration": 600, "severity": "high"},
    ]
    [group] = sla.gather(items)
    assert group == {
        "owner_resource": owner,
        "deployment_id": DEP,
        "slas": [
            {"name": "late", "within": 300.0},
            {"name": "ttc", "duration": 600, "severity": "high"},
        ],
    }
    index = Index()
    index.add("deployment", ("etl", "daily"), DEP)
    assert sla.KIND.key(group, index) == ("etl", "daily")
    [ref] = sla.KIND.refs(group, index)
    assert (ref.kind, ref.key, ref.id) == ("deployment", ("etl", "daily"), DEP)
    record = Record(kind="sla", key=("etl", "daily"), data=sla.KIND.kept(group))
    call = sla.KIND.create(record, record.data)
    assert not isinstance(call, list)
    assert call.path == f"/slas/apply-resource-slas/{owner}"
    assert isinstance(call.body, list) and [s["name"] for s in call.body] == ["late", "ttc"]  # type: ignore[index]
    assert all(s["owner_resource"] == owner for s in call.body)  # type: ignore[index]


def test_a_webhooks_service_account_is_never_sent_and_is_a_named_loss() -> None:
    """The service account is the source account's: the create leaves it out and the plan
    names it a loss on every destination; the URL the server assigned is not kept."""
    item = {"id": DEP, "name": "hook", "template": "{}", "slug": "abc", "service_account_id": SA}
    record = Record(kind="webhook", key=("hook",), data=webhook.KIND.kept(item))
    assert "slug" not in record.data and record.data["service_account_id"] == SA
    call = webhook.KIND.create(record, record.data)
    assert not isinstance(call, list) and call.body == {"name": "hook", "template": "{}"}
    [loss] = record_losses(record, "create", None, None)
    assert loss.field == "service_account_id" and "Prefect Cloud account" in loss.why
    assert (
        record_losses(record.model_copy(update={"data": {"name": "hook"}}), "create", None, None)
        == []
    )


def test_version_history_and_access_are_named_per_object() -> None:
    """A deployment with a live version id gets a version-history entry; an object whose access
    lists anyone gets an access entry with counts per role; default access gets none."""
    records = [
        Record(kind="deployment", key=("etl", "daily"), id=DEP, data={}),
        Record(kind="work-pool", key=("k8s",), id=SA, data={}),
    ]
    raw: dict[str, list[Any]] = {"deployment": [{"id": DEP, "version_id": SA}]}
    answers: dict[tuple[str, str], Any] = {
        ("deployment-access", DEP): {"manage_actors": [{"id": "u"}], "run_actors": []},
        ("work-pool-access", "k8s"): {"manage_actors": [], "view_actors": []},
    }
    named = cloud.name_cloud_only(records, raw, answers)
    assert [(s.kind, s.key) for s in named] == [
        ("deployment-version-history", ("etl", "daily")),
        ("deployment-access", ("etl", "daily")),
    ]
    assert SA in named[0].reason and "manage: 1" in named[1].reason


def test_a_destination_without_the_endpoints_lacks_both_kinds() -> None:
    """A server whose OpenAPI has neither Cloud endpoint makes webhooks and SLAs unsupported,
    naming the endpoint; one that has them (a Cloud-like document) does not."""
    plain = Destination(accepts=read_accepts({"paths": {"/flows/": {"post": {}}}}, "3.8.8"))
    assert "offers no /webhooks/" in (lacks(webhook.KIND, plain) or "")
    assert "/slas/apply-resource-slas/" in (lacks(sla.KIND, plain) or "")
    paths = {"/webhooks/": {"post": {}}, "/slas/apply-resource-slas/{resource_id}": {"post": {}}}
    cloudy = Destination(cloud=True, accepts=read_accepts({"paths": paths}, "cloud"))
    assert lacks(webhook.KIND, cloudy) is None and lacks(sla.KIND, cloudy) is None


def test_cloud_source_carries_webhooks_and_slas_and_names_the_rest(
    seeded_source: tuple[Server, SeedInfo],
    new_server: Callable[[str], Server],
    profiles_env: Callable[..., dict[str, str]],
    tmp_path: Path,
) -> None:
    """Through the Cloud-shaped fake: the bundle says Cloud, holds the webhooks and each
    deployment's SLAs, names version history and access per object; imported into a plain 3.8
    server, webhooks and SLAs are skipped `unsupported` in the dry run and the run alike (exit
    4), and every other record arrives (census)."""
    server, _ = seeded_source
    destination = new_server("plain-dst")
    bundle = tmp_path / "cloud.pfx"
    canned = canned_for(server.url)
    with CloudFake(server.url, canned) as fake:
        env = profiles_env(src=fake.url, dst=destination)
        ok(env, "export", "-p", "src", "-o", bundle, "--secrets", "plaintext", "-q")
        assert fake.count("GET", r"/access$") > 0
    made = load(bundle)
    assert made.manifest.source.cloud is True and made.manifest.source.server_version is None
    by_kind: dict[str, dict[tuple[str, ...], Record]] = {}
    for record in made.records:
        by_kind.setdefault(record.kind, {})[record.key] = record
    assert set(by_kind["webhook"]) == {("github-push",), ("stripe",)}
    assert "slug" not in by_kind["webhook"][("stripe",)].data
    assert (
        by_kind["webhook"][("stripe",)].data["service_account_id"]
        == canned.webhooks[1]["service_account_id"]
    )
    deployment_ids = {r.id: r.key for r in by_kind["deployment"].values()}
    first = deployment_ids[canned.slas[0]["owner_resource"].removeprefix("prefect.deployment.")]
    assert [s["name"] for s in by_kind["sla"][first].data["slas"]] == ["late", "ttc"]
    assert len(by_kind["sla"]) == 2
    assert all("version_id" not in r.data for r in by_kind["deployment"].values())
    assert all(r.data["version_info"]["type"] for r in by_kind["deployment"].values())
    skipped = {(s.kind, s.key) for s in made.manifest.skipped}
    versions = {key for kind, key in skipped if kind == "deployment-version-history"}
    assert versions == set(by_kind["deployment"])
    access = sorted(kind for kind, _ in skipped if kind.endswith("-access"))
    assert access == ["block-document-access", "deployment-access", "work-pool-access"]
    assert ("deployment-access", first) in skipped

    cloud_only = {(k, key) for k in ("webhook", "sla") for key in by_kind[k]}
    baseline = compare.take(destination.url)
    dry = pfx(env, "import", bundle, "-p", "dst", "--dry-run", "--json")
    run = pfx(env, "import", bundle, "-p", "dst", "--json")
    for result in (dry, run):
        assert result.returncode == 4, result.stdout[-2000:] + result.stderr
        outcomes = orjson.loads(result.stdout)["outcomes"]
        skipped_here = {
            (o["kind"], tuple(o["key"])): o for o in outcomes if o["status"] == "skipped"
        }
        assert set(skipped_here) == cloud_only
        assert all(o["code"] == "unsupported" for o in skipped_here.values())
        assert all("offers no /" in o["reason"] for o in skipped_here.values())
        others = [o for o in outcomes if (o["kind"], tuple(o["key"])) not in cloud_only]
        assert {o["status"] for o in others} <= {"created", "unchanged"}
        # 3.8 has no version_info: a named loss on every deployment, never silently dropped.
        for o in others:
            lost = {loss["field"] for loss in o["losses"]}
            assert ("version_info" in lost) == (o["kind"] == "deployment"), o
    after = compare.take(destination.url)
    verdicts = compare.compare(compare.take(server.url), after, baseline)
    wrong = [v.label for v in verdicts if v.state not in ("equal", "own")]
    assert not wrong, wrong


def test_a_self_hosted_source_reads_no_cloud_endpoint_beyond_one_listing(
    seeded_source: tuple[Server, SeedInfo],
    profiles_env: Callable[..., dict[str, str]],
    tmp_path: Path,
) -> None:
    """A self-hosted source is not Cloud: no access request is made, webhooks and SLAs are
    empty (their listings answer 404), and nothing Cloud-only is named."""
    server, _ = seeded_source
    with Proxy(server.url) as proxy:
        env = profiles_env(src=proxy.url)
        ok(env, "export", "-p", "src", "-o", tmp_path / "b.pfx", "-q")
        assert proxy.count("GET", r"/access$") == 0
        assert proxy.count("POST", r"/webhooks/filter$") == 1
    made = load(tmp_path / "b.pfx")
    assert made.manifest.source.cloud is False
    assert made.manifest.counts.get("webhook") == 0 and made.manifest.counts.get("sla") == 0
    assert not [s for s in made.manifest.skipped if s.kind.endswith(("-access", "-history"))]


def test_render_names_webhooks_and_slas_as_not_rendered() -> None:
    """`pfx render` writes no file for Cloud's own kinds and lists each of them, with why."""
    from pfx.render import render

    records = [
        Record(kind="webhook", key=("hook",), data={"name": "hook"}),
        Record(kind="sla", key=("etl", "daily"), data={"deployment_id": DEP, "slas": []}),
    ]
    rendering = render(records, source="b.pfx")
    assert {(o.kind, o.field) for o in rendering.omissions} == {("webhook", "*"), ("sla", "*")}


def test_access_the_key_may_not_read_is_named_not_dropped(
    seeded_source: tuple[Server, SeedInfo],
    profiles_env: Callable[..., dict[str, str]],
    tmp_path: Path,
) -> None:
    """A Cloud key refused on the access endpoints (403) still exports, and the manifest says
    per kind that access settings could not be read (one refusal per kind, no request storm);
    a Cloud workspace without pfx's SLA listing (404) is named too, not read as none."""
    server, _ = seeded_source
    canned = canned_for(server.url)
    canned.access_refused = 403
    canned.slas = None
    with CloudFake(server.url, canned) as fake:
        env = profiles_env(src=fake.url)
        ok(env, "export", "-p", "src", "-o", tmp_path / "b.pfx", "-q")
        assert fake.count("GET", r"/access$") == 3
    skipped = load(tmp_path / "b.pfx").manifest.skipped
    unread = {s.kind: s for s in skipped if s.kind.endswith("-access")}
    assert set(unread) == {"deployment-access", "work-pool-access", "block-document-access"}
    assert all(s.key == ("*",) and "could not be read" in s.reason for s in unread.values())
    [unlisted] = [s for s in skipped if s.kind == "sla"]
    assert unlisted.key == ("*",) and "answered 404 to /slas/filter" in unlisted.reason


def test_version_info_is_a_named_loss_only_off_cloud() -> None:
    """A deployment's version_info is sent as it is; a destination that is not Cloud loses it
    (named, also where its schema accepts it), a Cloud destination keeps it."""
    from pfx.kinds.deployment import KIND

    info = {"type": "vcs:github", "version": "abc123", "branch": "main"}
    data = KIND.kept({"name": "d", "flow_id": DEP, "version_info": info, "version_id": SA})
    record = Record(kind="deployment", key=("f", "d"), data=data)
    assert "version_id" not in record.data
    call = KIND.create(record, record.data)
    assert not isinstance(call, list) and isinstance(call.body, dict)
    assert call.body["version_info"] == info
    plain = Destination(accepts=read_accepts({"paths": {}}, "3.8.8"))
    [loss] = record_losses(record, "create", None, plain.accepts, plain)
    assert loss.field == "version_info" and "only Prefect Cloud" in loss.why
    cloudy = Destination(cloud=True)
    assert record_losses(record, "create", None, None, cloudy) == []


def test_a_cloud_shaped_openapi_document_is_read_relative_to_the_workspace() -> None:
    """Paths under `/api/accounts/{account_id}/workspaces/{workspace_id}` (how Cloud names its
    operations) match the calls pfx makes relative to the workspace's API root."""
    root = "/api/accounts/{account_id}/workspaces/{workspace_id}"
    body = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/W"}}}}
    document = {
        "paths": {f"{root}/webhooks/": {"post": {"requestBody": body}}},
        "components": {
            "schemas": {
                "W": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"name": {"type": "string"}},
                }
            }
        },
    }
    cloudy = Destination(cloud=True, accepts=read_accepts(document, "Prefect Cloud"))
    assert lacks(webhook.KIND, cloudy) is None and lacks(sla.KIND, cloudy) is not None
    assert cloudy.accepts is not None
    assert cloudy.accepts.trim("POST", "/webhooks/", {"name": "a", "x": 1})[0] == {"name": "a"}


def test_into_a_cloud_shaped_destination_webhooks_and_slas_are_written_once(
    seeded_source: tuple[Server, SeedInfo],
    new_server: Callable[[str], Server],
    profiles_env: Callable[..., dict[str, str]],
    tmp_path: Path,
) -> None:
    """pfx's own write path for Cloud's kinds, against a fake that stores what it is sent (it
    proves pfx's logic, not Cloud's behaviour): webhooks are created without the service
    account (a named loss: exit 5), each deployment's SLAs arrive in one apply owned by the
    destination's deployment, and importing again finds everything unchanged, writing nothing."""
    server, _ = seeded_source
    bundle = tmp_path / "cloud.pfx"
    source = canned_for(server.url)
    with CloudFake(server.url, source) as fake:
        env = profiles_env(src=fake.url)
        ok(env, "export", "-p", "src", "-o", bundle, "--secrets", "plaintext", "-q")
    destination = new_server("cloud-dst")
    stored = Canned(writable=True)
    with CloudFake(destination.url, stored) as fake:
        env = profiles_env(dst=fake.url)
        first = pfx(env, "import", bundle, "-p", "dst", "--json")
        assert first.returncode == 5, first.stdout[-2000:] + first.stderr
        outcomes = orjson.loads(first.stdout)["outcomes"]
        [stripe] = [o for o in outcomes if o["kind"] == "webhook" and o["key"] == ["stripe"]]
        assert [loss["field"] for loss in stripe["losses"]] == ["service_account_id"]
        assert "new URL" in stripe["reason"]
        assert {o["status"] for o in outcomes} <= {"created", "unchanged"}
        again = pfx(env, "import", bundle, "-p", "dst", "--json")
        assert again.returncode == 5, again.stdout[-2000:] + again.stderr
        statuses = {(o["kind"], o["status"]) for o in orjson.loads(again.stdout)["outcomes"]}
        assert {status for _, status in statuses} == {"unchanged"}, statuses
        assert fake.count("POST", r"/webhooks/$") == 2
        assert fake.count("POST", r"/slas/apply-resource-slas/") == 2
    assert sorted(w["name"] for w in stored.webhooks) == ["github-push", "stripe"]
    assert all(w["service_account_id"] is None for w in stored.webhooks)
    with httpx.Client(base_url=destination.url, timeout=60) as http:
        ids = {d["id"] for d in http.post("/deployments/filter", json={}).json()}
    owners = {s["owner_resource"].removeprefix("prefect.deployment.") for s in stored.slas}
    assert len(stored.slas) == 3 and len(owners) == 2 and owners <= ids
