"""Helpers shared by the benchmark scripts."""

from __future__ import annotations

import os
import platform
import sys


def machine_info(**extra) -> dict:
    """What the figures were measured on."""
    return {"processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "python": sys.version.split()[0], **extra}


def provenance() -> dict:
    """The commit (and whether the working tree had changes) and the date a row is measured at."""
    import datetime as dt
    import subprocess
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"commit": git("rev-parse", "--short=12", "HEAD") or "unknown",
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
            "date": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()}


def merge_rows(old: list[dict], new: list[dict], key: tuple[str, ...]) -> list[dict]:
    """Rows of ``old`` not measured again, then ``new``: a benchmark run in parts keeps its other rows."""
    fresh = {tuple(r.get(k) for k in key) for r in new}
    return [r for r in old if tuple(r.get(k) for k in key) not in fresh] + list(new)
