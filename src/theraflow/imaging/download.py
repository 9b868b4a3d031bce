"""Download and unpack a Medical Segmentation Decathlon task archive (e.g. Task04_Hippocampus).

The archive is streamed to a temporary file next to the destination, its checksum is
checked (``sha256:<hex>`` or ``md5:<hex>``; the MSD mirror MONAI uses publishes MD5), and
``imagesTr``/``labelsTr`` are unpacked into ``<dest>/images`` and ``<dest>/labels``
(macOS ``._*`` resource files skipped; members are extracted with tarfile's ``data``
filter, so no path can leave the destination).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path

from theraflow.io import InputError, atomic_write
from theraflow.progress import progress

log = logging.getLogger(__name__)

MSD_TASK04_URL = "https://msd-for-monai.s3-us-west-2.amazonaws.com/Task04_Hippocampus.tar"
MSD_TASK04_CHECKSUM = "md5:9d24dba78a72977dbd1d2e110310f31b"  # as recorded by monai.apps.DecathlonDataset


def _hasher(checksum: str | None):
    if not checksum:
        return None, None
    algo, _, digest = checksum.partition(":")
    if algo not in ("sha256", "md5") or not digest:
        raise ValueError(f"checksum must look like sha256:<hex> or md5:<hex>, got {checksum!r}")
    return hashlib.new(algo), digest.lower()


def fetch(url: str, dest: str | os.PathLike, *, checksum: str | None = None, timeout: float = 60) -> dict:
    """Download ``url`` to ``dest`` atomically; verify ``checksum``; return sizes and digests."""
    dest = Path(dest)
    h, expected = _hasher(checksum)
    sha = hashlib.sha256()
    size = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, atomic_write(dest, "wb") as fh:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with progress(total=total, unit="B", unit_scale=True, desc=Path(url).name) as bar:
                while block := resp.read(1 << 20):
                    fh.write(block)
                    sha.update(block)
                    if h is not None:
                        h.update(block)
                    size += len(block)
                    bar.update(len(block))
            if h is not None and h.hexdigest() != expected:
                raise InputError(f"{url}: checksum mismatch ({h.name} {h.hexdigest()}, expected {expected}); "
                                 "the download is corrupt or the archive has changed")
    except OSError as exc:
        raise InputError(f"{url}: download failed ({exc})") from None
    log.info("downloaded %s (%d bytes, sha256 %s)", url, size, sha.hexdigest())
    return {"url": url, "bytes": size, "sha256": sha.hexdigest()}


def unpack_msd(archive: str | os.PathLike, dest: str | os.PathLike) -> dict:
    """Unpack imagesTr/labelsTr of an MSD task archive into ``dest/images`` and ``dest/labels``."""
    dest = Path(dest)
    counts = {"images": 0, "labels": 0}
    with tempfile.TemporaryDirectory(dir=dest.parent if dest.parent.exists() else None) as tmp:
        try:
            with tarfile.open(archive) as tar:
                members = []
                for m in tar.getmembers():
                    parts = Path(m.name).parts
                    if (m.isfile() and len(parts) >= 2 and parts[-2] in ("imagesTr", "labelsTr")
                            and not parts[-1].startswith(".") and parts[-1].endswith((".nii.gz", ".nii"))):
                        members.append(m)
                if not members:
                    raise InputError(f"{archive}: no imagesTr/labelsTr NIfTI files; expected an MSD task archive")
                tar.extractall(tmp, members=members, filter="data")
        except tarfile.TarError as exc:
            raise InputError(f"{archive}: not a readable tar archive ({exc})") from None
        for m in members:
            parts = Path(m.name).parts
            kind = "images" if parts[-2] == "imagesTr" else "labels"
            target = dest / kind / parts[-1]
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(Path(tmp) / m.name, "rb") as src, atomic_write(target, "wb") as fh:
                shutil.copyfileobj(src, fh)
            counts[kind] += 1
    return counts


def download_msd(dest: str | os.PathLike, *, url: str = MSD_TASK04_URL, checksum: str | None = MSD_TASK04_CHECKSUM,
                 keep_archive: bool = False) -> dict:
    """Download an MSD task archive and unpack its training images and labels into ``dest``."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    archive = dest / Path(url).name
    info = fetch(url, archive, checksum=checksum)
    try:
        info.update(unpack_msd(archive, dest))
    finally:
        if not keep_archive:
            archive.unlink(missing_ok=True)
    return info
