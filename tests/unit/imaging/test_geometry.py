"""Masks come back on the input's own grid: same shape, same affine, same voxel correspondence."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import torch

from theraflow.imaging.infer import segment_case
from theraflow.imaging.modelconfig import resolve

from .helpers import TINY_MODEL, write_dicom_series, write_nifti


class AboveMean(torch.nn.Module):
    """A stand-in network: class 1 where the (z-scored) image is above ``threshold`` (exact, no learning)."""

    def __init__(self, threshold: float = 0.0):
        super().__init__()
        self.threshold = threshold

    def forward(self, x):
        fg = (x > self.threshold).float() * 20.0
        return torch.cat([10.0 - fg, fg, torch.zeros_like(x)], dim=1)


def _cfg(**pre):
    cfg = {**TINY_MODEL, "preprocess": {**TINY_MODEL["preprocess"], **pre}}
    cfg["infer"] = {**cfg["infer"], "largest_component": False, "tta_flip": False}
    return resolve(cfg)


OBLIQUE = np.array([[-0.9, 0.1, 0.0, 12.0], [0.12, 1.1, 0.05, -30.0], [0.0, -0.06, 2.5, 4.0], [0, 0, 0, 1]])


@pytest.mark.parametrize("affine", [np.diag([1.0, 1.0, 1.0, 1.0]), np.diag([-0.8, -1.2, 2.0, 1.0]), OBLIQUE],
                         ids=["identity", "lps-anisotropic", "oblique"])
def test_nifti_round_trip_reorient_and_pad(tmp_path, affine):
    rng = np.random.default_rng(0)
    image = rng.normal(size=(23, 30, 11)).astype(np.float32)  # odd sizes: padded to the window and back
    src = write_nifti(tmp_path / "in.nii.gz", image, affine)
    src_img = nib.load(src)
    row = segment_case(AboveMean(), _cfg(), {"id": "case/../x 1", "image": str(src)}, tmp_path / "out",
                       tta=False, largest_component=False, device=torch.device("cpu"))
    out = nib.load(row["mask"])
    assert out.shape == src_img.shape
    np.testing.assert_allclose(out.affine, src_img.affine, atol=1e-5)
    np.testing.assert_allclose(out.header.get_sform(), src_img.header.get_sform(), atol=1e-5)
    assert int(out.header["sform_code"]) == int(src_img.header["sform_code"])
    assert out.get_data_dtype() == np.uint8
    mask = np.asarray(out.dataobj)
    expected = (image > image.mean()).astype(np.uint8)  # z-score > 0 ⇔ above the mean, voxel for voxel
    assert (mask == expected).mean() > 0.999
    assert "/" not in row["mask"].split("out/")[-1]  # the id became a safe file name


def test_nifti_round_trip_with_resampling(tmp_path):
    image = np.zeros((20, 24, 9), np.float32)
    image[5:15, 6:18, 2:7] = 1.0
    src = write_nifti(tmp_path / "in.nii.gz", image, np.diag([0.7, 0.9, 2.2, 1.0]))
    row = segment_case(AboveMean(0.5), _cfg(spacing=[1.0, 1.0, 1.0], intensity="none"), {"id": "r", "image": str(src)},
                       tmp_path / "out", tta=False, largest_component=False, device=torch.device("cpu"))
    out = nib.load(row["mask"])
    assert out.shape == image.shape
    np.testing.assert_allclose(out.affine, nib.load(src).affine, atol=1e-5)
    mask = np.asarray(out.dataobj) > 0
    dice = 2 * (mask & (image > 0)).sum() / (mask.sum() + (image > 0).sum())
    assert dice > 0.85  # resampled to 1 mm and back: the box survives (a shift or flip would not)


def test_dicom_input_gives_nifti_mask_and_geometry(tmp_path):
    from monai.transforms import LoadImage

    vol = np.zeros((20, 24, 8), np.int16)
    vol[4:12, 6:20, 2:6] = 500
    series = write_dicom_series(tmp_path / "series", vol)
    row = segment_case(AboveMean(), _cfg(), {"id": "dcm", "image": str(series)}, tmp_path / "out", tta=False,
                       largest_component=False, device=torch.device("cpu"))
    out = nib.load(row["mask"])
    loaded = LoadImage(reader="PydicomReader", image_only=True)(str(series))
    assert out.shape == tuple(loaded.shape)
    np.testing.assert_allclose(out.affine, np.asarray(loaded.affine), atol=1e-4)
    np.testing.assert_array_equal(np.asarray(out.dataobj) > 0, np.asarray(loaded) > 0)
    geometry = json.loads((tmp_path / "out" / "dcm.geometry.json").read_text())
    assert geometry["shape"] == list(out.shape) and geometry["format"] == "dicom"
    np.testing.assert_allclose(geometry["affine_ras"], out.affine, atol=1e-4)
    assert sorted(round(s, 3) for s in geometry["spacing_mm"]) == [0.8, 0.8, 2.0]
