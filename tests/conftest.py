"""Pytest fixtures: real local Prefect servers (empty or seeded as a user's environment) and
the profiles.toml/env a user's `pfx` would run with."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import itertools
import os
import pickle
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

# `fixtures` is a top-level package of the repo, not installed: make it importable however
# pytest is started (plain `pytest`, `python -m pytest`, xdist workers).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fixtures.seed import SeedInfo, seed
from fixtures.servers import (
    NO_SERVERS_ENV,
    TEMPLATE_DIR_ENV,
    Server,
    start_server,
    start_servers,
    write_profiles,
)
from pfx.openapi import Accepts, read_accepts

SERVER_FIXTURES = {"seeded_source", "new_server", "new_servers", "servers_workdir"}
# Captured `/api/openapi.json` answers of real servers, by release.
OPENAPI = Path(__file__).resolve().parents[1] / "fixtures" / "api" / "openapi"
# Deployments in the shared seeded source: enough for every kind and reference, small enough
# to seed in ~10 s. Variables (210) already give the ">200 of one kind" case.
SEEDED_DEPLOYMENTS = 30

_names = itertools.count()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark server tests `server` (those that start servers through the fixtures; a test that
    starts one otherwise is refused, see `servers_only_when_marked`), and put every test of
    the seeded source in one xdist group
    so that `-n 2 --dist loadgroup` seeds it once, not once per worker. (First, so xdist's
    own hook sees the group.)"""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & SERVER_FIXTURES:
            item.add_marker(pytest.mark.server)
        if "seeded_source" in used:
            item.add_marker(pytest.mark.xdist_group("seeded_source"))


@pytest.fixture(autouse=True)
def servers_only_when_marked(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test not marked `server` cannot start one (fixtures.servers refuses): the offline
    subset (`-m "not server"`) never waits for a server."""
    if request.node.get_closest_marker("server") is not None:
        yield
        return
    old = os.environ.get(NO_SERVERS_ENV)
    os.environ[NO_SERVERS_ENV] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(NO_SERVERS_ENV, None)
        else:
            os.environ[NO_SERVERS_ENV] = old


@pytest.fixture(scope="session")
def servers_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One directory per test session (per xdist worker) for all servers and their shared
    migrated template database."""
    return tmp_path_factory.mktemp("servers")


@pytest.fixture(scope="session", autouse=True)
def server_template_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where the migrated template database lives: shared by all xdist workers of a run (the
    parent of their base temps), so the ~10 s migration happens once per run. Also exported
    as $PFX_SERVER_TEMPLATE_DIR for tests that call `start_server` directly."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        path = base.parent / "prefect-template"
    else:
        path = base / "prefect-template"
    old = os.environ.get(TEMPLATE_DIR_ENV)
    os.environ[TEMPLATE_DIR_ENV] = str(path)
    yield path
    if old is None:
        os.environ.pop(TEMPLATE_DIR_ENV, None)
    else:
        os.environ[TEMPLATE_DIR_ENV] = old


@pytest.fixture(scope="session")
def seeded_source(
    tmp_path_factory: pytest.TempPathFactory, server_template_dir: Path
) -> Iterator[tuple[Server, SeedInfo]]:
    """A server seeded as a user's environment, shared by the whole run: treat it read-only.

    xdist workers share one (seeding costs ~10 s of a 2-core machine): the first to need it
    starts and seeds it, the others attach, the last to finish stops it. A file lock and a
    state file in the run's shared temp dir coordinate them. (`xdist_group` cannot do this
    here: with pytest 9.2 and xdist 3.8 `--dist loadgroup` ignores the groups.)"""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    root = shared / "seeded-source"
    root.mkdir(exist_ok=True)
    state_file = root / "state.pickle"
    with _locked(root / "lock"):
        state: dict[str, Any] | None = None
        if state_file.exists():
            state = pickle.loads(state_file.read_bytes())
            if not state["server"].alive():
                state = None
        if state is None:
            server = start_server(
                root, f"seeded-src-{os.getpid()}", template_dir=server_template_dir
            )
            try:
                info = seed(server.url, deployments=SEEDED_DEPLOYMENTS)
            except BaseException:
                server.stop()
                raise
            # A Popen does not cross processes: others attach by pid and port.
            attached = dataclasses.replace(server, _proc=None)
            state = {"server": attached, "info": info, "users": 0}
        else:
            server = state["server"]
        state["users"] += 1
        state_file.write_bytes(pickle.dumps(state))
        info = state["info"]
    try:
        yield server, info
    finally:
        with _locked(root / "lock"):
            state = pickle.loads(state_file.read_bytes())
            state["users"] -= 1
            if state["users"] <= 0:
                server.stop()
                state_file.unlink()
            else:
                state_file.write_bytes(pickle.dumps(state))


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock across the processes of this test run."""
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


@pytest.fixture
def new_server(
    servers_workdir: Path, server_template_dir: Path
) -> Iterator[Callable[[str], Server]]:
    """A factory of empty servers, `new_server("dst")`, each stopped when the test ends."""
    started: list[Server] = []

    def make(name: str = "server") -> Server:
        server = start_server(
            servers_workdir, f"{name}-{next(_names)}", template_dir=server_template_dir
        )
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def new_servers(
    servers_workdir: Path, server_template_dir: Path
) -> Iterator[Callable[..., list[Server]]]:
    """Like `new_server`, but starts several at once: `a, b = new_servers("a", "b")`."""
    started: list[Server] = []

    def make(*names: str) -> list[Server]:
        servers = start_servers(
            servers_workdir,
            [f"{n}-{next(_names)}" for n in names],
            template_dir=server_template_dir,
        )
        started.extend(servers)
        return servers

    yield make
    for server in started:
        server.stop()


def prefect_free_environ() -> dict[str, str]:
    """This process's environment without any PREFECT_* setting, which would override the
    profiles under test."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}


def user_env(
    home: Path, active: str | None = None, passphrase: str | None = None, **servers: Server | str
) -> dict[str, str]:
    """The environment of a user whose profiles.toml (in `home`) has one profile per server
    (PREFECT_API_URL), to run `pfx` with as a user would (subprocess `env=` or CliRunner)."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / "profiles.toml"
    profiles = {
        name: {"PREFECT_API_URL": s.url if isinstance(s, Server) else s}
        for name, s in servers.items()
    }
    write_profiles(path, profiles, active=active)
    env = prefect_free_environ() | {
        "PREFECT_PROFILES_PATH": str(path),
        "PREFECT_HOME": str(home),
        # Without a profile's API URL Prefect would start a temporary server (which also
        # tries to send telemetry): fail instead, and say so.
        "PREFECT_SERVER_EPHEMERAL_ENABLED": "false",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    if passphrase is not None:
        env["PFX_PASSPHRASE"] = passphrase
    return env


@pytest.fixture
def profiles_env(tmp_path: Path) -> Callable[..., dict[str, str]]:
    """A factory: `env = profiles_env(src=server, dst=other, active="src")`: `user_env` in
    this test's own directory."""

    def make(active: str | None = None, **servers: Server | str) -> dict[str, str]:
        return user_env(tmp_path / "prefect-home", active, **servers)

    return make


def accepts(release: str) -> Accepts:
    """What a server of `release` accepts, from its captured OpenAPI document."""
    document = orjson.loads((OPENAPI / f"{release}.json").read_bytes())
    return read_accepts(document, f"Prefect {release}")
