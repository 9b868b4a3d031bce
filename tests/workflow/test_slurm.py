"""The demo workflow (one DTI seed, 2 NCI shards) on a real single-node SLURM cluster, through profiles/slurm.

The fixture starts munged, slurmctld and slurmd by hand (no systemd) with a private key, socket,
ports and state directory, so nothing on the machine is touched, and stops exactly the processes it
started. The test runs the demo through the SLURM executor plugin and checks, from Snakemake's log,
from squeue and from slurmctld's job-completion file, that every job went through sbatch and
completed with the resources the profile asked for.

Needs the Debian packages slurmctld, slurmd, slurm-client and munge and root (slurmd launches jobs);
.ci/run installs them and sets THERAFLOW_REQUIRE_SLURM=1, which turns a skip into a failure.
Skipped elsewhere.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PROFILE = REPO / "profiles" / "slurm" / "config.yaml"
PARTITION = "debug"
# The plugin can wait forever on a misconfigured cluster: never let it. About 460 s alone on 2 cores; `make test`
# runs it beside the other worker's tests.
WORKFLOW_TIMEOUT_S = 1500
SLURM_TOOLS = ("munged", "slurmctld", "slurmd", "sbatch", "srun", "squeue", "sinfo", "scontrol", "scancel")
# The daemons live in /usr/sbin, which not every PATH has.
_SEARCH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
TOOLS = {tool: shutil.which(tool, path=_SEARCH) for tool in SLURM_TOOLS}


def _why_not_runnable() -> str | None:
    missing = [tool for tool, path in TOOLS.items() if path is None]
    if missing:
        return f"SLURM/munge not installed (missing {', '.join(missing)}; .ci/run installs them)"
    if os.geteuid() != 0:
        return "starting slurmd needs root"
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        return "snakemake-executor-plugin-slurm is not installed"
    return None


pytestmark = pytest.mark.slurm


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node_hardware() -> dict[str, int]:
    """What slurmd detects on this machine (`slurmd -C`): CPUs, sockets, cores, threads, memory."""
    out = subprocess.run([TOOLS["slurmd"], "-C"], capture_output=True, text=True, check=True).stdout
    fields = dict(item.split("=", 1) for item in out.split() if "=" in item)
    keys = ("CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket", "ThreadsPerCore", "RealMemory")
    return {key: int(fields[key]) for key in keys}


class SlurmCluster:
    """munged + slurmctld + slurmd for one node named localhost, all state in `root`."""

    def __init__(self, root: Path):
        self.root = root
        self.conf = root / "slurm.conf"
        self.jobcomp = root / "jobcomp.txt"
        self.bin = root / "bin"
        self.procs: list[tuple[str, subprocess.Popen]] = []
        hw = _node_hardware()
        self.cpus = hw["CPUs"]
        # Below the detected memory: a node whose RealMemory exceeds what slurmd finds is drained.
        self.mem_mb = int(hw["RealMemory"] * 0.9)
        self.hw = hw

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_", "SRUN_"))}
        env.pop("SNAKEMAKE_PROFILE", None)
        env["SLURM_CONF"] = str(self.conf)
        # self.bin: the srun wrapper (see _write_srun_wrapper); the venv: python, snakemake, theraflow.
        env["PATH"] = os.pathsep.join([str(self.bin), str(Path(sys.executable).parent), env.get("PATH", "")])
        return env

    def run(self, *args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run(
            args, env=self.env, capture_output=True, text=True, check=check, timeout=timeout
        )

    def _write_config(self) -> None:
        hw = self.hw
        state, spool, sock = self.root / "state", self.root / "spool", self.root / "munge-socket"
        for d in (state, spool):
            d.mkdir()
        ctld_port = slurmd_port = _free_port()
        while slurmd_port == ctld_port:
            slurmd_port = _free_port()
        self.conf.write_text(
            "\n".join(
                [
                    "ClusterName=theraflow-ci",
                    # The node is called localhost whatever the hostname is (slurmd -N localhost).
                    "SlurmctldHost=localhost",
                    f"SlurmctldPort={ctld_port}",
                    f"SlurmdPort={slurmd_port}",
                    "AuthType=auth/munge",
                    "CredType=cred/munge",
                    f"AuthInfo=socket={sock}/munge.socket",
                    "SlurmUser=root",
                    "SlurmdUser=root",
                    f"StateSaveLocation={state}",
                    f"SlurmdSpoolDir={spool}",
                    f"SlurmctldPidFile={self.root}/slurmctld.pid",
                    f"SlurmdPidFile={self.root}/slurmd.pid",
                    f"SlurmctldLogFile={self.root}/slurmctld.log",
                    f"SlurmdLogFile={self.root}/slurmd.log",
                    "ProctrackType=proctrack/linuxproc",
                    "TaskPlugin=task/none",
                    "MpiDefault=none",
                    "SwitchType=switch/none",
                    "ReturnToService=2",
                    "SelectType=select/cons_tres",
                    "SelectTypeParameters=CR_Core_Memory",
                    # Without a default, a job that asks for no memory is given the whole node.
                    "DefMemPerCPU=1000",
                    # No accounting database: the plugin must use squeue, which sees a finished job
                    # only for MinJobAge seconds; the plugin wants >= 3 x its first-check delay and
                    # checks at most every 180 s. The test reads squeue once the whole run is over,
                    # so every job of the run must still be there then: a CI machine took 385 s
                    # and squeue had lost the first six jobs at 300 s.
                    f"MinJobAge={2 * WORKFLOW_TIMEOUT_S}",
                    "AccountingStorageType=accounting_storage/none",
                    "JobAcctGatherType=jobacct_gather/none",
                    # slurmctld's own record of every finished job, read by the test.
                    "JobCompType=jobcomp/filetxt",
                    f"JobCompLoc={self.jobcomp}",
                    f"NodeName=localhost CPUs={hw['CPUs']} Boards={hw['Boards']} "
                    f"SocketsPerBoard={hw['SocketsPerBoard']} CoresPerSocket={hw['CoresPerSocket']} "
                    f"ThreadsPerCore={hw['ThreadsPerCore']} RealMemory={self.mem_mb} State=UNKNOWN",
                    f"PartitionName={PARTITION} Nodes=localhost Default=YES MaxTime=INFINITE State=UP",
                    "",
                ]
            )
        )

    def _write_srun_wrapper(self) -> None:
        # The slurm-jobstep plugin (0.6.1) strips every SLURM_* variable, SLURM_CONF included, before
        # it calls srun inside the job. A real cluster keeps slurm.conf at the default path (or runs
        # configless), where srun finds it anyway; this cluster's config lives in a temporary
        # directory, so srun is reached through a wrapper that puts SLURM_CONF back.
        self.bin.mkdir()
        wrapper = self.bin / "srun"
        wrapper.write_text(
            f'#!/bin/sh\nSLURM_CONF={self.conf}\nexport SLURM_CONF\nexec {TOOLS["srun"]} "$@"\n'
        )
        wrapper.chmod(0o755)

    def _start(self, name: str, args: list[str]) -> None:
        out = open(self.root / f"{name}.out", "wb")
        proc = subprocess.Popen(
            args, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        out.close()
        self.procs.append((name, proc))

    def logs(self) -> str:
        parts = []
        for name in ("munged.out", "slurmctld.out", "slurmd.out", "munge/munged.log"):
            path = self.root / name
            if path.exists():
                parts.append(
                    f"--- {name} (last lines)\n"
                    + "\n".join(path.read_text(errors="replace").splitlines()[-30:])
                )
        return "\n".join(parts)

    def start(self) -> None:
        self._write_config()
        self._write_srun_wrapper()
        # munged insists on a private key directory and a socket directory everyone can traverse.
        key_dir, sock_dir = self.root / "munge", self.root / "munge-socket"
        key_dir.mkdir(mode=0o700)
        sock_dir.mkdir(mode=0o755)
        key = key_dir / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        # fmt: off
        self._start("munged", [
            TOOLS["munged"], "--foreground", f"--socket={sock_dir}/munge.socket", f"--key-file={key}",
            f"--pid-file={key_dir}/munged.pid", f"--log-file={key_dir}/munged.log",
            f"--seed-file={key_dir}/munged.seed",
        ])
        # fmt: on
        self._wait(lambda: (sock_dir / "munge.socket").exists(), 20, "munged did not create its socket")
        self._start("slurmctld", [TOOLS["slurmctld"], "-D", "-f", str(self.conf)])
        self._wait(
            lambda: self.run("scontrol", "ping", check=False).returncode == 0, 30, "slurmctld does not answer"
        )
        self._start("slurmd", [TOOLS["slurmd"], "-D", "-N", "localhost", "-f", str(self.conf)])
        self._wait(self._node_idle, 60, "node localhost did not become idle")

    def _node_idle(self) -> bool:
        out = self.run("sinfo", "--noheader", "--nodes=localhost", "--format=%T", check=False).stdout
        return out.strip() == "idle"

    def _wait(self, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode}\n{self.logs()}")
            if ready():
                return
            time.sleep(0.5)
        raise RuntimeError(f"{what} within {timeout} s\n{self.logs()}")

    def stop(self) -> None:
        """Cancel this cluster's jobs, then stop the daemons this object started, by their pids."""
        if any(name == "slurmctld" and proc.poll() is None for name, proc in self.procs):
            self.run("scancel", "--user=root", check=False)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                active = self.run("squeue", "--noheader", "--states=PENDING,RUNNING,COMPLETING,CONFIGURING",
                                  "--format=%i", check=False).stdout.strip()  # fmt: skip
                if not active:
                    break
                time.sleep(1)
        for _name, proc in reversed(self.procs):  # slurmd, slurmctld, munged
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def slurm_cluster():
    reason = _why_not_runnable()
    if reason:
        # .ci/run sets THERAFLOW_REQUIRE_SLURM=1: there the test must run, never skip quietly.
        if os.environ.get("THERAFLOW_REQUIRE_SLURM") == "1":
            pytest.fail(f"THERAFLOW_REQUIRE_SLURM=1 but {reason}")
        pytest.skip(reason)
    # Not under pytest's tmp_path: its base directory is private (0700), and munged refuses a
    # socket in a directory that not everyone can traverse.
    root = Path(tempfile.mkdtemp(prefix="theraflow-slurm-"))
    root.chmod(0o755)
    cluster = None
    try:
        cluster = SlurmCluster(root)
        cluster.start()
        yield cluster
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def fit_profile(profile: dict, cluster: SlurmCluster) -> dict:
    """profiles/slurm filled in for the test cluster, as a user fills it in for theirs.

    The partition placeholders become the cluster's partition; the account goes (no accounting
    database, so no accounts); GPU requests go (the node has none); memory and threads are capped to
    the one node. Every other entry is used as written.
    """
    fitted = json.loads(json.dumps(profile))
    defaults = fitted["default-resources"]
    assert defaults.pop("slurm_account").startswith("<"), "profiles/slurm: slurm_account is not a placeholder"
    assert defaults["slurm_partition"].startswith("<"), "profiles/slurm: slurm_partition is not a placeholder"
    defaults["slurm_partition"] = PARTITION
    defaults["mem_mb"] = min(defaults["mem_mb"], cluster.mem_mb)
    for resources in fitted.get("set-resources", {}).values():
        if "slurm_partition" in resources:
            resources["slurm_partition"] = PARTITION
        resources.pop("slurm_account", None)
        if any(key in resources for key in ("gpu", "gpus", "gres", "gpu_model")):
            for key in ("gpus", "gres", "gpu_model"):
                resources.pop(key, None)
            resources["gpu"] = 0
        if "mem_mb" in resources:
            resources["mem_mb"] = min(resources["mem_mb"], cluster.mem_mb)
    for rule, threads in fitted.get("set-threads", {}).items():
        fitted["set-threads"][rule] = min(threads, cluster.cpus)
    return fitted


