"""A whole federation on one machine, as separate processes over localhost: a Flower SuperLink (the
coordinator's link), one SuperNode per site (each told only its own datalist and folders) and ``flwr run``
submitting theraflow's app with a plan. The tests, the benchmark and a dry run before a deployment use it;
in a deployment the same three commands run on different machines (README, "Federated training").

Flower's telemetry and update check are switched off in every process started here (nothing leaves the
machine); its state lives under ``<out>/flower`` (``FLWR_HOME``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from theraflow.io import write_json

log = logging.getLogger(__name__)

APP = Path(__file__).with_name("app")
QUIET_FLOWER = {"FLWR_TELEMETRY_ENABLED": "0", "FLWR_DISABLE_UPDATE_CHECK": "1"}


def flower_env(**extra: str) -> dict:
    """The environment of a Flower process theraflow starts: telemetry and update check off, and this
    interpreter's commands first on PATH (Flower starts flower-superexec, flwr-serverapp, flwr-clientapp by name)."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return {**os.environ, **QUIET_FLOWER, "PATH": path, **extra}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bin(name: str) -> str:
    """A Flower command beside this interpreter (a venv run without activating it), else on PATH."""
    here = Path(sys.executable).with_name(name)
    found = str(here) if here.exists() else shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found beside {sys.executable} or on PATH: is flwr installed?")
    return found


def plan(out: str | os.PathLike, model_config: dict, *, sites: int, heldout: str | None = None, **options) -> Path:
    """Write ``out/plan.json`` for :func:`theraflow.imaging.federated.server.run` and return its path."""
    from theraflow.imaging.federated.server import PLAN_DEFAULTS, PLAN_FORMAT

    out = Path(out).resolve()
    unknown = set(options) - set(PLAN_DEFAULTS) - {"name"}
    if unknown:
        raise ValueError(f"unknown plan options {sorted(unknown)}; expected {sorted(PLAN_DEFAULTS)}")
    body = {"format": PLAN_FORMAT, "model": model_config, "out": str(out / "server"), "sites": sites,
            "heldout": str(Path(heldout).resolve()) if heldout else None,
            "cache": str(out / "server" / "cache"), **options}
    body.setdefault("min_sites", sites)
    write_json(out / "plan.json", body)
    return out / "plan.json"


class Federation:
    """A SuperLink and SuperNodes on localhost (a context manager: everything is stopped on exit).

    ``sites``: one dict per site: ``datalist``, ``workdir`` and optionally ``cache``, ``threads``."""

    def __init__(self, out: str | os.PathLike, sites: list[dict], *, port: int | None = None,
                 site_port: int | None = None) -> None:
        """``site_port``: the port the SuperNodes connect to, when it is not the SuperLink's own (a relay
        between them, as the tests put one to read what crosses the wire)."""
        self.out = Path(out).resolve()
        self.logs = self.out / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.home = self.out / "flower"
        self.home.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.sites = sites
        self.site_port = site_port or self.port
        self.nodes: dict[int, subprocess.Popen] = {}
        self.link: subprocess.Popen | None = None
        self.env = flower_env(FLWR_HOME=str(self.home), PYTHONUNBUFFERED="1")
        (self.home / "config.toml").write_text(
            f'[superlink]\ndefault = "theraflow-local"\n\n[superlink.theraflow-local]\n'
            f'address = "127.0.0.1:{self.port}"\ninsecure = true\n')

    def _start(self, cmd: list[str], log_name: str) -> subprocess.Popen:
        fh = open(self.logs / log_name, "ab")  # noqa: SIM115 (the process writes it while it runs)
        return subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=self.env, cwd=self.out,
                                start_new_session=True)

    def __enter__(self) -> Federation:
        self.link = self._start([_bin("flower-superlink"), "--insecure", "--host", "127.0.0.1", "--port",
                                 str(self.port), "--database", ":flwr-in-memory:"], "superlink.log")
        deadline = time.time() + 60
        while time.time() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    break
            if self.link.poll() is not None:
                raise RuntimeError(f"the SuperLink stopped; see {self.logs / 'superlink.log'}")
            time.sleep(0.2)
        else:
            raise RuntimeError(f"the SuperLink did not open port {self.port} in 60 s; see {self.logs}")
        for k in range(len(self.sites)):
            self.start_site(k)
        return self

    def node_config(self, k: int) -> str:
        site = self.sites[k]
        parts = [f"site={k}", f'datalist="{Path(site["datalist"]).resolve()}"',
                 f'workdir="{Path(site["workdir"]).resolve()}"']
        if site.get("cache"):
            parts.append(f'cache="{Path(site["cache"]).resolve()}"')
        if site.get("threads"):
            parts.append(f"threads={int(site['threads'])}")
        return " ".join(parts)

    def start_site(self, k: int) -> subprocess.Popen:
        """Start (or restart) site ``k``'s SuperNode."""
        self.nodes[k] = self._start([_bin("flower-supernode"), "--insecure", "--superlink", f"127.0.0.1:{self.site_port}",
                                     "--port", str(free_port()), "--node-config", self.node_config(k)],
                                    f"site_{k}.log")
        log.info("site %d: SuperNode started (pid %d)", k, self.nodes[k].pid)
        return self.nodes[k]

    def signal_site(self, k: int, sig: int = signal.SIGTERM) -> None:
        """Send ``sig`` to site ``k``'s SuperNode and the ClientApp it runs (its process group)."""
        proc = self.nodes[k]
        os.killpg(proc.pid, sig)
        if sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def run(self, plan_path: str | os.PathLike, *, timeout: float = 3600) -> dict:
        """Submit the app with ``plan_path`` and wait for the coordinator's summary; return it."""
        plan_path = Path(plan_path).resolve()
        body = json.loads(plan_path.read_text())
        summary = Path(body["out"]) / "summary.json"
        summary.unlink(missing_ok=True)
        started = time.time()
        # --stream: the coordinator's log (the ServerApp's lines) comes back into logs/flwr_run.log, and the
        # command returns when the run has ended
        with open(self.logs / "flwr_run.log", "ab") as fh:
            sub = subprocess.Popen([_bin("flwr"), "run", str(APP), "theraflow-local", "--run-config",
                                    f'plan="{plan_path}"', "--stream"], env=self.env, cwd=self.out,
                                   stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                while sub.poll() is None and not summary.exists():
                    if time.time() - started > timeout:
                        raise TimeoutError(f"no {summary} after {timeout:.0f} s; see {self.logs}")
                    if self.link is not None and self.link.poll() is not None:
                        raise RuntimeError(f"the SuperLink stopped; see {self.logs / 'superlink.log'}")
                    time.sleep(0.5)
                sub.wait(timeout=60)
            finally:
                if sub.poll() is None:
                    os.killpg(sub.pid, signal.SIGTERM)
                    sub.wait()
        if not summary.exists():
            tail = (self.logs / "flwr_run.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the federated run ended without {summary}; the coordinator's log ends:\n{tail}")
        return json.loads(summary.read_text())

    def __exit__(self, *exc) -> None:
        for proc in [*self.nodes.values(), self.link]:
            if proc is not None and proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        for proc in [*self.nodes.values(), self.link]:
            if proc is not None:
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
