"""Promotion commands without a server: diff of bundles, and bad selectors, maps and reports
refused in one line with exit 2."""

from __future__ import annotations

from pathlib import Path

import orjson
from click.testing import CliRunner

from pfx.cli import cli

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "fixtures" / "golden" / "v1.0" / "bundle.pfx"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_diff_of_a_bundle_with_itself_is_equal() -> None:
    """A bundle equals itself: exit 0, no records in the JSON."""
    code, out, _ = run("diff", str(GOLDEN), str(GOLDEN), "--json")
    assert code == 0
    assert orjson.loads(out)["records"] == []


def test_bad_promotion_input_is_one_line_exit_2(tmp_path: Path) -> None:
    """Bad selectors, maps, reports and diff arguments: one line, exit 2, no traceback."""
    bad_map = tmp_path / "bad.toml"
    bad_map.write_text('[rename.flow]\n"a" = "b"\n')
    report = tmp_path / "r.json"
    report.write_text('{"outcomes": []}')
    cases = [
        (("export", "-o", str(tmp_path / "x.pfx"), "--include", "nope:x"), "unknown kind"),
        (("import", str(GOLDEN), "--map", str(bad_map)), "cannot rename 'flow'"),
        (("import", str(GOLDEN), "--include", "deployment:none/*"), "matches no record"),
        (("import", str(GOLDEN), "--exclude", "deployment:none/*"), "matches no record"),
        (("render", str(GOLDEN), "-o", str(tmp_path / "r"), "--exclude", "tag:x"), "matches no"),
        (("diff", str(GOLDEN), str(GOLDEN), "--exclude", "flow:x*"), "matches no record on"),
        (("import", str(GOLDEN), "--standby"), "--standby needs --report"),
        (("diff", str(GOLDEN)), "a second bundle, or -p"),
        (("diff", str(GOLDEN), str(GOLDEN), "-p", "x"), "a bundle or -p PROFILE, not both"),
        (("diff", str(GOLDEN), str(GOLDEN), "--left-profile", "x"), "one bundle at most"),
        (("cutover", str(report)), "not the report of a `pfx import --standby`"),
    ]
    for args, message in cases:
        code, _, err = run(*args)
        assert code == 2, (args, err)
        assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