def _minutes(timelimit: str) -> int:
    """squeue's %l ([days-]hours:minutes:seconds, or minutes:seconds) in minutes."""
    days, _, clock = timelimit.rpartition("-")
    parts = [int(p) for p in clock.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)
    hours, minutes, seconds = parts
    return int(days or 0) * 1440 + hours * 60 + minutes + (1 if seconds else 0)


def _planned_jobs(cmd: list[str], cluster: SlurmCluster, workdir: Path) -> Counter:
    """Jobs per rule that a dry run of the same command plans ("Job stats" table): the jobs up to the
    score_count checkpoint and those that do not depend on it (a library's shards are not known yet)."""
    dry = subprocess.run(
        [*cmd, "--dry-run"], cwd=workdir, env=cluster.env, capture_output=True, text=True, timeout=120
    )
    assert dry.returncode == 0, dry.stdout + dry.stderr
    table = (dry.stdout + dry.stderr).split("Job stats:", 1)[1]
    planned = Counter()
    for name, count in re.findall(r"^(\w+) +(\d+)$", table, re.M):
        if name == "total":
            break
        planned[name] = int(count)
    return planned


def _shard_jobs(workdir: Path) -> Counter:
    """The jobs the score_count checkpoint adds once it has counted a library: per shard, one chem_standardize
    (molecule set score_<lib>) and one score_shard (pipelines/rules/score.smk)."""
    added = Counter()
    for count in sorted((workdir / "results" / "score").glob("*/library.json")):
        shards = int(json.loads(count.read_text())["shards"])
        added += Counter({"chem_standardize": shards, "score_shard": shards})
    assert added, "no library was counted by the score_count checkpoint"
    return added


