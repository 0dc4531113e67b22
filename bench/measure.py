"""Run one tool as a user would, as a child process, and measure it: wall time and peak RSS.

Peak RSS comes from `os.wait4` on that one child (its own `ru_maxrss`), not from
RUSAGE_CHILDREN, which is the maximum over every child this process ever waited for.
Also: the environment a user's Prefect would run with (a profiles file, a private
PREFECT_HOME), startup medians, and the machine and versions a result was measured on.
"""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import statistics
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from fixtures.servers import write_profiles


@dataclass
class Proc:
    """One finished child process and what it cost."""

    argv: list[str]
    returncode: int
    seconds: float
    rss_mb: float
    stdout: str
    stderr: str
    timed_out: bool = False
    # The 1-minute load average when the run ended: other processes share these cores.
    load: float = 0.0
    # CPU seconds (user + system) of the tool's process: unlike wall time, not inflated by
    # other processes competing for the cores.
    cpu: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "argv": self.argv,
            "returncode": self.returncode,
            "seconds": round(self.seconds, 3),
            "peak_rss_mb": round(self.rss_mb, 1),
            "timed_out": self.timed_out,
            "load_1m": round(self.load, 2),
            "cpu_s": round(self.cpu, 3),
        }


# The child is forked by this small launcher, not by the benchmark: on Linux a process's
# peak RSS (ru_maxrss) starts from the RSS of the process it was forked from (exec keeps the
# pre-exec high-water mark), so forking from a benchmark that imported Prefect would report
# ~160 MB for every tool. `python -S` forks from ~8 MB, which is then the floor of a reading.
_LAUNCHER = """
import os, sys, time
out, argv = sys.argv[1], sys.argv[2:]
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execv(argv[0], argv)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - started
with open(out, "w") as f:
    cpu = usage.ru_utime + usage.ru_stime
    f.write("%d %r %d %r" % (os.waitstatus_to_exitcode(status), seconds, usage.ru_maxrss, cpu))
"""


def run(
    argv: list[str], env: dict[str, str], cwd: Path, *, timeout: float = 3600.0, tag: str = "run"
) -> Proc:
    """Run `argv` to completion (stdin closed, output to files under `cwd`) and measure it."""
    cwd = cwd.resolve()
    out_path, err_path = cwd / f"{tag}.stdout", cwd / f"{tag}.stderr"
    measured = cwd / f"{tag}.measured"
    measured.unlink(missing_ok=True)
    launcher = [sys.executable, "-S", "-c", _LAUNCHER, str(measured), *argv]
    timed_out = False
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(
            launcher,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            # The launcher leads its own process group: end it and the tool, nothing else.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    stdout, stderr = out_path.read_text(errors="replace"), err_path.read_text(errors="replace")
    if timed_out or not measured.exists():
        code = -9 if timed_out else proc.returncode
        return Proc(argv, code, timeout, 0.0, stdout, stderr, timed_out=timed_out)
    code, seconds, maxrss, cpu = measured.read_text().split()
    return Proc(
        argv=argv,
        returncode=int(code),
        seconds=float(seconds),
        rss_mb=int(maxrss) / 1024.0,  # KiB on Linux
        cpu=float(cpu),
        stdout=stdout,
        stderr=stderr,
        load=os.getloadavg()[0],
    )


def median_seconds(
    argv: list[str], env: dict[str, str], cwd: Path, repeat: int = 5
) -> tuple[float, float]:
    """Median wall time and median CPU time of `repeat` runs (after one warm-up run)."""
    run(argv, env, cwd, tag="startup")
    runs = [run(argv, env, cwd, tag="startup") for _ in range(repeat)]
    return statistics.median(p.seconds for p in runs), statistics.median(p.cpu for p in runs)


def user_env(
    home: Path, profiles: dict[str, str], *, passphrase: str | None = None
) -> dict[str, str]:
    """The environment of a user whose profiles (name -> API URL) live in `home`."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / "profiles.toml"
    write_profiles(path, {name: {"PREFECT_API_URL": url} for name, url in profiles.items()})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PFX_"))}
    env |= {
        "PREFECT_PROFILES_PATH": str(path),
        "PREFECT_HOME": str(home),
        # Without a profile's URL Prefect would start a temporary server: fail instead.
        "PREFECT_SERVER_EPHEMERAL_ENABLED": "false",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # Rich would draw progress for a terminal that is not there.
        "PREFECT_CLI_PROMPT": "false",
        "TERM": "dumb",
        "COLUMNS": "200",
    }
    if passphrase is not None:
        env["PFX_PASSPHRASE"] = passphrase
    return env


def tool(name: str) -> str:
    """The console script `name` of this venv."""
    return str(Path(sys.executable).with_name(name))


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram_gb = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    return {
        # Other processes compete for the same cores: the 1/5/15-minute load when measured.
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": ram_gb,
        "os": f"{platform.system()} {platform.release()}",
    }


def versions(postgres: str | None = None) -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    for package in ("pfx", "prefect", "fastapi", "httpx", "uvicorn", "sqlalchemy", "asyncpg"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    found["sqlite"] = _sqlite_version()
    found["postgresql"] = postgres
    return found


def _sqlite_version() -> str:
    import sqlite3

    return sqlite3.sqlite_version
