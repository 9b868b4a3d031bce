"""Overlay PNGs: three planes with contours; shape mismatches are reported, not drawn."""

from __future__ import annotations

import numpy as np

from theraflow.imaging.overlays import render_overlay

from .helpers import blob_case, write_nifti


def test_overlay_png(tmp_path):
    image, label = blob_case()
    affine = np.diag([-1.0, 1.2, 2.0, 1.0])
    img = write_nifti(tmp_path / "i.nii.gz", image, affine)
    lab = write_nifti(tmp_path / "l.nii.gz", label, affine)
    png = render_overlay(str(img), str(lab), str(lab), {0: "bg", 1: "a", 2: "b"}, title="case")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
