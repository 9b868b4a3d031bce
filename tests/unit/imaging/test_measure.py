"""Volumes in mL from the voxel size; Dice and HD95 against a reference on the scan's grid."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from theraflow.imaging.measure import measure, measure_case, summarize

from .helpers import write_nifti


def test_volume_in_ml_uses_the_affine(tmp_path):
    mask = np.zeros((20, 20, 10), np.uint8)
    mask[:10, :10, :5] = 1  # 500 voxels
    mask[15:, 15:, 8:] = 2  # 50 voxels
    path = write_nifti(tmp_path / "m.nii.gz", mask, np.diag([-0.5, 0.8, 2.5, 1.0]))  # 1.0 mm^3 per voxel
    row = measure_case(str(path), {1: "a", 2: "b"})
    assert row == {"volume_ml_a": 0.5, "volume_ml_b": 0.05}


def test_dice_and_hd95(tmp_path):
    ref = np.zeros((30, 30, 30), np.uint8)
    ref[5:15, 5:15, 5:15] = 1
    pred = np.zeros_like(ref)
    pred[5:15, 5:15, 7:17] = 1  # shifted by 2 voxels along z
    spacing = np.diag([1.0, 1.0, 1.5, 1.0])
    m = write_nifti(tmp_path / "p.nii.gz", pred, spacing)
    r = write_nifti(tmp_path / "r.nii.gz", ref, spacing)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        row = measure_case(str(m), {1: "a", 2: "b"}, str(r))
    assert not [w for w in caught if "always_return_as_numpy" in str(w.message)]  # MONAI's own deprecation, hushed
    assert row["dice_a"] == pytest.approx(0.8)
    assert row["hd95_mm_a"] == pytest.approx(3.0)  # 2 voxels × 1.5 mm
    assert np.isnan(row["dice_b"])  # absent in the reference: no Dice, not a perfect one
    assert row["dice_mean"] == pytest.approx(0.8)
    assert row["ref_volume_ml_a"] == pytest.approx(1.5)


def test_measure_table_and_grid_mismatch_reject(tmp_path):
    a = write_nifti(tmp_path / "a.nii.gz", np.ones((4, 4, 4), np.uint8))
    b = write_nifti(tmp_path / "b.nii.gz", np.ones((4, 4, 5), np.uint8))
    preds = pd.DataFrame({"id": ["x", "y"], "mask": [str(a), str(a)]})
    datalist = pd.DataFrame({"id": ["x", "y"], "label": [str(a), str(b)]})
    table, rejects = measure(preds, datalist, labels={0: "bg", 1: "a"})
    assert list(table["id"]) == ["x"] and table["dice_a"].iloc[0] == 1.0
    assert list(rejects["id"]) == ["y"] and "does not match" in rejects["reason"].iloc[0]
    s = summarize(table, {1: "a"})
    assert s["all"]["dice_a"]["mean"] == 1.0
