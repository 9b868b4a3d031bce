"""Synthetic labelled volumes (MONAI ``create_test_image_3d``) for the offline demo and the tests.

Each case is a noisy volume with a few spheres whose intensity says their class; the
images get a non-trivial affine (anisotropic voxels, LPS voxel order, an origin) so the
demo exercises orientation, spacing and the geometry round trip like real scans.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from theraflow.io import atomic_write


def _save(array: np.ndarray, affine: np.ndarray, path: Path) -> None:
    import gzip

    import nibabel as nib

    img = nib.Nifti1Image(array, affine)
    img.set_sform(affine, 1)
    img.set_qform(affine, 1)
    with atomic_write(path, "wb") as fh:
        fh.write(gzip.compress(img.to_bytes(), mtime=0))


def make_synthetic(out_dir: str | os.PathLike, *, cases: int = 12, size: tuple[int, int, int] = (48, 48, 32),
                   classes: int = 2, spacing: tuple[float, float, float] = (1.0, 1.0, 1.5), seed: int = 0,
                   noise: float = 0.4, prefix: str = "synth") -> dict:
    """Write ``images/<prefix>_NNN.nii.gz`` and ``labels/<prefix>_NNN.nii.gz`` (labels 0..classes)."""
    from monai.data import create_test_image_3d

    out = Path(out_dir)
    rs = np.random.RandomState(seed)
    affine = np.diag([-spacing[0], -spacing[1], spacing[2], 1.0])  # LPS voxel order, like many DICOM-derived files
    affine[:3, 3] = [60.0, 40.0, -20.0]
    for i in range(cases):
        image, label = create_test_image_3d(size[0], size[1], size[2], num_objs=4, rad_max=max(4, min(size) // 4),
                                            rad_min=3, noise_max=noise, num_seg_classes=classes, random_state=rs)
        cid = f"{prefix}_{i:03d}"
        _save((image * 100).astype(np.float32), affine, out / "images" / f"{cid}.nii.gz")
        _save(label.astype(np.uint8), affine, out / "labels" / f"{cid}.nii.gz")
    return {"cases": cases, "size": list(size), "classes": classes, "spacing": list(spacing), "seed": seed,
            "images": str(out / "images"), "labels": str(out / "labels")}
