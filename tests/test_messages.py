"""Messages say what the code does: reasons in words (no Python reprs), the profile `prefect`
itself would use, the cutover of a bundle named as such, and library signatures as
documented in pfx/__init__.py."""

from __future__ import annotations

import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pfx
from pfx.ids import Index
from pfx.jsontypes import JSONObject
from pfx.keying import key_items
from pfx.model import Skipped
from tests.conftest import prefect_free_environ
from tests.running import pfx as run_pfx

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "fixtures" / "golden" / "v1.0" / "bundle.pfx"


def test_skipped_reasons_are_words_not_python_reprs() -> None:
    """An item a server answers without its name, or naming a flow it does not list, is
    skipped with a reason in words ('missing name'), never `KeyError('name')`."""
    skipped: list[Skipped] = []
    raw: dict[str, list[JSONObject]] = {
        "flow": [{"id": "0b0c5e2a-6f4e-4b8e-9d7a-3c1f2e4d5a6b"}],
        "deployment": [{"id": "d", "name": "prod", "flow_id": "f"}],
    }
    assert key_items(raw, Index(), skipped) == []
    reasons = [s.reason for s in skipped]
    assert reasons == [
        "unreadable: missing name",
        "unreadable: missing flow f of deployment 'prod'",
    ]
    assert not any("Error(" in r for r in reasons)


def test_cutover_of_a_bundle_says_to_pass_the_report(tmp_path: Path) -> None:
    """`pfx cutover BUNDLE` says it is a bundle and that cutover takes the import report,
    in one line, exit 2 (it said 'not valid UTF-8')."""
    env = prefect_free_environ() | {"PREFECT_API_URL": "http://127.0.0.1:9/api"}
    done = run_pfx(env, "cutover", GOLDEN, timeout=120)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("pfx: error: ") and "is a bundle" in line and "--report" in line
    assert "UTF-8" not in line


def resolved(env: dict[str, str]) -> str:
    """The URL and profile name pfx resolves without -p, in a process of its own (prefect
    picks its active profile once per process)."""
    code = "from pfx.profiles import resolve; t = resolve(None); print(t.url, t.profile)"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_prefect_profile_picks_the_profile_prefect_would(tmp_path: Path) -> None:
    """PREFECT_PROFILE=local uses Prefect's shipped `local` profile when the user has no
    profiles file (as `prefect` does), and a user's profile over the file's `active` one;
    PREFECT_API_URL in the environment still wins over the profile's."""
    bare = prefect_free_environ() | {"PREFECT_HOME": str(tmp_path / "home")}
    assert resolved(bare | {"PREFECT_PROFILE": "local"}) == "http://127.0.0.1:4200/api local"
    profiles = tmp_path / "profiles.toml"
    profiles.write_text(
        'active = "a"\n'
        '[profiles.a]\nPREFECT_API_URL = "http://127.0.0.1:1111/api"\n'
        '[profiles.b]\nPREFECT_API_URL = "http://127.0.0.1:2222/api"\n'
    )
    user = bare | {"PREFECT_PROFILES_PATH": str(profiles)}
    assert resolved(user) == "http://127.0.0.1:1111/api a"
    assert resolved(user | {"PREFECT_PROFILE": "b"}) == "http://127.0.0.1:2222/api b"
    env_url = user | {"PREFECT_PROFILE": "b", "PREFECT_API_URL": "http://127.0.0.1:3333/api"}
    assert resolved(env_url) == "http://127.0.0.1:3333/api b"


def test_pfx_init_documents_the_library_signatures_as_they_are() -> None:
    """Each `pfx.module.function(a, b=None, ...)` line of pfx/__init__.py names the
    function's parameters in order, with their defaults, and the function is in its
    module's __all__."""
    doc = pfx.__doc__ or ""
    documented = re.findall(r"^\s+pfx\.([\w.]+)\.(\w+)\((.*)\) -> (\w+)$", doc, re.MULTILINE)
    assert len(documented) >= 5, doc
    for module_name, name, params, returns in documented:
        module = importlib.import_module(f"pfx.{module_name}")
        assert name in module.__all__, (module_name, name)
        signature = inspect.signature(getattr(module, name))
        actual = list(signature.parameters.values())
        said = [p.strip() for p in params.split(",") if p.strip() and p.strip() != "..."]
        wanted = [
            p.name if p.default is inspect.Parameter.empty else f"{p.name}={p.default!r}"
            for p in actual[: len(said)]
        ]
        assert said == wanted, (
            f"pfx/__init__.py documents {module_name}.{name}({params}); the code has {signature}"
        )
        assert returns in str(signature.return_annotation), (name, signature)
