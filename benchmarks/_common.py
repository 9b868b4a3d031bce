"""Helpers shared by the benchmark scripts."""

from __future__ import annotations

import os
import platform
import sys


def machine_info(**extra) -> dict:
    """What the figures were measured on."""
    return {"processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "python": sys.version.split()[0], **extra}
