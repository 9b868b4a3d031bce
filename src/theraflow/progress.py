"""Progress bars for long work.

Library code wraps long loops in :func:`progress`. By default bars show on a terminal
and vanish in batch logs (``tqdm(disable=None)``); the CLI's ``--progress`` /
``--no-progress`` override that through :func:`set_progress`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm

_enabled: bool | None = None


def set_progress(enabled: bool | None) -> None:
    """True: always show bars; False: never; None: only on a terminal."""
    global _enabled
    _enabled = enabled


def progress(iterable: Iterable | None = None, **kwargs: Any) -> tqdm:
    disable = None if _enabled is None else not _enabled
    return tqdm(iterable, disable=disable, **kwargs)
