"""The nnU-Net v2 raw-dataset export (issue 12): names, spacing, label values and the split file, on a tiny
synthetic set, without nnunetv2 and without training."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from theraflow.errors import InputError
from theraflow.imaging.datalists import find_cases
from theraflow.imaging.nnunet_export import export_nnunet, nnunet_case_name
from theraflow.imaging.synth import make_synthetic

from .helpers import write_nifti


@pytest.fixture
def synthetic(tmp_path):
    info = make_synthetic(tmp_path / "src", cases=5, size=(20, 18, 12), classes=2, spacing=(0.8, 1.0, 1.5))
    return find_cases(info["images"], info["labels"])


def test_export_layout_spacing_labels_and_split(synthetic, tmp_path):
    ids = sorted(c["id"] for c in synthetic)
    out = export_nnunet(synthetic, tmp_path / "raw", dataset_id=4, name="Hippocampus",
                        labels={"anterior": 1, "posterior": 2}, train_ids=ids[:3], val_ids=ids[3:])
    folder = tmp_path / "raw" / "Dataset004_Hippocampus"
    assert out["folder"] == str(folder)
    assert sorted(p.name for p in (folder / "imagesTr").iterdir()) == [f"{i}_0000.nii.gz" for i in ids]
    assert sorted(p.name for p in (folder / "labelsTr").iterdir()) == [f"{i}.nii.gz" for i in ids]
    meta = json.loads((folder / "dataset.json").read_text())
    assert meta["labels"] == {"background": 0, "anterior": 1, "posterior": 2}
    assert meta["channel_names"] == {"0": "MRI"} and meta["numTraining"] == 5 and meta["file_ending"] == ".nii.gz"
    assert json.loads((folder / "splits_final.json").read_text()) == [{"train": ids[:3], "val": ids[3:]}]
    for c in synthetic:  # the header nnU-Net plans from is the source's: spacing and voxels unchanged
        src, dst = nib.load(c["image"]), nib.load(folder / "imagesTr" / f"{c['id']}_0000.nii.gz")
        assert np.allclose(dst.header.get_zooms(), (0.8, 1.0, 1.5))
        assert np.allclose(src.affine, dst.affine)
        lab = np.asarray(nib.load(folder / "labelsTr" / f"{c['id']}.nii.gz").dataobj)
        assert set(np.unique(lab).tolist()) <= {0, 1, 2}
        assert np.array_equal(lab, np.asarray(nib.load(c["label"]).dataobj))


def test_export_refuses_bad_labels_names_and_splits(synthetic, tmp_path):
    ids = sorted(c["id"] for c in synthetic)
    bad = dict(synthetic[0])
    lab = np.asarray(nib.load(bad["label"]).dataobj).copy()
    lab[0, 0, 0] = 7
    bad["label"] = str(write_nifti(tmp_path / "bad_label.nii.gz", lab, nib.load(bad["label"]).affine))
    cases = [bad, *synthetic[1:]]
    with pytest.raises(InputError, match=r"case .*label values \[7\] are outside"):
        export_nnunet(cases, tmp_path / "raw", dataset_id=4, name="H", labels={"a": 1, "b": 2},
                      train_ids=ids[:3], val_ids=ids[3:])
    with pytest.raises(InputError, match="consecutive"):
        export_nnunet(synthetic, tmp_path / "raw", dataset_id=4, name="H", labels={"a": 1, "b": 3},
                      train_ids=ids[:3], val_ids=ids[3:])
    with pytest.raises(InputError, match="both train and val"):
        export_nnunet(synthetic, tmp_path / "raw", dataset_id=4, name="H", labels={"a": 1, "b": 2},
                      train_ids=ids[:3], val_ids=ids[2:])
    clash = [dict(synthetic[0], id="case/1"), dict(synthetic[1], id="case 1")]
    with pytest.raises(InputError, match="both become 'case_1'"):
        export_nnunet(clash, tmp_path / "raw", dataset_id=4, name="H", labels={"a": 1, "b": 2},
                      train_ids=["case/1"], val_ids=["case 1"])
    assert nnunet_case_name("../../etc/passwd") == "etc_passwd"  # an id never becomes a path
