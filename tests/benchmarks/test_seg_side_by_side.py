"""The segmentation side by side scores nnU-Net's masks with theraflow's own code, case by case.

Without nnunetv2 (a benchmark extra, not in the test environment): the run's report and its
validation masks are stood in for — each mask a copy of the case's label, under the nnU-Net case
name the export gave it, or a shifted copy for one case — and the row must map every mask back to
its theraflow case, score it on the scan's grid and carry the fields the JSON promises.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from argparse import Namespace
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("seg_bench", REPO / "benchmarks" / "seg_hippocampus.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_nnunet_masks_are_scored_by_theraflow_code(tmp_path):
    from theraflow import imaging
    from theraflow.imaging.nnunet_export import nnunet_case_name

    bench = _bench()
    data = imaging.make_synthetic(tmp_path / "data", cases=5, size=(24, 24, 12), seed=3)
    datalist, _ = imaging.make_datalist(images=data["images"], labels=data["labels"], label_values=[0, 1, 2])
    ids = sorted(datalist["id"])
    train_ids, val_ids = set(ids[:3]), set(ids[3:])
    work = tmp_path / "nnunet"
    folder = work / "results" / "fold_0" / "validation"
    folder.mkdir(parents=True)
    labels = dict(zip(datalist["id"], datalist["label"]))
    for i, cid in enumerate(sorted(val_ids)):
        dst = folder / f"{nnunet_case_name(cid)}.nii.gz"
        if i == 0:
            shutil.copyfile(labels[cid], dst)  # a perfect mask
        else:  # a mask shifted by two voxels: Dice below 1, HD95 about 2 voxels
            img = nib.load(labels[cid])
            nib.save(nib.Nifti1Image(np.roll(np.asarray(img.dataobj), 2, axis=0), img.affine, img.header), dst)
    (work / "nnunet_run.json").write_text(json.dumps({
        "validation_folder": str(folder), "nnunetv2": "2.x", "plan": {"patch_size": [24, 24, 12]},
        "trainer": {"epochs_run": 2, "iterations_per_epoch": 5}, "seconds": {"train": 90.0},
        "processes_for_augmentation": 1,
        "curve": [{"epoch": 0, "minutes": 0.7, "pseudo_dice": 0.4}, {"epoch": 1, "minutes": 1.5, "pseudo_dice": 0.6}]}))
    args = Namespace(nnunet_work=str(work), skip_train=True, minutes=2.0)
    val_dl = datalist[datalist["id"].isin(val_ids)]
    row = bench.run_nnunet(args, datalist, val_dl, {1: "anterior", 2: "posterior"}, train_ids, val_ids)

    assert row["model"] == "nnunet" and row["minutes"] == 1.5
    assert set(row["dice"]) == {"anterior", "posterior"} and row["epochs"] == 2
    measured = (work / "val_measurements_nnunet.tsv").read_text().splitlines()
    assert len(measured) == 1 + len(val_ids)  # one row per validation case, by theraflow id
    assert 0.0 < row["dice_mean"] < 1.0 and row["hd95_mm"] > 0
    assert row["curve"][-1] == {"minutes": 1.5, "epoch": 1, "dice": 0.6}
    exported = json.loads(next(work.glob("raw/Dataset*/case_ids.json")).read_text())
    assert {v["id"] for v in exported.values()} == set(ids)


def test_a_missing_nnunet_mask_stops_the_run(tmp_path):
    from theraflow import imaging

    bench = _bench()
    data = imaging.make_synthetic(tmp_path / "data", cases=4, size=(24, 24, 12), seed=4)
    datalist, _ = imaging.make_datalist(images=data["images"], labels=data["labels"], label_values=[0, 1, 2])
    ids = sorted(datalist["id"])
    work = tmp_path / "nnunet"
    (work / "val").mkdir(parents=True)
    (work / "nnunet_run.json").write_text(json.dumps({"validation_folder": str(work / "val"), "curve": []}))
    args = Namespace(nnunet_work=str(work), skip_train=True, minutes=1.0)
    with pytest.raises(SystemExit, match="no prediction for 2 validation cases"):
        bench.run_nnunet(args, datalist, datalist[datalist["id"].isin(ids[2:])], {1: "a", 2: "b"},
                         set(ids[:2]), set(ids[2:]))
