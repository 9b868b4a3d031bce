"""Sites that differ as hospitals do, made from one labelled datalist (for benchmarks, tests and dry runs).

:func:`make_sites` divides a datalist's training cases among sites of unequal size and gives each site its
own "scanner": a fixed, documented change of the image intensities, written as the site's own NIfTI files
(labels unchanged). The cases the split holds out go to no site; the coordinator keeps their datalist to
measure the federated model, and nothing else reads it.

A site's acquisition, applied to each of its images ``x`` (voxel values as stored):

    y = scale · (x − min) ^ gamma / (max − min) ^ (gamma − 1) + min  +  N(0, (noise · std(x))²)

- ``scale``: a gain (another receive coil, another scaling on export); preprocessing's z-score removes it,
  as a real pipeline would;
- ``gamma``: a contrast curve (another sequence or vendor); not removed by a z-score;
- ``noise``: Gaussian noise with a standard deviation of ``noise`` times the image's (another field
  strength, faster protocols), seeded per site and case, so the files are the same on every run.

Real multi-site differences are larger and less tidy; these are the ones a test can state.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from theraflow.imaging.splits import SPLIT_DEFAULTS, assign_split
from theraflow.io import InputError, atomic_write, write_json, write_table

log = logging.getLogger(__name__)

# Four sites of unequal size and acquisition (the hippocampus benchmark's): shares of the training cases
DEFAULT_SITES = [
    {"share": 0.40, "scale": 1.0, "gamma": 1.0, "noise": 0.00},   # the reference scanner
    {"share": 0.30, "scale": 1.6, "gamma": 0.8, "noise": 0.05},
    {"share": 0.20, "scale": 0.6, "gamma": 1.25, "noise": 0.10},
    {"share": 0.10, "scale": 1.2, "gamma": 0.9, "noise": 0.20},
]


def acquire(x: np.ndarray, *, scale: float, gamma: float, noise: float, seed: int) -> np.ndarray:
    """One site's acquisition of an image (see the module docstring)."""
    x = np.asarray(x, dtype=np.float32)
    lo, hi = float(x.min()), float(x.max())
    span = max(hi - lo, 1e-6)
    y = scale * (span * ((x - lo) / span) ** gamma) + lo
    if noise > 0:
        rng = np.random.default_rng(seed)
        y = y + rng.normal(0.0, noise * float(x.std()), size=x.shape).astype(np.float32)
    return y.astype(np.float32)


def _sizes(n: int, shares: list[float]) -> list[int]:
    """Case counts per site: proportional to the shares, every site at least one case, summing to n."""
    if n < len(shares):
        raise InputError(f"{n} training case(s) for {len(shares)} sites: every site needs at least one")
    total = sum(shares)
    sizes = [max(1, int(np.floor(n * s / total))) for s in shares]
    for i in np.argsort([-s for s in shares]):  # what rounding left, to the largest sites first
        if sum(sizes) >= n:
            break
        sizes[i] += 1
    while sum(sizes) > n:
        sizes[int(np.argmax(sizes))] -= 1
    return sizes


