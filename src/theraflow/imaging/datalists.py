"""Datalists: which cases there are (id, image, optional label), checked before anything trains.

A datalist comes from a folder pair (``images/`` and ``labels/``, matched by case id) or a
CSV/TSV (columns ``id``, ``image``, optional ``label``; relative paths are relative to the
table). Images are NIfTI files or DICOM series folders; labels are NIfTI files.

Every case is checked: readable, 3D, finite voxels, image and label on the same grid
(shape and affine), label values in the declared set. ``on_error="stop"`` stops at the
first bad case with a message naming it; ``on_error="reject"`` moves it to a rejects
table with the reason and goes on.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from theraflow.imaging.volumes import Volume, case_id, is_nifti, read_volume, volume_format
from theraflow.io import InputError, read_table, record_lines, sha256_file
from theraflow.progress import progress

log = logging.getLogger(__name__)

DATALIST_COLUMNS = ["id", "image", "label", "format", "shape", "spacing", "image_sha256", "label_sha256"]
REJECT_COLUMNS = ["id", "image", "label", "reason"]


def _entries(folder: Path) -> list[Path]:
    """NIfTI files and (DICOM series) sub-folders of ``folder``, hidden files (``._x``, ``.DS_Store``) skipped."""
    if not folder.is_dir():
        raise InputError(f"{folder}: folder not found (expected a folder of NIfTI files or DICOM series folders)")
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".") and (p.is_dir() or is_nifti(p)))


def find_cases(images: str | os.PathLike, labels: str | os.PathLike | None = None) -> list[dict]:
    """Pair ``images/<id>.nii.gz`` (or ``images/<id>/`` DICOM folders) with ``labels/<id>.nii.gz``."""
    images = Path(images)
    cases: dict[str, dict] = {}
    for p in _entries(images):
        cid = case_id(p)
        if cid in cases:
            raise InputError(f"{images}: two images for case {cid!r} ({Path(cases[cid]['image']).name}, {p.name})")
        cases[cid] = {"id": cid, "image": str(p), "label": None}
    if labels is not None:
        labels = Path(labels)
        for p in _entries(labels):
            if p.is_dir():
                continue
            cid = case_id(p)
            if cid not in cases:
                log.warning("%s: label without an image in %s (ignored)", p, images)
                continue
            cases[cid]["label"] = str(p)
    if not cases:
        raise InputError(f"{images}: no NIfTI files (.nii, .nii.gz) or DICOM series folders found")
    return [cases[k] for k in sorted(cases)]


def _resolve(base: Path, p: str) -> str:
    return str(p if Path(p).is_absolute() else base / p)


def read_csv_cases(path: str | os.PathLike) -> list[dict]:
    """Cases from a table with columns id, image and optional label (paths relative to the table)."""
    path = Path(path)
    df = read_table(path, dtype=str, keep_default_na=False)
    if "image" not in df.columns:
        raise InputError(f"{path}: expected columns id, image and optional label; found {', '.join(df.columns)}")
    base = path.parent
    out, seen = [], set()
    parquet = path.name.lower().endswith((".parquet", ".pq"))
    where = [f"row {i + 1}" for i in range(len(df))] if parquet else [f"line {n}" for n in record_lines(path, len(df))]
    for i, row in enumerate(df.to_dict("records")):
        image = row["image"].strip()
        if not image:
            raise InputError(f"{path}: {where[i]}: empty image path")
        cid = (row.get("id") or "").strip() or case_id(image)
        if cid in seen:
            raise InputError(f"{path}: {where[i]}: duplicate case id {cid!r}")
        seen.add(cid)
        label = (row.get("label") or "").strip() or None
        out.append({"id": cid, "image": _resolve(base, image), "label": _resolve(base, label) if label else None})
    if not out:
        raise InputError(f"{path}: no cases")
    return out


def content_digest(path: str | os.PathLike) -> str:
    """sha256 of a file, or of a DICOM folder's file names and contents (sorted)."""
    path = Path(path)
    if path.is_dir():
        h = hashlib.sha256()
        for f in sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")):
            h.update(f.name.encode())
            h.update(bytes.fromhex(sha256_file(f)))
        return h.hexdigest()
    return sha256_file(path)


def _squeeze(vol: Volume, role: str) -> np.ndarray:
    arr = vol.array
    if arr.ndim == 4 and arr.shape[3] == 1:
        arr = arr[..., 0]
    if arr.ndim != 3 or min(arr.shape) < 2:
        kind = "2D image" if arr.ndim == 2 or (arr.ndim == 3 and min(arr.shape) < 2) else f"{arr.ndim}D array"
        raise InputError(f"{vol.path}: {role} is a {kind} of shape {tuple(arr.shape)}; expected a 3D volume")
    return arr


