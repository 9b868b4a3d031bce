"""Helpers to run the workflow in a temporary working directory."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml


@pytest.fixture()
def snakemake(repo):
    exe = shutil.which("snakemake")
    assert exe, "snakemake is not on PATH"

    def run(workdir: Path, config: dict | None = None, *args: str, check: bool = True, timeout: int = 600):
        cmd = [exe, "-s", str(repo / "Snakefile"), "--directory", str(workdir), "--cores", "2",
               "--profile", str(repo / "profiles" / "default")]
        if config is not None:
            cfg = workdir / "config.yaml"
            cfg.write_text(yaml.safe_dump(config))
            cmd += ["--configfile", str(cfg)]
        proc = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"})
        if check and proc.returncode != 0:
            raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
        return proc

    return run
