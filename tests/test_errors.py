"""Bad input against real servers: one clear line, a non-zero exit, no traceback, no file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fixtures.servers import free_port, start_server
from pfx.profiles import UNREACHABLE_ENV
from tests.running import ok, one_line, pfx

# A closed port is refused at once; a second of refusals says as much as the default ten.
QUICKLY = {UNREACHABLE_ENV: "1"}


def test_unreachable_server(profiles_env: Callable[..., dict[str, str]], tmp_path: Path) -> None:
    """A profile naming a closed port fails in one error line naming the URL, after saying
    where it connects and each retry as it happens (-q: the error line alone); no file
    appears."""
    url = f"http://127.0.0.1:{free_port()}/api"
    env = profiles_env(src=url) | QUICKLY
    result = pfx(env, "export", "-p", "src", "-o", tmp_path / "x.pfx")
    assert result.returncode == 69
    *notices, line = result.stderr.strip().splitlines()
    assert line.startswith("pfx: error: cannot reach") and "127.0.0.1" in line
    assert notices[0].endswith(f"pfx: connecting to {url} (profile src)")
    assert any("no connection" in n and "trying again in" in n for n in notices[1:])
    quiet = pfx(env, "export", "-p", "src", "-o", tmp_path / "x.pfx", "-q")
    assert quiet.returncode == 69
    assert one_line(quiet.stderr) == line
    assert [p.name for p in tmp_path.iterdir()] == ["prefect-home"]


def test_debug_shows_the_traceback(
    profiles_env: Callable[..., dict[str, str]], tmp_path: Path
) -> None:
    """--debug trades the one-line error for the full traceback."""
    env = profiles_env(src=f"http://127.0.0.1:{free_port()}/api") | QUICKLY
    result = pfx(env, "--debug", "export", "-p", "src", "-o", tmp_path / "x.pfx")
    assert result.returncode != 0
    assert "Traceback" in result.stderr


def test_wrong_password(
    servers_workdir: Path, profiles_env: Callable[..., dict[str, str]], tmp_path: Path
) -> None:
    """A server with basic auth refuses a wrong auth string: one line, exit 69, password unshown;
    the right one exports."""
    with start_server(
        servers_workdir, "auth", extra_env={"PREFECT_SERVER_API_AUTH_STRING": "admin:s3cret-pw"}
    ) as server:
        env = profiles_env(src=server)
        wrong = env | {"PREFECT_API_AUTH_STRING": "admin:wrong-pw-123"}
        # A profile setting wins over the environment with -p, so write it into the profile.
        profiles = Path(env["PREFECT_PROFILES_PATH"])
        text = profiles.read_text()
        profiles.write_text(text + 'PREFECT_API_AUTH_STRING = "admin:wrong-pw-123"\n')
        result = pfx(wrong, "export", "-p", "src", "-o", tmp_path / "x.pfx")
        assert result.returncode == 69
        # The notice of where it connects, then the error line (-q: that line alone).
        *_, line = result.stderr.strip().splitlines()
        assert line.startswith("pfx: error: ") and "Traceback" not in result.stderr
        quiet = pfx(wrong, "export", "-p", "src", "-o", tmp_path / "x.pfx", "-q")
        assert one_line(quiet.stderr) == line
        assert "credentials" in line and "wrong-pw-123" not in line
        profiles.write_text(text + 'PREFECT_API_AUTH_STRING = "admin:s3cret-pw"\n')
        ok(env, "export", "-p", "src", "-o", tmp_path / "y.pfx", "-q")
        assert not (tmp_path / "x.pfx").exists()
        assert b"s3cret-pw" not in (tmp_path / "y.pfx").read_bytes()


def test_import_into_unreachable_server_writes_nothing(
    profiles_env: Callable[..., dict[str, str]], tmp_path: Path
) -> None:
    """A bundle cannot be imported into a server that is not there: one line, exit 69 (or 2)."""
    golden = Path(__file__).parents[1] / "fixtures" / "golden" / "v1.0" / "bundle.pfx"
    env = profiles_env(dst=f"http://127.0.0.1:{free_port()}/api") | QUICKLY
    result = pfx(env, "import", golden, "-p", "dst", "--passphrase-file", "/dev/null")
    assert result.returncode in (69, 2)
    one_line(result.stderr)