def _case_seed(site: int, case: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{site}/{case}".encode()).digest()[:4], "little")


def make_sites(datalist: str | os.PathLike | pd.DataFrame, out: str | os.PathLike, *,
               sites: list[dict] | None = None, split: dict | None = None, seed: int = 0) -> dict:
    """Write ``out/site_<k>/`` (images, labels, ``datalist.tsv``) for each site and ``out/heldout.tsv``
    (the split's validation cases, the original files); return the plan also written to ``out/sites.json``.

    ``sites``: one dict per site (``share``, ``scale``, ``gamma``, ``noise``; :data:`DEFAULT_SITES`);
    ``split``: how the held-out cases are chosen (as ``theraflow seg train``'s, e.g.
    ``{"mode": "fixed", "order": "sorted", "val_count": 40}``); the training cases are dealt to the sites
    in a shuffled order (``seed``).
    """
    import nibabel as nib

    from theraflow.imaging.datalists import make_datalist, read_datalist

    out = Path(out).resolve()  # the datalists hold absolute paths: a site's processes run from anywhere
    sites = [dict(s) for s in (sites or DEFAULT_SITES)]
    for k, s in enumerate(sites):
        unknown = set(s) - {"share", "scale", "gamma", "noise"}
        if unknown or "share" not in s or float(s["share"]) <= 0:
            raise InputError(f"site {k}: expected share > 0 and optionally scale, gamma, noise; got {s}")
        s.setdefault("scale", 1.0), s.setdefault("gamma", 1.0), s.setdefault("noise", 0.0)
    df = datalist if isinstance(datalist, pd.DataFrame) else read_datalist(datalist)
    unlabelled = df.loc[df["label"].fillna("") == "", "id"].tolist()
    if unlabelled:
        raise InputError(f"sites need labelled cases; no label for {', '.join(unlabelled[:5])}")
    split_df = assign_split(df["id"], **{**SPLIT_DEFAULTS, **(split or {})})
    held = set(split_df.loc[split_df["split"] == "val", "id"])
    train_ids = sorted(set(df["id"]) - held)
    order = [train_ids[i] for i in np.random.default_rng(seed).permutation(len(train_ids))]
    sizes = _sizes(len(order), [float(s["share"]) for s in sites])
    by_id = df.set_index("id")
    plan = {"format": "theraflow-sites/1", "seed": seed, "split": {**SPLIT_DEFAULTS, **(split or {})},
            "heldout": {"datalist": str((out / "heldout.tsv").resolve()), "cases": len(held)}, "sites": []}
    start = 0
    for k, (s, size) in enumerate(zip(sites, sizes, strict=True)):
        ids = order[start:start + size]
        start += size
        folder = out / f"site_{k}"
        (folder / "images").mkdir(parents=True, exist_ok=True)
        (folder / "labels").mkdir(parents=True, exist_ok=True)
        for cid in ids:
            row = by_id.loc[cid]
            img = nib.load(str(row["image"]))
            data = acquire(np.asarray(img.dataobj), scale=s["scale"], gamma=s["gamma"], noise=s["noise"],
                           seed=_case_seed(k, cid))
            new = nib.Nifti1Image(data, img.affine, img.header)
            new.set_data_dtype(np.float32)
            with atomic_write(folder / "images" / f"{cid}.nii.gz", "wb") as fh:
                fh.write(_gz(new))
            label = Path(row["label"])
            with atomic_write(folder / "labels" / f"{cid}.nii.gz", "wb") as fh:
                fh.write(label.read_bytes() if label.name.endswith(".gz") else _gz(nib.load(str(label))))
        site_df, rejects = make_datalist(images=folder / "images", labels=folder / "labels")
        if len(rejects):
            raise InputError(f"{folder}: {len(rejects)} case(s) failed their checks: {rejects.iloc[0].to_dict()}")
        write_table(site_df, folder / "datalist.tsv")
        plan["sites"].append({"site": k, "cases": len(ids), "ids": ids, "datalist": str((folder / "datalist.tsv").resolve()),
                              **{key: s[key] for key in ("share", "scale", "gamma", "noise")}})
        log.info("site %d: %d cases (scale %.2f, gamma %.2f, noise %.2f)", k, len(ids), s["scale"], s["gamma"],
                 s["noise"])
    heldout = df[df["id"].isin(held)].reset_index(drop=True)
    for col in ("image", "label"):
        heldout[col] = [str(Path(p).resolve()) for p in heldout[col]]
    write_table(heldout, out / "heldout.tsv")
    write_json(out / "sites.json", plan)
    return plan


def _gz(img) -> bytes:
    import gzip

    return gzip.compress(img.to_bytes(), compresslevel=6, mtime=0)


def read_sites(path: str | os.PathLike) -> dict:
    """The plan :func:`make_sites` wrote (``sites.json``, or its folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / "sites.json"
    try:
        plan = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a sites plan written by `theraflow seg federate sites` ({exc})") from None
    if plan.get("format") != "theraflow-sites/1":
        raise InputError(f"{path}: unknown format {plan.get('format')!r} (expected theraflow-sites/1)")
    return plan
