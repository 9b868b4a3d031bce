"""Overlay PNGs: mid-slices in three planes with per-class contours (prediction solid, reference dashed).

The volume is shown in the closest RAS orientation (nibabel ``as_closest_canonical``) so
that axial, coronal and sagittal panels look the same whatever the file's voxel order;
the slices pass through the centre of the segmented structures (the volume centre when
the mask is empty). Voxel aspect follows the spacing.
"""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from theraflow.imaging.volumes import read_volume
from theraflow.io import InputError, safe_name, write_bytes
from theraflow.progress import progress

log = logging.getLogger(__name__)

COLORS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45"]


def _canonical(array: np.ndarray, affine: np.ndarray):
    import nibabel as nib

    arr = array[..., 0] if array.ndim == 4 and array.shape[3] == 1 else array
    img = nib.as_closest_canonical(nib.Nifti1Image(np.asarray(arr), affine))
    zooms = img.header.get_zooms()[:3]
    return np.asarray(img.dataobj), tuple(float(z) for z in zooms)


def render_overlay(image: str, mask: str | None, reference: str | None, labels: dict[int, str], *,
                   title: str = "", dpi: int = 100, uncertainty: str | None = None) -> bytes:
    """PNG bytes: three panels (axial, coronal, sagittal) with contours of each structure and, given an
    ``uncertainty`` map (voxel-wise mirror-pass spread), where the model is unsure as a heat overlay."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    img = read_volume(image)
    vol, zooms = _canonical(img.array.astype(np.float32), img.affine)
    maps = {}
    for kind, path in (("prediction", mask), ("reference", reference)):
        if path:
            m = read_volume(path)
            arr, _ = _canonical(np.rint(m.array).astype(np.int16), m.affine)
            if arr.shape != vol.shape:
                raise InputError(f"{path}: {kind} shape {arr.shape} does not match the image {vol.shape}")
            maps[kind] = arr
    spread = None
    if uncertainty:
        u = read_volume(uncertainty)
        spread, _ = _canonical(u.array.astype(np.float32), u.affine)
        if spread.shape != vol.shape:
            raise InputError(f"{uncertainty}: uncertainty map shape {spread.shape} does not match the image {vol.shape}")
    structures = [int(k) for k in labels if int(k) != 0]
    source = maps.get("prediction", maps.get("reference"))
    if source is not None and (source > 0).any():
        idx = np.argwhere(source > 0)
        centre = ((idx.min(0) + idx.max(0)) // 2).tolist()
    else:
        centre = [s // 2 for s in vol.shape]
    lo, hi = np.percentile(vol, [1, 99.5])
    planes = [("axial", 2, (0, 1)), ("coronal", 1, (0, 2)), ("sagittal", 0, (1, 2))]
    fig, axes = plt.subplots(1, 3, figsize=(11, 4), dpi=dpi)
    for ax, (name, axis, (a, b)) in zip(axes, planes, strict=True):
        sl = [slice(None)] * 3
        sl[axis] = centre[axis]
        ax.imshow(vol[tuple(sl)].T, cmap="gray", origin="lower", vmin=lo, vmax=hi,
                  aspect=zooms[b] / zooms[a], interpolation="nearest")
        if spread is not None:
            heat = spread[tuple(sl)].T
            ax.imshow(np.ma.masked_less(heat, 0.02), cmap="magma", origin="lower", vmin=0, vmax=0.5, alpha=0.7,
                      aspect=zooms[b] / zooms[a], interpolation="nearest")
        for kind, style in (("prediction", "solid"), ("reference", "dashed")):
            if kind not in maps:
                continue
            plane = maps[kind][tuple(sl)].T
            for j, value in enumerate(structures):
                if (plane == value).any():
                    ax.contour((plane == value).astype(float), levels=[0.5], colors=COLORS[j % len(COLORS)],
                               linewidths=1.2, linestyles=style)
        ax.set_title(f"{name} (slice {centre[axis]})", fontsize=9)
        ax.set_axis_off()
    handles = [Line2D([], [], color=COLORS[j % len(COLORS)], label=labels[v]) for j, v in enumerate(structures)]
    if "reference" in maps and "prediction" in maps:
        handles += [Line2D([], [], color="k", label="prediction"),
                    Line2D([], [], color="k", linestyle="dashed", label="reference")]
    if spread is not None:
        handles.append(Line2D([], [], color="#fcae62", linewidth=6, label="mirror-pass spread (unsure)"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 0.95))
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def overlays(predictions: pd.DataFrame | str | os.PathLike, out_dir: str | os.PathLike, *, labels: dict[int, str],
             datalist: pd.DataFrame | str | os.PathLike | None = None,
             measurements: pd.DataFrame | str | os.PathLike | None = None) -> pd.DataFrame:
    """One PNG per case in ``out_dir`` (``<id>.png``); returns a table (id, png)."""
    from theraflow.io import read_table

    def _table(t):
        return t if isinstance(t, pd.DataFrame) else read_table(t, dtype=str, keep_default_na=False)

    preds = _table(predictions)
    refs = {}
    if datalist is not None:
        dl = _table(datalist)
        refs = {str(r["id"]): r.get("label") or None for r in dl.to_dict("records")}
    dice = {}
    if measurements is not None:
        m = _table(measurements)
        if "dice_mean" in m.columns:
            dice = dict(zip(m["id"].astype(str), m["dice_mean"], strict=True))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    labels = {int(k): str(v) for k, v in labels.items()}
    rows = []
    for p in progress(preds.to_dict("records"), desc="overlays", unit="case"):
        cid = str(p["id"])
        title = cid + (f" — mean Dice {float(dice[cid]):.3f}" if dice.get(cid) not in (None, "", "nan") else "")
        try:
            png = render_overlay(p["image"], p["mask"], refs.get(cid), labels, title=title,
                                 uncertainty=p.get("uncertainty_map") or None)
        except InputError as exc:
            log.warning("case %s: no overlay (%s)", cid, exc)
            continue
        path = out / f"{safe_name(cid)}.png"
        write_bytes(path, png)
        rows.append({"id": cid, "png": str(path)})
    return pd.DataFrame(rows, columns=["id", "png"])
