"""Hostile bundles (fixtures/hostile.py, issue 19): every attack is refused in one line, or
is inert. Bombs are read by each command in a subprocess under a 200 MB address-space limit
(refused, exit 2, never a MemoryError or an abort); forgeries are refused with the
passphrase; what verify lets through, commands name."""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures import hostile

MEMORY = 200 * 2**20


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def pfx_limited(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """`pfx ARGS` in a subprocess whose address space is limited to 200 MB (no server)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PFX_"))}
    return subprocess.run(
        [sys.executable, "-m", "pfx", *map(str, args)],
        preexec_fn=_limited,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,  # generous: refusals take about a second; no timing is asserted
        check=False,
    )


@pytest.fixture(scope="module")
def bombs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every bomb of fixtures/hostile.py, written once for the module."""
    where = tmp_path_factory.mktemp("bombs")
    return {name: make(where) for name, make in hostile.BOMBS.items()}


@pytest.mark.parametrize("name", list(hostile.BOMBS))
def test_bombs_are_refused_under_a_memory_limit(bombs: dict[str, Path], name: str) -> None:
    """A few kilobytes that decompress to gigabytes, a manifest of repeated hashes, a record
    of millions of `{}`: `verify` and `diff` refuse each in one line, exit 2, within 200 MB;
    `inspect` (which reads the manifest only) refuses it or shows it."""
    path = bombs[name]
    for args in (("verify", path), ("diff", path, path), ("inspect", path)):
        result = pfx_limited(*args)
        accepted = (0, 2) if args[0] == "inspect" else (2,)
        assert result.returncode in accepted, (args, result.returncode, result.stderr[-2000:])
        if result.returncode:
            assert result.stderr.startswith("pfx: error: "), result.stderr[-2000:]
            assert len(result.stderr.strip().splitlines()) == 1, result.stderr[-2000:]
            assert "MemoryError" not in result.stderr


@pytest.mark.parametrize("name", ["newlines-32k", "empty-objects"])
def test_every_reading_command_refuses_a_bomb(
    bombs: dict[str, Path], name: str, tmp_path: Path
) -> None:
    """`render`, `secrets template` and `import --dry-run` read a bomb as `verify` does:
    refused in one line within 200 MB, nothing written."""
    path = bombs[name]
    for args in (
        ("render", path, "-o", tmp_path / "out"),
        ("secrets", "template", path),
        ("import", path, "-p", "nowhere", "--dry-run"),
    ):
        result = pfx_limited(*args)
        assert result.returncode == 2, (args, result.stderr[-2000:])
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr[-2000:]
    assert not (tmp_path / "out").exists()


def test_refusals_name_the_limit(bombs: dict[str, Path]) -> None:
    """Each bomb is refused for what it is: a line too long, too much in total, more records
    than the file can hold, not a bundle."""
    words = {
        "newlines-3.5k": "first line is not JSON",
        "long-line": "line longer than",
        "repeated-hashes": "line longer than",
        "repeated-hashes-short": "more than a file of",
        "empty-objects": "line longer than",
        "large-total": "decompresses to more than",
    }
    for name, want in words.items():
        result = pfx_limited("verify", bombs[name])
        assert want in result.stderr, (name, result.stderr)


# --- forgeries: resealed as an attacker would --------------------------------------------------

SEALED = {"PFX_PASSPHRASE": hostile.PASSPHRASE}


def pfx_env(extra: dict[str, str], *args: str | Path) -> subprocess.CompletedProcess[str]:
    """`pfx ARGS` with `extra` in a Prefect-free environment (no server is ever reached)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PFX_"))}
    env |= {"PREFECT_HOME": str(Path(env.get("TMPDIR", "/tmp")) / "no-prefect-home")}
    return subprocess.run(
        [sys.executable, "-m", "pfx", *map(str, args)],
        capture_output=True,
        text=True,
        env=env | extra,
        timeout=300,
        check=False,
    )


def one_line(result: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if not line.startswith("pfx: warning")]
    assert len(lines) == 1 and lines[0].startswith("pfx: error: "), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def forged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every forgery of fixtures/hostile.py, and the honest bundles they were made from."""
    where = tmp_path_factory.mktemp("forged")
    encrypted, moved = hostile.moved_host(where)
    sealed, swapped = hostile.plaintext_for_encrypted(where)
    return {
        "encrypted": encrypted,
        "moved-host": moved,
        "sealed": sealed,
        "swapped": swapped,
        "stripped": hostile.stripped(where),
        "downgraded": hostile.stripped(where, downgrade=True),
        "plaintext-in-withheld": hostile.plaintext_in_withheld(where),
        "named": hostile.named(where),
    }


def test_a_resealed_encrypted_bundle_is_refused_with_the_passphrase(
    forged: dict[str, Path],
) -> None:
    """A sealed bundle whose block's host was changed and every checksum recomputed: with the
    passphrase, verify and import (a dry run, before any server) refuse it as tampered;
    without, verify says its authenticity was not checked. The original verifies."""
    moved = forged["moved-host"]
    assert "changed after it was sealed" in one_line(pfx_env(SEALED, "verify", moved))
    dry = pfx_env(SEALED, "import", moved, "-p", "nowhere", "--dry-run")
    assert "changed after it was sealed" in one_line(dry)
    real = pfx_env(SEALED, "import", moved, "-p", "nowhere")
    assert "changed after it was sealed" in one_line(real)
    unchecked = pfx_env({}, "verify", moved)
    assert unchecked.returncode == 0 and "not checked without it" in unchecked.stdout
    good = pfx_env(SEALED, "verify", forged["encrypted"])
    assert good.returncode == 0 and "authenticated: sealed with this passphrase" in good.stdout


def test_removing_the_authentication_is_refused(forged: dict[str, Path]) -> None:
    """A sealed bundle without its MAC is refused by verify without any passphrase; with its
    key derivation renamed to the one before sealing, the passphrase tells it was tampered."""
    assert "authentication or passphrase check is gone" in one_line(
        pfx_env({}, "verify", forged["stripped"])
    )
    assert "key derivation was renamed" in one_line(pfx_env(SEALED, "verify", forged["downgraded"]))


def test_a_ciphertext_does_not_open_beside_a_changed_record() -> None:
    """Even without the MAC, a secret's associated data binds its record: the password's
    ciphertext does not decrypt once the block's host or the slot's fields changed."""
    from pfx.errors import SecretsError
    from pfx.model import SecretSlot
    from pfx.secrets import Sealer, seal_record, unseal

    sealer = Sealer.create("encrypted", hostile.PASSPHRASE)
    block = hostile.honest_records()[1]
    sealed = seal_record(block, block.data, ["data.password"], sealer)
    assert sealer.keys is not None
    assert unseal(sealed, sealer.keys) == {"data.password": "hunter2"}
    inner = dict(sealed.data["data"])  # type: ignore[arg-type]
    moved = sealed.model_copy(update={"data": {**sealed.data, "data": inner | {"host": "x"}}})
    slot = sealed.secrets
    assert isinstance(slot, SecretSlot)
    fields = ["data.password", "data.host"]
    refielded = sealed.model_copy(update={"secrets": slot.model_copy(update={"fields": fields})})
    for changed in (moved, refielded):
        with pytest.raises(SecretsError, match="tampered"):
            unseal(changed, sealer.keys)


def test_a_secret_swapped_for_one_in_clear_is_a_difference(forged: dict[str, Path]) -> None:
    """An encrypted password replaced by one in clear: `diff` reports the changed mode, and
    with the passphrase the changed value (never shown); it warns that the bundle holds a
    value in clear and is not sealed."""
    without = pfx_env({}, "diff", forged["sealed"], forged["swapped"])
    assert without.returncode == 1 and 'secrets.mode: "encrypted" -> "plaintext"' in without.stdout
    assert "holds 1 secret value in clear" in without.stderr
    told = pfx_env(SEALED, "diff", forged["sealed"], forged["swapped"])
    assert told.returncode == 1
    assert "data.password: secret changed (value not shown)" in told.stdout
    assert "hunter2" not in told.stdout + told.stderr
    assert "not sealed: the passphrase authenticates nothing" in told.stderr
    same = pfx_env(SEALED, "diff", forged["sealed"], forged["sealed"])
    assert same.returncode == 0, same.stdout


def test_a_value_in_clear_under_a_withheld_manifest_is_refused(forged: dict[str, Path]) -> None:
    """A manifest that says "withheld" over a password in clear is refused by name."""
    message = one_line(pfx_env({}, "verify", forged["plaintext-in-withheld"]))
    assert "says secrets are withheld, but records hold 1 plaintext" in message
    assert "hunter2" not in message


def test_every_reading_command_says_a_bundle_holds_secrets_in_clear(
    forged: dict[str, Path], tmp_path: Path
) -> None:
    """inspect, verify, diff, secrets template, render and import each warn on stderr that
    the bundle holds secret values in clear."""
    plain = forged["swapped"]
    for args in (
        ("inspect", plain),
        ("verify", plain),
        ("diff", plain, plain),
        ("secrets", "template", plain),
        ("render", plain, "-o", tmp_path / "out"),
        ("import", plain, "-p", "nowhere", "--dry-run"),
    ):
        result = pfx_env({}, *args)
        assert "holds 1 secret value in clear" in result.stderr, (args, result.stderr)


# --- data that must stay data -----------------------------------------------------------------


def test_names_from_a_bundle_never_run(forged: dict[str, Path], tmp_path: Path) -> None:
    """`pfx render` of a bundle whose names hold newlines, line separators and escapes (which
    verify accepts: Prefect does): the script, run section by section with stub `prefect` and
    `python3` that record their calls, runs nothing but them."""
    from tests.test_render_hostile import run_script

    out = tmp_path / "out"
    result = pfx_env({}, "render", forged["named"], "-o", out)
    assert result.returncode == 0, result.stderr
    for sections in ((), ("deployments",), ("pwned",)):
        calls = run_script(out, *sections)
        assert calls and all(c.startswith(("prefect ", "python3 ")) for c in calls), calls
    assert "\x1b" not in result.stdout and "\x1b" not in (out / "prefect-setup.sh").read_text()


def test_prefect_finds_no_step_and_no_template_pfx_did_not_write(
    forged: dict[str, Path], tmp_path: Path
) -> None:
    """Prefect's own prefect.yaml loader finds no build, push or pull step in the render of
    hostile names; and applying Prefect's deploy-time templating (the environment, as
    `prefect deploy` does) changes nothing: the templates wait for the setup script."""
    import io

    from prefect.cli.deploy._config import _load_deploy_configs_and_actions
    from prefect.utilities.templating import apply_values
    from rich.console import Console

    out = tmp_path / "out"
    assert pfx_env({}, "render", forged["named"], "-o", out).returncode == 0
    console = Console(file=io.StringIO())
    configs, actions = _load_deploy_configs_and_actions(out / "prefect.yaml", console=console)
    assert actions == {"build": [], "push": [], "pull": None}
    assert [c["name"] for c in configs] == [hostile.SHELL]
    environ = {"AWS_SECRET_ACCESS_KEY": "leaked", "HOME": "/leaked"}
    for config in configs:
        deployable = {k: v for k, v in config.items() if k != "pull"}
        assert apply_values(deployable, environ, remove_notset=False) == deployable
        assert "leaked" not in repr(apply_values(deployable, environ, remove_notset=False))
    import json

    late = json.loads((out / "prefect-setup.json").read_text())["sections"]["deployments"]
    (request,) = late
    assert request["body"]["description"] == "{{ $AWS_SECRET_ACCESS_KEY }}"
    assert request["body"]["tags"] == ["ok", "{{ $HOME }}"]


def test_secret_markers_in_data_stay_data(forged: dict[str, Path], tmp_path: Path) -> None:
    """A `{"$secret": NAME}` object in a block's data or a pool's base job template is sent
    as it is: the setup client fills in PFX_SECRET__ values only at paths pfx listed, so the
    environment's AWS or Prefect keys never reach a request."""
    import json

    from pfx.render.setup_api import prepared

    out = tmp_path / "out"
    assert pfx_env({}, "render", forged["named"], "-o", out).returncode == 0
    sections = json.loads((out / "prefect-setup.json").read_text())["sections"]
    environ = {"AWS_SECRET_ACCESS_KEY": "aws-leaked", "PREFECT_API_KEY": "pnu_leaked"}
    bodies = []
    for request in [*sections["blocks"], *sections["pools"]]:
        assert all(s["env"].startswith("PFX_SECRET__") for s in request.get("secrets", []))
        _, body = prepared(
            request, lambda kind, key: "00000000-0000-0000-0000-000000000000", environ
        )
        bodies.append(json.dumps(body))
    assert bodies and not [b for b in bodies if "leaked" in b]
    assert any('{"$secret": "AWS_SECRET_ACCESS_KEY"}' in b for b in bodies)
    assert any('{"$secret": "PREFECT_API_KEY"}' in b for b in bodies)


def test_names_reach_a_terminal_escaped(forged: dict[str, Path]) -> None:
    """A name holding a terminal escape and a carriage return (painting a reassuring
    `secrets:` line) is shown escaped by diff, inspect and error messages."""
    diff = pfx_env({}, "diff", forged["named"], forged["encrypted"])
    assert diff.returncode == 1
    assert "\x1b" not in diff.stdout and "\r" not in diff.stdout
    assert "etl\\x1b[2K\\rsecrets:" in diff.stdout


BAD_FILES = {
    "binary": bytes(range(256)),
    "not-utf8": b"\xff\xfe correct horse \xc3",
    "nul": b"\x00" * 64,
    "huge": b"a" * (70 * 1024),
    "deep-toml": b"a = " + b"[" * 100_000 + b"]" * 100_000,
    "deep-tables": b"x = " + b"{y = " * 2000 + b"1" + b"}" * 2000,
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_map_and_passphrase_files_of_any_content_are_one_line(
    forged: dict[str, Path], tmp_path: Path, name: str
) -> None:
    """A passphrase file or a --map file holding anything at all ends in one line, exit 2,
    never an internal error, and no byte of a passphrase file is shown."""
    path = tmp_path / name
    path.write_bytes(BAD_FILES[name])
    verify = pfx_env({}, "verify", forged["encrypted"], "--passphrase-file", path)
    assert verify.returncode == 2, verify.stderr
    message = one_line(verify)
    # No piece of the file shows: no run of its printable bytes, no byte named in hex.
    pieces = re.findall(rb"[ -~]{4,}", BAD_FILES[name])
    assert not [p for p in pieces if p.decode() in message]
    assert "\\x" not in message and "0x" not in message
    mapped = pfx_env({}, "import", forged["named"], "-p", "nowhere", "--map", path)
    one_line(mapped)


def test_a_secret_is_not_shown_when_its_parent_changes_type() -> None:
    """`diff` and the plan's field lines name a secret's parent that changed type (an object
    holding the secret became a string) as changed, without showing either value."""
    from pfx.sameness import leaf_changes

    secret = {"data.credentials.password"}
    old = {"credentials": {"password": "hunter2", "user": "u"}}
    for new in ("replaced", None, ["hunter2"]):
        (change,) = leaf_changes(old, {"credentials": new}, "data", secret)
        assert change.secret and change.path == "data.credentials"
        assert "hunter2" not in repr(change.as_json())
