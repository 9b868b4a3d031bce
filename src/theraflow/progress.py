"""Progress bars for long work.

Library code wraps long loops in :func:`progress`. By default bars show on a terminal
and vanish in batch logs (``tqdm(disable=None)``); the CLI's ``--progress`` /
``--no-progress`` override that through :func:`set_progress`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from tqdm.std import tqdm

_enabled: bool | None = None


def bar_class() -> type[tqdm]:
    """The progress bar type: a notebook widget in a Jupyter kernel that has ipywidgets, else a text bar.

    ``tqdm.auto`` makes the same choice but warns ("IProgress not found") into every notebook without
    ipywidgets; this checks first and falls back quietly (a text bar, shown only when forced on)."""
    ipython = sys.modules.get("IPython")
    if ipython is not None:
        try:
            shell = ipython.get_ipython()
            if shell is not None and "IPKernelApp" in shell.config:
                import ipywidgets  # noqa: F401
                from tqdm.notebook import tqdm as notebook_tqdm

                return notebook_tqdm
        except Exception:  # no ipywidgets, or an IPython without a kernel app
            pass
    return tqdm


def set_progress(enabled: bool | None) -> None:
    """True: always show bars; False: never; None: only on a terminal."""
    global _enabled
    _enabled = enabled


def progress(iterable: Iterable | None = None, **kwargs: Any) -> tqdm:
    disable = None if _enabled is None else not _enabled
    return bar_class()(iterable, disable=disable, **kwargs)
