"""Model configs (unknown keys named, sizes checked) and the MSD download served from 127.0.0.1."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import io
import tarfile
import threading

import pytest

from theraflow.imaging.download import download_msd
from theraflow.imaging.modelconfig import ConfigError, load_model_config, resolve
from theraflow.io import InputError


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match=r"model config: train: unknown key\(s\) 'max_epoch'"):
        resolve({"train": {"max_epoch": 3}})


def test_patch_size_must_suit_the_network():
    with pytest.raises(ConfigError, match=r"train.patch_size \[40, 40, 40\] must be multiples of 16"):
        resolve({"train": {"patch_size": [40, 40, 40]}})


def test_dotted_overrides_and_shipped_configs(repo):
    cfg = load_model_config(repo / "models" / "seg_unet_hippocampus", {"train.max_epochs": 2})
    assert cfg["train"]["max_epochs"] == 2
    assert cfg["labels"] == {0: "background", 1: "anterior", 2: "posterior"}
    assert load_model_config(repo / "models" / "seg_unet_synthetic")["network"]["name"] == "unet"


@pytest.fixture()
def msd_server(tmp_path):
    """An HTTP server on 127.0.0.1 serving a small MSD-like tar (with macOS ._ files, as the real one has)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in ("imagesTr/hippocampus_001.nii.gz", "labelsTr/hippocampus_001.nii.gz",
                     "imagesTr/._hippocampus_001.nii.gz", "imagesTs/hippocampus_002.nii.gz", "dataset.json"):
            data = gzip.compress(b"fake nifti " + name.encode())
            info = tarfile.TarInfo(f"Task04_Hippocampus/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "Task04_Hippocampus.tar").write_bytes(buf.getvalue())
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "srv"))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/Task04_Hippocampus.tar", hashlib.sha256(buf.getvalue()).hexdigest()
    server.shutdown()


def test_download_unpacks_training_images_and_labels(msd_server, tmp_path):
    url, sha = msd_server
    info = download_msd(tmp_path / "data", url=url, checksum=f"sha256:{sha}")
    assert info["sha256"] == sha and (info["images"], info["labels"]) == (1, 1)
    assert sorted(p.name for p in (tmp_path / "data" / "images").iterdir()) == ["hippocampus_001.nii.gz"]
    assert (tmp_path / "data" / "labels" / "hippocampus_001.nii.gz").exists()
    assert not (tmp_path / "data" / "Task04_Hippocampus.tar").exists()


def test_download_checksum_mismatch_stops(msd_server, tmp_path):
    url, _ = msd_server
    with pytest.raises(InputError, match="checksum mismatch"):
        download_msd(tmp_path / "data", url=url, checksum="md5:" + "0" * 32)
    assert not (tmp_path / "data" / "images").exists()
