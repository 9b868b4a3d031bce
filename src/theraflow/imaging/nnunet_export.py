"""Export labelled cases to nnU-Net v2's raw dataset layout, with theraflow's split as nnU-Net's split file.

``export_nnunet(cases, root, dataset_id=4, name="Hippocampus", labels={...}, train_ids=..., val_ids=...)``
writes ``root/DatasetNNN_Name/``:

- ``imagesTr/<case>_0000.nii.gz`` and ``labelsTr/<case>.nii.gz`` — the files as they are (copied, so the
  header's spacing and orientation are what nnU-Net plans from); a ``.nii`` input is gzipped on the way;
- ``dataset.json`` — ``channel_names``, ``labels`` (name → value, ``background`` 0), ``numTraining``,
  ``file_ending``;
- ``splits_final.json`` — one fold, ``[{"train": [...], "val": [...]}]``: copy it into
  ``nnUNet_preprocessed/DatasetNNN_Name/`` after planning so that fold 0 trains and validates on
  theraflow's cases;
- ``case_ids.json`` — nnU-Net case name → theraflow case id and source files.

Every case is checked first (:func:`theraflow.imaging.datalists.check_case`: a 3D image, a label on the
same grid, integer label values inside the declared set); a bad case stops the export with its name and
the problem. Case ids become nnU-Net file names only after sanitizing (letters, digits, ``_``); two ids
that sanitize alike are an error, not an overwrite. Writes are atomic; nothing here needs nnunetv2.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from theraflow.errors import InputError
from theraflow.io import atomic_write, write_json

_SAFE = re.compile(r"[^A-Za-z0-9_]+")


def nnunet_case_name(case_id: str) -> str:
    """A case id as a file-name-safe nnU-Net case name (``sub-01/ses 2`` → ``sub_01_ses_2``)."""
    name = _SAFE.sub("_", str(case_id)).strip("_")
    if not name:
        raise InputError(f"case id {case_id!r}: nothing file-name-safe is left of it (letters, digits, _)")
    return name


def dataset_folder_name(dataset_id: int, name: str) -> str:
    if not 1 <= int(dataset_id) <= 999:
        raise InputError(f"nnU-Net dataset id {dataset_id}: expected 1..999")
    safe = re.sub(r"[^A-Za-z0-9]+", "", name)
    if not safe:
        raise InputError(f"nnU-Net dataset name {name!r}: expected letters or digits")
    return f"Dataset{int(dataset_id):03d}_{safe}"


def _copy_nifti_gz(src: str | os.PathLike, dst: Path) -> None:
    src = Path(src)
    with atomic_write(dst, "wb") as out:
        if src.name.lower().endswith(".gz"):
            with open(src, "rb") as f:
                shutil.copyfileobj(f, out)
        else:
            with open(src, "rb") as f, gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz:
                shutil.copyfileobj(f, gz)


def export_nnunet(cases: Iterable[Mapping], root: str | os.PathLike, *, dataset_id: int, name: str,
                  labels: Mapping[str, int], train_ids: Sequence[str], val_ids: Sequence[str],
                  channel: str = "MRI") -> dict:
    """Write the raw dataset (see the module docstring); returns its paths and counts.

    ``cases``: dicts with ``id``, ``image``, ``label`` (theraflow datalist rows); ``labels``: structure
    name → label value, ``background`` 0 included or added; ``train_ids``/``val_ids``: theraflow case ids.
    """
    from theraflow.imaging.datalists import check_case

    cases = list(cases)
    by_id = {str(c["id"]): c for c in cases}
    if len(by_id) != len(cases):
        raise InputError("nnU-Net export: duplicate case ids in the case list")
    labels = {"background": 0, **{str(k): int(v) for k, v in labels.items()}}
    if sorted(labels.values()) != list(range(len(labels))):
        raise InputError(f"nnU-Net export: label values {sorted(labels.values())} must be 0..{len(labels) - 1} "
                         "(nnU-Net requires consecutive integers)")
    wanted = [*map(str, train_ids), *map(str, val_ids)]
    overlap = sorted(set(map(str, train_ids)) & set(map(str, val_ids)))
    if overlap:
        raise InputError(f"nnU-Net export: cases in both train and val: {overlap[:5]}")
    missing = [i for i in wanted if i not in by_id]
    if missing:
        raise InputError(f"nnU-Net export: split names cases not in the case list: {missing[:5]}")
    names: dict[str, str] = {}
    owner: dict[str, str] = {}  # nnU-Net name -> the case id that took it
    for cid in wanted:
        n = nnunet_case_name(cid)
        if n in owner:
            raise InputError(f"nnU-Net export: case ids {owner[n]!r} and {cid!r} both become {n!r}")
        names[cid], owner[n] = n, cid
    rows = {cid: check_case(by_id[cid], list(labels.values()), require_label=True) for cid in wanted}

    folder = Path(root) / dataset_folder_name(dataset_id, name)
    images, labels_dir = folder / "imagesTr", folder / "labelsTr"  # atomic_write makes the folders
    for cid in wanted:
        _copy_nifti_gz(by_id[cid]["image"], images / f"{names[cid]}_0000.nii.gz")
        _copy_nifti_gz(by_id[cid]["label"], labels_dir / f"{names[cid]}.nii.gz")
    write_json(folder / "dataset.json", {"channel_names": {"0": channel}, "labels": labels,
                                         "numTraining": len(wanted), "file_ending": ".nii.gz",
                                         "name": name, "description": "exported by theraflow.imaging.nnunet_export"})
    split = [{"train": [names[i] for i in map(str, train_ids)], "val": [names[i] for i in map(str, val_ids)]}]
    write_json(folder / "splits_final.json", split)
    write_json(folder / "case_ids.json", {names[c]: {"id": c, "image": str(by_id[c]["image"]),
                                                     "label": str(by_id[c]["label"]),
                                                     "spacing": rows[c]["spacing"]} for c in wanted})
    return {"folder": str(folder), "dataset_json": str(folder / "dataset.json"),
            "splits_final": str(folder / "splits_final.json"), "train": len(train_ids), "val": len(val_ids)}
