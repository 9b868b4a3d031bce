"""What pipelines/rules/common.smk needs beyond rules (kept here so that it is plain, tested Python)."""

from __future__ import annotations

import os
import sys


def put_environment_first() -> str:
    """Put the bin directory of the Python running Snakemake first on PATH; returns it.

    Rules call the ``theraflow`` CLI by name. Started as ``.venv/bin/snakemake`` from a shell
    whose PATH lacks ``.venv/bin`` (or as a SLURM job's ``python -m snakemake``), the jobs
    must still find the theraflow of that environment, not another one or none.
    """
    bindir = os.path.dirname(sys.executable)
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if not parts or parts[0] != bindir:
        os.environ["PATH"] = os.pathsep.join([bindir, *(p for p in parts if p and p != bindir)])
    return bindir
