"""Datalists: cases found and checked; each kind of bad input gives a clear message or a rejects row."""

from __future__ import annotations

import numpy as np
import pytest

from theraflow.imaging.datalists import make_datalist
from theraflow.io import InputError, write_table

from .helpers import blob_case, write_dicom_series, write_nifti


@pytest.fixture()
def folder(tmp_path):
    """Two good cases; tests add bad ones."""
    for i in range(2):
        image, label = blob_case(seed=i)
        write_nifti(tmp_path / "images" / f"good_{i}.nii.gz", image)
        write_nifti(tmp_path / "labels" / f"good_{i}.nii.gz", label)
    return tmp_path


def _reject(folder, cid):
    datalist, rejects = make_datalist(images=folder / "images", labels=folder / "labels", label_values=[0, 1, 2],
                                      on_error="reject")
    assert sorted(datalist["id"]) == ["good_0", "good_1"]
    assert list(rejects["id"]) == [cid]
    reason = rejects["reason"].iloc[0]
    with pytest.raises(InputError) as err:
        make_datalist(images=folder / "images", labels=folder / "labels", label_values=[0, 1, 2], on_error="stop")
    assert cid in str(err.value)
    return reason


def test_good_folder_pair(folder):
    datalist, rejects = make_datalist(images=folder / "images", labels=folder / "labels", label_values=[0, 1, 2])
    assert list(datalist["id"]) == ["good_0", "good_1"]
    assert rejects.empty
    assert (datalist["shape"] == "30x28x14").all()
    assert datalist["image_sha256"].str.len().eq(64).all() and datalist["label_sha256"].str.len().eq(64).all()


def test_csv_datalist_with_relative_paths(folder):
    write_table(__import__("pandas").DataFrame({"id": ["x"], "image": ["images/good_0.nii.gz"],
                                                 "label": ["labels/good_0.nii.gz"]}), folder / "cases.csv")
    datalist, _ = make_datalist(csv=folder / "cases.csv", label_values=[0, 1, 2])
    assert list(datalist["id"]) == ["x"]
    assert datalist["image"].iloc[0] == str(folder / "images" / "good_0.nii.gz")


def test_truncated_gzip(folder):
    image, label = blob_case()
    path = write_nifti(folder / "images" / "trunc.nii.gz", image)
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    write_nifti(folder / "labels" / "trunc.nii.gz", label)
    reason = _reject(folder, "trunc")
    assert "trunc.nii.gz" in reason and ("truncated" in reason or "not a readable" in reason)


def test_2d_image(folder):
    write_nifti(folder / "images" / "flat.nii.gz", np.zeros((32, 32), np.float32))
    reason = _reject(folder, "flat")
    assert "2D image" in reason and "expected a 3D volume" in reason


def test_nan_voxels(folder):
    image, label = blob_case()
    image[3, 4, 5] = np.nan
    image[0, 0, 0] = np.inf
    write_nifti(folder / "images" / "nan.nii.gz", image)
    write_nifti(folder / "labels" / "nan.nii.gz", label)
    reason = _reject(folder, "nan")
    assert "2 of" in reason and "not finite" in reason


def test_shape_mismatch(folder):
    image, label = blob_case()
    write_nifti(folder / "images" / "mism.nii.gz", image)
    write_nifti(folder / "labels" / "mism.nii.gz", label[:-2])
    reason = _reject(folder, "mism")
    assert "label shape (28, 28, 14) differs from image shape (30, 28, 14)" in reason


def test_affine_mismatch(folder):
    image, label = blob_case()
    write_nifti(folder / "images" / "aff.nii.gz", image)
    write_nifti(folder / "labels" / "aff.nii.gz", label, np.diag([2.0, 1.0, 1.0, 1.0]))
    assert "affine differs" in _reject(folder, "aff")


def test_label_values_outside_set(folder):
    image, label = blob_case()
    label[0, 0, 0] = 7
    write_nifti(folder / "images" / "vals.nii.gz", image)
    write_nifti(folder / "labels" / "vals.nii.gz", label)
    reason = _reject(folder, "vals")
    assert "label values [7] are outside the declared set [0, 1, 2]" in reason


def test_dicom_series_loads(tmp_path):
    vol = (np.arange(20 * 24 * 8).reshape(20, 24, 8) % 97).astype(np.int16)
    write_dicom_series(tmp_path / "images" / "dcm_case", vol)
    datalist, rejects = make_datalist(images=tmp_path / "images")
    assert rejects.empty
    row = datalist.iloc[0]
    assert row["id"] == "dcm_case" and row["format"] == "dicom"
    assert sorted(int(s) for s in row["shape"].split("x")) == [8, 20, 24]
    assert sorted(float(s) for s in row["spacing"].split("x")) == [0.8, 0.8, 2.0]


def test_dicom_series_with_missing_slice(tmp_path):
    vol = np.ones((16, 16, 8), np.int16)
    write_dicom_series(tmp_path / "images" / "gap", vol, skip=4)
    write_dicom_series(tmp_path / "images" / "ok", vol)
    datalist, rejects = make_datalist(images=tmp_path / "images", on_error="reject")
    assert list(datalist["id"]) == ["ok"]
    reason = rejects.set_index("id").loc["gap", "reason"]
    assert "1 missing slice(s) between slice_003.dcm" in reason and "slice_005.dcm" in reason
    assert "expected a slice every 2.000 mm" in reason
