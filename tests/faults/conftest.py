"""Helpers for the fault tests: run a theraflow command, kill it at a chosen moment."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from ..inprocess import cli  # noqa: F401  (used by the fault tests via this module)


class Run:
    """A theraflow command started in the background."""

    def __init__(self, cmd: list[str], cwd: Path) -> None:
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def wait_for(self, predicate, timeout: float = 120.0, poll: float = 0.02) -> bool:
        """Wait until ``predicate()`` holds (True) or the process ended (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(poll)
        raise TimeoutError(f"{self.cmd}: condition not met in {timeout} s")

    def kill(self, sig: int = signal.SIGKILL) -> bool:
        """Send ``sig``; False if the process had already finished."""
        if self.proc.poll() is not None:
            return False
        self.proc.send_signal(sig)
        return True

    def finish(self, timeout: float = 300.0) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err


@pytest.fixture()
def start(theraflow_cmd):
    """start(args, cwd) → Run of `theraflow --no-progress <args>`; every run is reaped at teardown."""
    runs: list[Run] = []

    def _start(args: list[str], cwd: Path) -> Run:
        run = Run(theraflow_cmd + ["--no-progress", *map(str, args)], cwd)
        runs.append(run)
        return run

    yield _start
    for run in runs:
        if run.proc.poll() is None:
            run.proc.kill()
        run.proc.communicate()


def run_ok(theraflow_cmd, args, cwd, timeout=300) -> subprocess.CompletedProcess:
    proc = subprocess.run(theraflow_cmd + ["--no-progress", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, f"{args} failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A tiny demo interaction model (GIN + target id, one epoch) trained through the pair stages: enough to
    score with."""
    import pandas as pd

    from theraflow.chem.standardize import StandardizeOptions, standardize
    from theraflow.io import write_table
    from theraflow.pairs.stages import prepare_dataset, split_stage, train_stage

    d = tmp_path_factory.mktemp("tiny_model")
    prepare_dataset("dti", {"source": "rdkit_demo"}, d)
    mols = pd.read_csv(d / "molecules.csv", dtype=str)
    kept, _ = standardize(pd.DataFrame({"record": range(1, len(mols) + 1), "id": mols["id"], "input": mols["smiles"],
                                        "kind": "smiles"}), StandardizeOptions())
    write_table(kept[["id", "smiles"]], d / "molecules.parquet")
    split_stage(d / "pairs.parquet", "random", d / "splits", seed=0)
    cfg = {"name": "tiny", "drug_encoder": {"type": "gin", "hidden": 16, "layers": 2, "pool": "add+max"},
           "target_encoder": {"type": "id", "id": {"dim": 4}}, "head": {"hidden": [16], "proj": 8},
           "training": {"max_epochs": 1, "batch_mode": "random", "batch_size": 256, "threads": 1}}
    out = d / "model" / "seed0"
    train_stage(pairs_path=d / "pairs.parquet", split_path=d / "splits" / "random.parquet",
                molecules_path=d / "molecules.parquet", store=d / "store", model_config=cfg, outdir=out,
                progress=False)
    return out
