"""Measurements per case: structure volumes in mL and, where a reference label exists, Dice and HD95.

Everything is computed on the mask's own grid (the input scan's): volumes from the voxel
size in the affine, HD95 in mm with the voxel spacing (MONAI ``DiceMetric`` /
``compute_hausdorff_distance``). One table per run, one row per case:

``id, volume_ml_<name>…, [ref_volume_ml_<name>…, dice_<name>…, hd95_mm_<name>…, dice_mean, hd95_mm_mean],
[uncertainty]`` (the last carried over from inference when it ran with mirror TTA).
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from theraflow.imaging.volumes import read_volume
from theraflow.io import InputError
from theraflow.progress import progress

if TYPE_CHECKING:  # torch and MONAI only where Dice / HD95 are computed
    import torch

log = logging.getLogger(__name__)


def _onehot(arr: np.ndarray, labels: list[int]) -> torch.Tensor:
    import torch

    return torch.from_numpy(np.stack([arr == v for v in labels])[None].astype(np.float32))


def measure_case(mask_path: str, labels: dict[int, str], reference: str | None = None) -> dict[str, Any]:
    """Volumes (mL) per structure of one mask; Dice and HD95 (mm) against ``reference`` when given."""
    from monai.metrics import compute_dice, compute_hausdorff_distance

    mask = read_volume(mask_path)
    arr = np.asarray(mask.array)
    arr = arr[..., 0] if arr.ndim == 4 and arr.shape[3] == 1 else arr
    voxel_ml = mask.voxel_volume_mm3 / 1000.0
    row: dict[str, Any] = {}
    for value, name in labels.items():
        row[f"volume_ml_{name}"] = round(float((arr == value).sum()) * voxel_ml, 4)
    if not reference:
        return row
    ref = read_volume(reference)
    rarr = np.asarray(ref.array)
    rarr = rarr[..., 0] if rarr.ndim == 4 and rarr.shape[3] == 1 else rarr
    if rarr.shape != arr.shape or not np.allclose(ref.affine, mask.affine, atol=1e-3):
        raise InputError(f"{reference}: reference label grid {rarr.shape} does not match the mask {mask_path} "
                         f"{arr.shape}; expected masks on the scan's own grid")
    rarr = np.rint(rarr).astype(np.int64)
    values = list(labels)
    pred, gt = _onehot(arr, values), _onehot(rarr, values)
    dice = compute_dice(pred, gt, include_background=True, ignore_empty=True)[0]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        # MONAI's own call to get_mask_edges passes an argument it has deprecated: nothing to settle here
        warnings.filterwarnings("ignore", message=".*always_return_as_numpy")
        hd = compute_hausdorff_distance(pred, gt, include_background=True, percentile=95,
                                        spacing=list(mask.spacing))[0]
    for value, name in labels.items():
        row[f"ref_volume_ml_{name}"] = round(float((rarr == value).sum()) * voxel_ml, 4)
    for i, name in enumerate(labels.values()):
        d = float(dice[i])
        row[f"dice_{name}"] = round(d, 5) if np.isfinite(d) else np.nan
    for i, name in enumerate(labels.values()):
        h = float(hd[i])
        row[f"hd95_mm_{name}"] = round(h, 4) if np.isfinite(h) else np.nan
    dices = [row[f"dice_{n}"] for n in labels.values()]
    hds = [row[f"hd95_mm_{n}"] for n in labels.values()]
    row["dice_mean"] = round(float(np.nanmean(dices)), 5) if np.isfinite(dices).any() else np.nan
    row["hd95_mm_mean"] = round(float(np.nanmean(hds)), 4) if np.isfinite(hds).any() else np.nan
    return row


def measure(predictions: pd.DataFrame | str | os.PathLike, datalist: pd.DataFrame | str | os.PathLike | None = None,
            *, labels: dict[int, str], split: pd.DataFrame | str | os.PathLike | None = None,
            on_error: str = "reject") -> tuple[pd.DataFrame, pd.DataFrame]:
    """The measurements table for every mask in ``predictions`` (id, mask); reference labels come from
    ``datalist`` (id, label) where it has one. Returns (table, rejects)."""
    from theraflow.io import read_table

    preds = predictions if isinstance(predictions, pd.DataFrame) else read_table(predictions, dtype=str,
                                                                                keep_default_na=False)
    refs: dict[str, str] = {}
    if datalist is not None:
        dl = datalist if isinstance(datalist, pd.DataFrame) else read_table(datalist, dtype=str,
                                                                            keep_default_na=False)
        if "label" in dl.columns:
            refs = {str(r["id"]): str(r["label"]) for r in dl.to_dict("records") if r.get("label")}
    splits: dict[str, str] = {}
    if split is not None:
        sp = split if isinstance(split, pd.DataFrame) else read_table(split, dtype=str, keep_default_na=False)
        splits = dict(zip(sp["id"].astype(str), sp["split"].astype(str), strict=True))
    labels = {int(k): str(v) for k, v in labels.items() if int(k) != 0}
    rows, rejects = [], []
    for p in progress(preds.to_dict("records"), desc="measuring", unit="case"):
        cid = str(p["id"])
        try:
            row = {"id": cid}
            if splits:
                row["split"] = splits.get(cid, "")
            row.update(measure_case(p["mask"], labels, refs.get(cid)))
            if str(p.get("uncertainty", "")).strip() not in ("", "nan", "None"):
                row["uncertainty"] = float(p["uncertainty"])  # from inference: mean mirror-pass spread
            rows.append(row)
        except InputError as exc:
            if on_error == "stop":
                raise
            log.warning("case %s: %s", cid, exc)
            rejects.append({"id": cid, "mask": p["mask"], "reason": str(exc)})
    table = pd.DataFrame(rows)
    return table, pd.DataFrame(rejects, columns=["id", "mask", "reason"])


def summarize(table: pd.DataFrame, labels: dict[int, str]) -> dict[str, Any]:
    """Mean/median/sd of Dice and HD95 per structure (per split when the table has one)."""
    names = [v for k, v in labels.items() if int(k) != 0]
    out: dict[str, Any] = {"cases": int(len(table))}
    groups = [("all", table)]
    if "split" in table.columns:
        groups += [(s, g) for s, g in table.groupby("split") if s]
    for gname, g in groups:
        stats: dict[str, Any] = {"cases": int(len(g))}
        for name in names:
            for col in (f"volume_ml_{name}", f"dice_{name}", f"hd95_mm_{name}"):
                if col in g.columns and g[col].notna().any():
                    vals = g[col].astype(float)
                    stats[col] = {"mean": float(vals.mean()), "median": float(vals.median()),
                                  "sd": float(vals.std(ddof=1)) if vals.notna().sum() > 1 else 0.0}
        for col in ("dice_mean", "hd95_mm_mean"):
            if col in g.columns and g[col].notna().any():
                stats[col] = float(g[col].astype(float).mean())
        out[gname] = stats
    return out