def check_case(case: dict, label_values: Sequence[int] | None = None, *, require_label: bool = False) -> dict:
    """Check one case; return its datalist row or raise :class:`InputError` naming the case and the problem."""
    cid = case["id"]
    try:
        image = read_volume(case["image"])
        arr = _squeeze(image, "image")
        if not np.issubdtype(arr.dtype, np.number):
            raise InputError(f"{image.path}: voxel type {arr.dtype} is not numeric")
        finite = np.isfinite(arr)
        if not finite.all():
            n = int(arr.size - finite.sum())
            raise InputError(f"{image.path}: {n} of {arr.size} voxels are not finite (NaN or infinity)")
        row = {"id": cid, "image": case["image"], "label": case.get("label") or "",
               "format": image.format, "shape": "x".join(map(str, arr.shape)),
               "spacing": "x".join(f"{s:g}" for s in image.spacing),
               "image_sha256": content_digest(case["image"]), "label_sha256": ""}
        if case.get("label"):
            label = read_volume(case["label"])
            larr = _squeeze(label, "label")
            if larr.shape != arr.shape:
                raise InputError(f"{label.path}: label shape {tuple(larr.shape)} differs from image shape "
                                 f"{tuple(arr.shape)} ({Path(image.path).name}); expected the same grid")
            if not np.allclose(label.affine, image.affine, atol=1e-3, rtol=0):
                raise InputError(f"{label.path}: label affine differs from the image's (largest difference "
                                 f"{np.abs(label.affine - image.affine).max():.4g} mm); expected the same grid")
            if not np.isfinite(larr).all():
                raise InputError(f"{label.path}: label holds NaN or infinite values")
            values = np.unique(larr)
            if not np.all(np.equal(np.mod(values, 1), 0)):
                raise InputError(f"{label.path}: label holds non-integer values {values[np.mod(values, 1) != 0][:5]}")
            if label_values is not None:
                extra = sorted(set(values.astype(np.int64).tolist()) - {int(v) for v in label_values})
                if extra:
                    raise InputError(f"{label.path}: label values {extra} are outside the declared set "
                                     f"{sorted(int(v) for v in label_values)}")
            row["label_sha256"] = content_digest(case["label"])
        elif require_label:
            raise InputError(f"{case['image']}: no label for this case (labels are required here)")
    except InputError as exc:
        msg = str(exc)
        raise InputError(msg if msg.startswith(f"case {cid}") else f"case {cid}: {msg}") from None
    return row


def make_datalist(*, images: str | os.PathLike | None = None, labels: str | os.PathLike | None = None,
                  csv: str | os.PathLike | None = None, cases: Iterable[dict] | None = None,
                  label_values: Sequence[int] | None = None, on_error: str = "stop",
                  require_labels: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Find and check the cases; return (datalist, rejects).

    Give a folder pair (``images``, optional ``labels``), a ``csv`` table, or ``cases``
    (dicts with id, image, label). ``on_error``: ``stop`` raises at the first bad case,
    ``reject`` moves it to the rejects table with the reason.
    """
    if on_error not in ("stop", "reject"):
        raise ValueError(f"on_error must be 'stop' or 'reject', got {on_error!r}")
    if cases is None:
        if csv is not None:
            cases = read_csv_cases(csv)
        elif images is not None:
            cases = find_cases(images, labels)
        else:
            raise ValueError("give images (and labels), csv or cases")
    cases = list(cases)
    rows, rejects = [], []
    for case in progress(cases, desc="checking cases", unit="case"):
        try:
            volume_format(case["image"])
            rows.append(check_case(case, label_values, require_label=require_labels))
        except InputError as exc:
            msg = str(exc) if str(exc).startswith(f"case {case['id']}") else f"case {case['id']}: {exc}"
            if on_error == "stop":
                raise InputError(msg) from None
            log.warning("rejected %s", msg)
            rejects.append({"id": case["id"], "image": case["image"], "label": case.get("label") or "",
                            "reason": msg})
    datalist = pd.DataFrame(rows, columns=DATALIST_COLUMNS)
    rejected = pd.DataFrame(rejects, columns=REJECT_COLUMNS)
    log.info("datalist: %d cases kept, %d rejected", len(datalist), len(rejected))
    if datalist.empty:
        raise InputError(f"no usable cases ({len(rejected)} rejected"
                         + (f"; first: {rejected['reason'].iloc[0]}" if len(rejected) else "") + ")")
    return datalist, rejected


def read_datalist(path: str | os.PathLike) -> pd.DataFrame:
    """Read a datalist written by :func:`write_datalist` (or any table with id and image columns)."""
    df = read_table(path, dtype=str, keep_default_na=False)
    if "id" not in df.columns or "image" not in df.columns:
        raise InputError(f"{path}: expected a datalist with columns id, image (from `theraflow seg datalist`)")
    for col in DATALIST_COLUMNS:
        if col not in df.columns:
            df[col] = ""
    return df


def items(datalist: pd.DataFrame, *, with_label: bool = True) -> list[dict]:
    """MONAI dictionary items: image, label (when present and wanted), id and content digests.

    The digests are under ``sha256_<key>``: MONAI's ``Spacingd`` takes any ``image_*`` entry for a
    metadata dict, so ``image_sha256`` cannot travel in an item.
    """
    out = []
    for row in datalist.to_dict("records"):
        item = {"id": row["id"], "image": row["image"], "sha256_image": row.get("image_sha256", "")}
        if with_label and row.get("label"):
            item["label"] = row["label"]
            item["sha256_label"] = row.get("label_sha256", "")
        out.append(item)
    return out
