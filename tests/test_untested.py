"""A server of a Prefect release newer than the newest pfx is tested with: export, the import
plan and inspect say so in one line (release, newest tested) and go on; the report and
`--json` carry it. The newer release is a real server whose `/admin/version` a loopback
proxy answers for it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.proxy import Fault, Proxy
from fixtures.releases import RELEASES
from fixtures.seed import SeedInfo
from fixtures.servers import Server
from pfx.tested import NEWEST_TESTED, minor_release, untested
from tests.running import json_out, ok, pfx

LINE = "Prefect 3.10.0 is newer than the newest release pfx is tested with"


def test_a_newer_minor_or_major_release_is_untested_and_a_newer_patch_is_not() -> None:
    """3.10.0 and 4.0.0 are newer than 3.9.x; 3.9.7 (a patch), 3.8.8, garbage and no version
    (Prefect Cloud) are not named."""
    found = untested("3.10.0")
    assert found is not None and found.release == "3.10.0"
    assert found.newest_tested == NEWEST_TESTED
    assert found.line.startswith(LINE)
    assert untested("4.0.0rc1") is not None
    assert [untested(v) for v in ("3.9.7", "3.8.8", "2.20.27", "nightly", "", None)] == [None] * 6
    assert minor_release("3.10.0rc1") == (3, 10)


def test_the_newest_tested_is_the_newest_release_of_the_matrix() -> None:
    """The one constant is the newest release `make compat` runs servers of."""
    newest = max(RELEASES.values(), key=lambda r: tuple(int(p) for p in r.version.split(".")))
    assert newest.version == NEWEST_TESTED


@pytest.mark.server
def test_export_plan_and_inspect_name_a_newer_server_and_go_on(
    seeded_source: tuple[Server, SeedInfo],
    profiles_env: Callable[..., dict[str, str]],
    tmp_path: Path,
) -> None:
    """Export from a "3.10.0" server, inspect its bundle and plan it into that server: each
    prints the one line, the JSON summaries and the report carry release and newest tested,
    and nothing else changes (the plan finds every record unchanged: exit 0)."""
    server, _ = seeded_source
    newer = Fault("answer", "GET", r"/admin/version$", body=b'"3.10.0"')
    with Proxy(server.url, faults=[newer]) as proxy:
        env = profiles_env(newer=proxy.url)
        bundle, report = tmp_path / "snap.pfx", tmp_path / "report.json"
        exported = ok(env, "export", "-p", "newer", "-o", bundle)
        assert f"note: {LINE} ({NEWEST_TESTED})" in exported.stdout
        summary = json_out(ok(env, "export", "-p", "newer", "-o", bundle, "--json", "--force"))
        assert summary["untested"] == {"release": "3.10.0", "newest_tested": NEWEST_TESTED}
        assert LINE in ok(env, "inspect", bundle).stdout
        assert json_out(ok(env, "inspect", bundle, "--json"))["untested"] == {
            "release": "3.10.0",
            "newest_tested": NEWEST_TESTED,
        }
        planned = pfx(env, "import", bundle, "-p", "newer", "--dry-run", "--report", report)
        assert planned.returncode == 0, planned.stdout + planned.stderr
        assert f"{LINE} ({NEWEST_TESTED}); payloads follow its OpenAPI document" in planned.stdout
        written = json.loads(report.read_text())
        assert written["untested"] == {"release": "3.10.0", "newest_tested": NEWEST_TESTED}
        assert {o["status"] for o in written["outcomes"]} == {"unchanged"}
    # The same server saying its own release (3.8.8): no line, null in the JSON.
    env = profiles_env(src=server)
    plain = json_out(ok(env, "export", "-p", "src", "-o", tmp_path / "own.pfx", "--json"))
    assert plain["untested"] is None
    assert "newer than" not in ok(env, "inspect", tmp_path / "own.pfx").stdout
