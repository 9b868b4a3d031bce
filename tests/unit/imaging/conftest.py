"""Fixtures for the imaging tests: a tiny synthetic labelled set and a tiny trained model (session-wide)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from .helpers import TINY_MODEL, blob_case, write_nifti

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    # The tests share a small CPU with other jobs: one torch thread avoids OpenMP threads waiting on each other.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def blob_dataset(tmp_path_factory):
    """Six cases with an LPS, anisotropic affine and a size the network does not divide (30x28x14)."""
    root = tmp_path_factory.mktemp("blobs")
    affine = np.diag([-1.0, -1.2, 2.0, 1.0])
    affine[:3, 3] = [20.0, 30.0, -10.0]
    for i in range(6):
        image, label = blob_case(seed=i)
        write_nifti(root / "images" / f"case_{i:02d}.nii.gz", image, affine)
        write_nifti(root / "labels" / f"case_{i:02d}.nii.gz", label, affine)
    return root


@pytest.fixture(scope="session")
def tiny_model(blob_dataset, tmp_path_factory):
    """A model trained for two epochs on the blob cases (the end-to-end path, also reused by other tests)."""
    from theraflow import imaging

    out = tmp_path_factory.mktemp("model")
    datalist, _ = imaging.make_datalist(images=blob_dataset / "images", labels=blob_dataset / "labels",
                                        label_values=[0, 1, 2])
    record = imaging.train(datalist, out / "model", model_config=TINY_MODEL, cache_dir=out / "cache",
                           split={"val_count": 2}, progress_bar=False)
    return {"dir": out / "model", "record": record, "datalist": datalist, "cache": out / "cache"}
