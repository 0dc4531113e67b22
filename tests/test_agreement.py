"""`pfx diff BUNDLE -p DST` and `pfx import BUNDLE -p DST --dry-run` compare alike, on real
servers: the same records differ, in the same fields, and the records the diff calls removed
are the ones the dry run would create (pfx.comparison is both's); with the live server on the
left (`--left-profile DST BUNDLE`), the same records, added instead of removed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from fixtures.inventory import read_all
from fixtures.seed import SeedInfo
from fixtures.servers import Server
from tests.conftest import user_env
from tests.running import json_out, ok, pfx

Ident = tuple[str, tuple[str, ...]]


def edit_destination(url: str, info: SeedInfo) -> dict[str, Ident]:
    """Change the destination as its users would, through its REST API; what each edit
    touched, by (kind, natural key)."""
    flows = {f["id"]: f["name"] for f in read_all(url, "flow")}
    flow, name = info.deployments[0]
    deployment = next(
        d for d in read_all(url, "deployment") if (flows[d["flow_id"]], d["name"]) == (flow, name)
    )
    twin = next(
        a for a in read_all(url, "automation") if a["name"] == info.duplicate_automation_name
    )
    document = next(d for d in read_all(url, "block-document") if d["name"] == "db-password")
    changed, gone = sorted(info.variables)[:2]
    with httpx.Client(base_url=url, timeout=30) as client:
        for answer in (
            client.patch(f"/variables/name/{changed}", json={"value": "edited on dst"}),
            client.delete(f"/variables/name/{gone}"),
            client.patch(f"/deployments/{deployment['id']}", json={"description": "edited"}),
            # One of two automations of the same name: pairing by content decides which.
            client.patch(f"/automations/{twin['id']}", json={"enabled": not twin["enabled"]}),
            # A newer release's way of filling in a key, unset: the same document.
            client.patch(
                f"/block_documents/{document['id']}",
                json={"data": {"added_unset": None}, "merge_existing_data": True},
            ),
        ):
            assert answer.status_code < 300, answer.text
    after = next(d for d in read_all(url, "block-document") if d["id"] == document["id"])
    assert after["data"].get("added_unset", "missing") is None
    return {
        "changed": ("variable", (changed,)),
        "gone": ("variable", (gone,)),
        "deployment": ("deployment", (flow, name)),
        "document": ("block-document", ("secret", "db-password")),
    }


def test_diff_and_the_dry_run_name_the_same_records_and_fields(
    seeded_source: tuple[Server, SeedInfo], new_server: Callable[[str], Server], tmp_path: Path
) -> None:
    """After edits on the destination (a changed and a deleted variable, a deployment's
    description, one of two same-named automations, a block document that gains a key set
    to null), diff and dry run name the same records with the same fields; the null key is a
    difference for neither."""
    source, info = seeded_source
    dst = new_server("dst")
    env = user_env(tmp_path, passphrase="agreement passphrase", src=source, dst=dst)
    bundle = tmp_path / "snap.pfx"
    ok(env, "export", "-p", "src", "-o", bundle, "--secrets", "encrypt", "-q")
    ok(env, "import", bundle, "-p", "dst", "-q")
    edited = edit_destination(dst.url, info)

    diff = pfx(env, "diff", bundle, "-p", "dst", "--json")
    assert diff.returncode == 1, diff.stderr
    plan = pfx(env, "import", bundle, "-p", "dst", "--dry-run", "--json")
    assert plan.returncode == 3, plan.stderr
    records = json_out(diff)["records"]
    outcomes = json_out(plan)["outcomes"]
    assert isinstance(records, list) and isinstance(outcomes, list)

    def ident(entry: dict[str, object]) -> Ident:
        key = entry["key"]
        assert isinstance(key, list)
        return (str(entry["kind"]), tuple(key))

    by_diff = {ident(r): r.get("fields") for r in records if r["status"] == "changed"}
    by_plan = {ident(o): o["fields"] for o in outcomes if o.get("code") == "differs"}
    assert by_diff == by_plan
    removed = {ident(r) for r in records if r["status"] == "removed"}
    created = {ident(o) for o in outcomes if o["status"] == "created"}
    assert removed == created == {edited["gone"]}
    assert by_plan[edited["changed"]] == ["value"]
    assert by_plan[edited["deployment"]] == ["description"]
    assert [fields for (kind, _), fields in by_plan.items() if kind == "automation"] == [
        ["enabled"]
    ]
    assert edited["document"] not in by_plan
    assert len(by_plan) == 3

    # The plan's direction, the destination on the left: what `import` would do to it.
    towards = pfx(env, "diff", "--left-profile", "dst", bundle, "--json")
    assert towards.returncode == 1, towards.stderr
    reverse = json_out(towards)["records"]
    assert isinstance(reverse, list)
    assert {ident(r): r.get("fields") for r in reverse if r["status"] == "changed"} == by_plan
    assert {ident(r) for r in reverse if r["status"] == "added"} == created

    # The plan text names every record it would create, by name, as --json does.
    text = pfx(env, "import", bundle, "-p", "dst", "--dry-run")
    assert text.returncode == 3, text.stderr
    gone_kind, gone_key = edited["gone"]
    assert f"  + create     {gone_kind} {'/'.join(gone_key)}" in text.stdout.splitlines()