@pytest.mark.slow
@pytest.mark.xdist_group("many_processes")  # never beside each other under `make test`
@pytest.mark.timeout(WORKFLOW_TIMEOUT_S + 300)
def test_demo_workflow_through_sbatch(slurm_cluster: SlurmCluster, tmp_path: Path):
    cluster = slurm_cluster
    profile_dir = tmp_path / "profile"
    profile_dir.mkdir()
    fitted = fit_profile(yaml.safe_load(PROFILE.read_text()), cluster)
    (profile_dir / "config.yaml").write_text(yaml.safe_dump(fitted, sort_keys=False))
    workdir = tmp_path / "run"
    workdir.mkdir()
    # The demo's config with one DTI seed (not three) and the NCI set in 2 shards (not 4): every rule
    # of the demo but pair_calibrate still goes through sbatch, in 37 jobs instead of 46 (each job pays
    # sbatch, srun and a Python start; the whole demo took 751 s here in CI). The score_count checkpoint
    # counts the NCI library (2 shards of 2,500 records) before its shard jobs exist.
    smaller = tmp_path / "smaller.yaml"
    # Training runs are cut short too (15 s budgets, 10 segmentation epochs): this test is about the cluster
    # running every rule with its resources, not about the models, and its time goes to the suite's budget.
    smaller.write_text(yaml.safe_dump({
        "dti": {"seeds": [0], "max_minutes": 0.25}, "ddi": {"max_minutes": 0.25},
        "molecules": {"nci": {"shards": 2}},
        "imaging": {"datasets": {"synth": {"overrides": {"train.max_epochs": 10, "train.val_every": 5}}}}}))

    # fmt: off
    cmd = [
        sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
        "--configfile", str(REPO / "config" / "config.yaml"), str(smaller),
        "--workflow-profile", str(profile_dir),          # replaces profiles/default, which is local
        "--slurm-status-command", "squeue",              # no accounting database on this cluster
        # the plugin first looks after this many seconds, then 10 s more each time no job has finished, and
        # starts over when one has: 1 s instead of 5 sees short jobs (most of the demo's) finish sooner
        "--slurm-init-seconds-before-status-checks", "1",
        "--slurm-keep-successful-logs",
        "--max-threads", str(cluster.cpus),
    ]
    # fmt: on
    planned = _planned_jobs(cmd, cluster, workdir)
    started = time.monotonic()
    guarded = ["timeout", "--signal=INT", "--kill-after=60", str(WORKFLOW_TIMEOUT_S), *cmd]
    run = subprocess.run(
        guarded,
        cwd=workdir,
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=WORKFLOW_TIMEOUT_S + 120,
    )
    elapsed = time.monotonic() - started
    log = run.stdout + run.stderr
    report = f"snakemake exited {run.returncode} after {elapsed:.0f} s\n{log[-8000:]}"
    assert run.returncode != 124, f"the workflow did not finish within {WORKFLOW_TIMEOUT_S} s\n{report}"
    assert run.returncode == 0, report
    assert "Using workflow specific profile" in log and str(profile_dir) in log, report

    # Snakemake's side: each job that is not a local target rule was handed to sbatch once.
    jobs = {}  # Snakemake job id -> (rule, local); a checkpoint is a job like any other
    for local, rule, jobid in re.findall(r"^(local)?(?:rule|checkpoint) (\w+):\n(?:    .*\n)*?    jobid: (\d+)$",
                                         log, re.M):
        jobs[jobid] = (rule, bool(local))
    submitted = re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", log)
    remote = {jobid: rule for jobid, (rule, local) in jobs.items() if not local}
    local_rules = Counter(rule for rule, local in jobs.values() if local)
    assert remote, f"no job went through sbatch\n{report}"
    assert sorted(j for j, _ in submitted) == sorted(remote), (
        f"sbatch submissions do not match jobs\n{report}"
    )
    assert "score_count" in remote.values(), f"the score_count checkpoint did not go through sbatch\n{report}"
    planned += _shard_jobs(workdir)  # the dry run could not know the library's shards
    assert Counter(remote.values()) + local_rules == planned, f"planned {dict(planned)}\n{report}"
    assert set(local_rules) <= {"all"}, f"jobs ran outside SLURM: {local_rules}\n{report}"
    slurm_ids = {slurm_id: remote[jobid] for jobid, slurm_id in submitted}

    # SLURM's side: squeue (kept for MinJobAge) has every job of this run, completed, with the
    # memory and wall time the profile sets for its rule.
    run_id = re.search(r"SLURM run ID: (\S+)", log).group(1)
    rows = cluster.run(
        "squeue", "--noheader", "--states=all", f"--name={run_id}", "--format=%i|%T|%k|%m|%l|%C"
    ).stdout
    seen = {}
    for row in rows.splitlines():
        slurm_id, state, comment, memory, timelimit, cpus = row.split("|")
        seen[slurm_id] = (state, comment, memory, timelimit, cpus)
    assert set(seen) == set(slurm_ids), f"squeue: {rows}\n{report}"
    checked = 0
    for slurm_id, rule in slurm_ids.items():
        state, comment, memory, timelimit, cpus = seen[slurm_id]
        assert state == "COMPLETED", f"SLURM job {slurm_id} ({rule}) is {state}\n{report}"
        assert comment.startswith(f"rule_{rule}"), (slurm_id, comment)
        wanted = fitted["set-resources"].get(rule, {})
        if "mem_mb" in wanted:
            assert memory == f"{wanted['mem_mb']}M", (rule, memory, wanted["mem_mb"])
        if "runtime" in wanted:
            assert _minutes(timelimit) == int(wanted["runtime"]), (rule, timelimit, wanted["runtime"])
        if rule in fitted["set-threads"]:
            assert int(cpus) == fitted["set-threads"][rule], (rule, cpus)
            checked += 1
    assert checked, "no job of the demo has its resources in profiles/slurm"

    # slurmctld's completion record: ran on the node, exit code 0.
    records = {}
    for line in cluster.jobcomp.read_text().splitlines():
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        records[fields["JobId"]] = fields
    for slurm_id, rule in slurm_ids.items():
        rec = records.get(slurm_id)
        assert rec, f"slurmctld has no completion record of job {slurm_id} ({rule})"
        assert (rec["JobState"], rec["ExitCode"], rec["NodeList"]) == ("COMPLETED", "0:0", "localhost"), rec
        assert rec["Name"] == run_id, rec

    # The jobs did their work: the demo's outputs and each job's SLURM log.
    results = workdir / "results" / "chem" / "nci"
    for name in ("molecules.parquet", "rejects.tsv", "summary.json"):
        assert (results / name).stat().st_size > 0, name
    summary = json.loads((results / "summary.json").read_text())
    assert summary["records"] > 0 and summary["kept"] + summary["rejected"] == summary["records"], summary
    slurm_logs = list((workdir / "logs" / "slurm").rglob("*.log"))
    assert sorted(p.stem for p in slurm_logs) == sorted(slurm_ids), slurm_logs
    print(f"{len(slurm_ids)} jobs through sbatch, all COMPLETED, in {elapsed:.0f} s")
