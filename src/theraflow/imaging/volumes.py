"""Reading scans with their geometry: NIfTI files (nibabel) and DICOM series folders (MONAI + pydicom).

:func:`read_volume` returns the voxel array and the affine (voxel index → RAS mm) the way
MONAI's ``LoadImage`` sees them, so the checks in :mod:`theraflow.imaging.datalists`,
the preprocessing and the masks written by inference all agree on one grid. Every
error is an :class:`~theraflow.io.InputError` naming the file and what was expected.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from theraflow.io import InputError

NIFTI_SUFFIXES = (".nii", ".nii.gz")


def is_nifti(path: str | os.PathLike) -> bool:
    return str(path).lower().endswith(NIFTI_SUFFIXES)


def is_dicom_dir(path: str | os.PathLike) -> bool:
    return Path(path).is_dir()


def volume_format(path: str | os.PathLike) -> str:
    """``nifti`` for .nii/.nii.gz files, ``dicom`` for a folder holding one DICOM series."""
    if is_nifti(path):
        return "nifti"
    if is_dicom_dir(path):
        return "dicom"
    raise InputError(f"{path}: expected a NIfTI file (.nii, .nii.gz) or a folder holding one DICOM series")


def case_id(path: str | os.PathLike) -> str:
    """The case id a file or folder name implies: ``hippocampus_001.nii.gz`` → ``hippocampus_001``."""
    name = Path(path).name
    for suffix in (".nii.gz", ".nii"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


@dataclass
class Volume:
    """A 3D array (x, y, z voxel order of the file) with its voxel → RAS mm affine."""

    array: np.ndarray
    affine: np.ndarray
    path: str
    format: str
    meta: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.array.shape)

    @property
    def spacing(self) -> tuple[float, ...]:
        return tuple(float(s) for s in np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0)))

    @property
    def voxel_volume_mm3(self) -> float:
        return float(abs(np.linalg.det(self.affine[:3, :3])))


def read_volume(path: str | os.PathLike, *, data: bool = True) -> Volume:
    """Read a NIfTI file or a DICOM series folder; ``data=False`` reads the header only (NIfTI)."""
    fmt = volume_format(path)
    if fmt == "nifti":
        return _read_nifti(Path(path), data=data)
    return _read_dicom(Path(path))


def _read_nifti(path: Path, *, data: bool) -> Volume:
    import nibabel as nib

    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        img = nib.load(str(path))
    except Exception as exc:  # nibabel raises many types for damaged headers
        raise InputError(f"{path}: not a readable NIfTI file ({type(exc).__name__}: {exc})") from None
    shape = tuple(int(s) for s in img.shape)
    if data:
        try:
            array = np.asarray(img.dataobj)
        except Exception as exc:  # truncated or corrupt gzip stream, short file
            raise InputError(f"{path}: voxel data cannot be read — truncated or corrupt file "
                             f"({type(exc).__name__}: {exc})") from None
    else:
        array = np.empty((0,) * len(shape))
    return Volume(array=array, affine=np.asarray(img.affine, dtype=np.float64), path=str(path), format="nifti",
                  meta={"shape": shape, "dtype": str(img.get_data_dtype())})


def check_dicom_series(folder: Path, *, tolerance: float = 0.1) -> dict:
    """Check that a folder holds one complete DICOM series; return its geometry.

    Stops with a message when the folder has no DICOM files, more than one series, slices of
    different size or orientation, duplicate positions, or a gap where a slice is missing.
    """
    import pydicom

    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    headers = []
    for f in files:
        try:
            ds = pydicom.dcmread(str(f), stop_before_pixels=True)
        except Exception:
            continue  # not DICOM (a README, a thumbnail): ignored
        if "ImagePositionPatient" not in ds or "ImageOrientationPatient" not in ds:
            continue
        headers.append((f, ds))
    if not headers:
        raise InputError(f"{folder}: no DICOM image slices found (expected a folder holding one DICOM series)")
    series = {str(getattr(ds, "SeriesInstanceUID", "")) for _, ds in headers}
    if len(series) > 1:
        raise InputError(f"{folder}: holds {len(series)} DICOM series; expected one series per folder")
    if len(headers) < 2:
        raise InputError(f"{folder}: a single DICOM slice is a 2D image; expected a 3D series of slices")
    orient = np.array([float(v) for v in headers[0][1].ImageOrientationPatient])
    size = (int(headers[0][1].Rows), int(headers[0][1].Columns))
    for f, ds in headers:
        if (int(ds.Rows), int(ds.Columns)) != size:
            raise InputError(f"{folder}: slice {f.name} is {ds.Rows}x{ds.Columns}, expected {size[0]}x{size[1]}"
                             " like the other slices")
        if not np.allclose([float(v) for v in ds.ImageOrientationPatient], orient, atol=1e-4):
            raise InputError(f"{folder}: slice {f.name} has a different orientation from the other slices")
    normal = np.cross(orient[:3], orient[3:])
    pos = sorted((float(np.dot(normal, [float(v) for v in ds.ImagePositionPatient])), f.name) for f, ds in headers)
    z = np.array([p for p, _ in pos])
    steps = np.diff(z)
    if np.any(steps < 1e-6):
        i = int(np.argmin(steps))
        raise InputError(f"{folder}: slices {pos[i][1]} and {pos[i + 1][1]} have the same position "
                         f"({z[i]:.3f} mm); expected one slice per position")
    step = float(np.median(steps))
    bad = np.nonzero(np.abs(steps - step) > tolerance * step)[0]
    if len(bad):
        i = int(bad[0])
        missing = round(steps[i] / step) - 1
        what = (f"{missing} missing slice(s)" if missing >= 1 else "uneven slice spacing")
        raise InputError(f"{folder}: {what} between {pos[i][1]} (at {z[i]:.3f} mm) and {pos[i + 1][1]} "
                         f"(at {z[i + 1]:.3f} mm); expected a slice every {step:.3f} mm")
    ds0 = headers[0][1]
    return {"series_uid": str(getattr(ds0, "SeriesInstanceUID", "")), "slices": len(headers),
            "rows": size[0], "columns": size[1], "slice_step_mm": step,
            "modality": str(getattr(ds0, "Modality", ""))}


def _read_dicom(folder: Path) -> Volume:
    info = check_dicom_series(folder)
    from monai.data import PydicomReader

    reader = PydicomReader()
    try:
        img = reader.read(str(folder))
        array, meta = reader.get_data(img)
    except Exception as exc:
        raise InputError(f"{folder}: the DICOM series cannot be read ({type(exc).__name__}: {exc})") from None
    affine = np.asarray(meta["affine"], dtype=np.float64)
    return Volume(array=np.asarray(array), affine=affine, path=str(folder), format="dicom",
                  meta={**info, "shape": tuple(int(s) for s in np.asarray(array).shape)})


def image_loader_reader(path: str | os.PathLike) -> str:
    """The MONAI reader name for ``LoadImage`` (NIfTI: NibabelReader, DICOM folders: PydicomReader)."""
    return "NibabelReader" if is_nifti(path) else "PydicomReader"
