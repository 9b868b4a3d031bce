"""The preprocessing stage: fill the content-keyed cache for a datalist and report what it did.

Training reads the same cache entries (same spec, same contents → same keys), so running
this stage first moves the loading and resampling out of the training job; re-running it
with nothing changed only counts hits.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import pandas as pd

from theraflow.imaging.cache import ContentCache
from theraflow.imaging.datalists import items, read_datalist
from theraflow.imaging.modelconfig import load_model_config, resolve
from theraflow.imaging.transforms import preprocess_spec
from theraflow.io import InputError
from theraflow.progress import progress

log = logging.getLogger(__name__)


def preprocess(datalist: str | os.PathLike | pd.DataFrame, cache_dir: str | os.PathLike, *,
               model_config: str | os.PathLike | dict | None = None, overrides: dict | None = None
               ) -> tuple[dict[str, Any], pd.DataFrame]:
    """Preprocess every case into ``cache_dir``; return (stats, per-case table: id, shape, cached)."""
    cfg = resolve(model_config, overrides) if isinstance(model_config, dict) else load_model_config(model_config,
                                                                                                  overrides)
    df = datalist if isinstance(datalist, pd.DataFrame) else read_datalist(datalist)
    labelled = df["label"].fillna("") != ""
    start = time.perf_counter()
    rows = []
    stats = {"cases": int(len(df)), "hits": 0, "misses": 0}
    # labelled and unlabelled cases have different chains (the label is resampled with the image)
    for keys, subset in ((("image", "label"), df[labelled]), (("image",), df[~labelled])):
        if subset.empty:
            continue
        ds = ContentCache(items(subset, with_label="label" in keys), preprocess_spec(cfg["preprocess"], keys=keys),
                          cache_dir)
        stats[f"key_{'+'.join(keys)}"] = ds.chain_key
        for i in progress(range(len(ds)), desc="preprocessing", unit="case"):
            item = ds.data[i]
            hit = ds.cached(item)
            try:
                out = ds[i]
            except Exception as exc:
                raise InputError(f"case {item['id']}: preprocessing failed ({type(exc).__name__}: {exc})") from exc
            rows.append({"id": item["id"], "shape": "x".join(str(s) for s in out["image"].shape[1:]),
                         "cached": hit, "entry": str(ds.entry(item))})
        stats["hits"] += ds.hits
        stats["misses"] += ds.misses
    stats["seconds"] = round(time.perf_counter() - start, 2)
    log.info("preprocessed %d cases: %d cache hits, %d computed, %.1f s", stats["cases"], stats["hits"],
             stats["misses"], stats["seconds"])
    return stats, pd.DataFrame(rows, columns=["id", "shape", "cached", "entry"])
