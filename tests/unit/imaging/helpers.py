"""Small files the imaging tests make themselves: NIfTI volumes, DICOM series, a tiny model config."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

TINY_MODEL = {
    "labels": {0: "background", 1: "a", 2: "b"},
    "network": {"name": "unet", "params": {"channels": [4, 8, 16, 32], "strides": [2, 2, 2], "num_res_units": 1}},
    "preprocess": {"orientation": "RAS", "spacing": None, "intensity": "zscore", "pad_to": [32, 32, 16]},
    "augment": {"flip_prob": 0.5, "affine_prob": 0.5, "intensity_prob": 0.3, "noise_prob": 0.0},
    "train": {"patch_size": [32, 32, 16], "batch_size": 2, "max_epochs": 2, "val_every": 1, "num_workers": 0,
              "lr": 0.01},
    "infer": {"overlap": 0.25, "sw_batch_size": 2, "tta_flip": True, "tta_axes": [0], "largest_component": True},
}


def write_nifti(path: Path, array: np.ndarray, affine: np.ndarray | None = None, *, compress: bool = True) -> Path:
    import nibabel as nib

    affine = np.eye(4) if affine is None else affine
    img = nib.Nifti1Image(array, affine)
    img.set_sform(affine, 1)
    img.set_qform(affine, 1)
    data = img.to_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if str(path).endswith(".gz") and compress else data)
    return path


def blob_case(shape=(30, 28, 14), seed=0):
    """An image with two bright blobs and their labels (1 and 2)."""
    rng = np.random.default_rng(seed)
    image = rng.normal(0, 0.2, shape).astype(np.float32)
    label = np.zeros(shape, np.uint8)
    x, y, z = np.indices(shape)
    c1 = (shape[0] * 0.3, shape[1] * 0.5, shape[2] * 0.5)
    c2 = (shape[0] * 0.7, shape[1] * 0.5, shape[2] * 0.5)
    for value, c in ((1, c1), (2, c2)):
        m = ((x - c[0]) ** 2 + (y - c[1]) ** 2 + ((z - c[2]) * 2) ** 2) < 25
        label[m] = value
        image[m] += 1.0 * value
    return image, label


def write_dicom_series(folder: Path, array: np.ndarray, *, spacing=(0.8, 0.8, 2.0), skip: int | None = None,
                       origin=(-50.0, -40.0, 10.0)) -> Path:
    """Write ``array`` (rows, cols, slices) as an axial CT-like DICOM series; ``skip`` drops one slice."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    series_uid, study_uid = generate_uid(), generate_uid()
    data = np.asarray(array, dtype=np.int16)
    for k in range(data.shape[2]):
        if skip is not None and k == skip:
            continue
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(folder / f"slice_{k:03d}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = meta.MediaStorageSOPClassUID
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.Modality = "MR"
        ds.PatientID = "TEST"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [origin[0], origin[1], origin[2] + k * spacing[2]]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [spacing[0], spacing[1]]
        ds.SliceThickness = spacing[2]
        ds.Rows, ds.Columns = data.shape[0], data.shape[1]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
        ds.PixelRepresentation = 1
        ds.PixelData = np.ascontiguousarray(data[:, :, k]).tobytes()
        ds.save_as(str(folder / f"slice_{k:03d}.dcm"), enforce_file_format=True)
    return folder
