"""Training (Lightning), checkpoints and resume, bundles without pickle, and the tiny end-to-end run on CPU."""

from __future__ import annotations

import time

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from theraflow import imaging
from theraflow.imaging.bundle import load_bundle
from theraflow.io import InputError

from .helpers import TINY_MODEL


@pytest.mark.timeout(180)
def test_tiny_end_to_end_on_cpu(blob_dataset, tmp_path):
    """synthetic volumes → datalist → preprocess → train → infer → measure → overlays → report, < 3 min on CPU."""
    start = time.perf_counter()
    data = imaging.make_synthetic(tmp_path / "data", cases=6, size=(32, 32, 16), seed=1)
    datalist, rejects = imaging.make_datalist(images=data["images"], labels=data["labels"], label_values=[0, 1, 2])
    stats, _ = imaging.preprocess(datalist, tmp_path / "cache", model_config=TINY_MODEL)
    assert stats["misses"] == 6
    record = imaging.train(datalist, tmp_path / "model", model_config=TINY_MODEL, cache_dir=tmp_path / "cache",
                           split={"val_count": 2}, progress_bar=False)
    assert record["epochs"] == 2 and record["train_cases"] == 4 and record["val_cases"] == 2
    assert record["cache"]["misses"] == 0  # training read what preprocessing cached
    preds, failed = imaging.segment(tmp_path / "model", datalist, tmp_path / "masks")
    assert failed.empty and len(preds) == 6
    table, _ = imaging.measure(preds, datalist, labels={1: "a", 2: "b"}, split=tmp_path / "model" / "split.tsv")
    assert {"volume_ml_a", "dice_a", "hd95_mm_b", "dice_mean", "split"} <= set(table.columns)
    assert (table["split"] == "val").sum() == 2
    ov = imaging.overlays(preds, tmp_path / "png", labels={1: "a", 2: "b"}, datalist=datalist, measurements=table)
    summary = imaging.build_report(table, tmp_path / "report.html", labels={1: "a", 2: "b"}, model=tmp_path / "model",
                                   history=tmp_path / "model" / "history.tsv", overlays=ov)
    html = (tmp_path / "report.html").read_text()
    assert "Dice distribution" in html and "Worst" in html and "data:image/png;base64" in html
    assert summary["val"]["cases"] == 2
    assert time.perf_counter() - start < 180


def test_history_and_bundle(tiny_model):
    model = tiny_model["dir"]
    history = pd.read_csv(model / "history.tsv", sep="\t")
    assert list(history["epoch"]) == [0, 1]
    assert history["val_dice"].notna().all() and (history["train_seconds"] > 0).all()
    net, cfg, record = load_bundle(model)
    assert cfg["labels"] == {0: "background", 1: "a", 2: "b"}
    assert record["parameters"] == sum(p.numel() for p in net.parameters())
    split = pd.read_csv(model / "split.tsv", sep="\t")
    assert list(split["split"]) == ["train"] * 4 + ["val"] * 2  # fixed split: the last ids validate


def test_resume_continues_from_the_checkpoint(tiny_model, tmp_path):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_model["dir"], model)
    record = imaging.train(tiny_model["datalist"], model, model_config=TINY_MODEL, cache_dir=tiny_model["cache"],
                           split={"val_count": 2}, overrides={"train.max_epochs": 3}, progress_bar=False)
    history = pd.read_csv(model / "history.tsv", sep="\t")
    assert list(history["epoch"]) == [0, 1, 2]  # epochs 0-1 kept from the first run, only epoch 2 trained now
    assert record["epochs"] == 3


def test_a_changed_config_starts_over_with_the_reason_logged(tiny_model, tmp_path, caplog):
    """One resume policy for every task: checkpoints of another recipe are set aside, training starts over."""
    import logging
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_model["dir"], model)
    with caplog.at_level(logging.WARNING, logger="theraflow.training.runtime"):
        record = imaging.train(tiny_model["datalist"], model, model_config=TINY_MODEL, cache_dir=tiny_model["cache"],
                               split={"val_count": 2}, overrides={"train.lr": 0.5}, progress_bar=False)
    assert "written for another recipe (config differ): training starts over" in caplog.text
    assert record["epochs"] == 2 and list(pd.read_csv(model / "history.tsv", sep="\t")["epoch"]) == [0, 1]
    assert (model / "checkpoints" / "last.ckpt.stale").exists()  # the old run's checkpoint, set aside


def test_bundle_with_pickled_weights_is_refused(tiny_model, tmp_path):
    import shutil

    import torch

    model = tmp_path / "model"
    shutil.copytree(tiny_model["dir"], model)
    (model / "model.safetensors").unlink()
    torch.save({"x": object()}, model / "model.safetensors")  # a pickle posing as weights
    with pytest.raises(InputError, match="not safetensors weights that fit"):
        load_bundle(model)


def test_training_requires_labels(tiny_model):
    dl = tiny_model["datalist"].copy()
    dl.loc[0, "label"] = ""
    with pytest.raises(InputError, match="needs a label for every case"):
        imaging.train(dl, "unused", model_config=TINY_MODEL, cache_dir=tiny_model["cache"])


def test_segment_a_folder_keeps_going_past_a_bad_file(tiny_model, blob_dataset, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for p in sorted((blob_dataset / "images").iterdir())[:2]:
        (folder / p.name).write_bytes(p.read_bytes())
    (folder / "broken.nii.gz").write_bytes(b"\x1f\x8b not really")
    preds, rejects = imaging.segment(tiny_model["dir"], folder, tmp_path / "out")
    assert sorted(preds["id"]) == ["case_00", "case_01"]
    assert list(rejects["id"]) == ["broken"]
    for row in preds.to_dict("records"):
        src, out = nib.load(row["image"]), nib.load(row["mask"])
        assert out.shape == src.shape and np.allclose(out.affine, src.affine)
        assert set(np.unique(np.asarray(out.dataobj))) <= {0, 1, 2}


@pytest.mark.gpu
@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA GPU; none is present")
def test_mixed_precision_on_gpu(tiny_model, tmp_path):
    record = imaging.train(tiny_model["datalist"], tmp_path / "model", model_config=TINY_MODEL,
                           cache_dir=tiny_model["cache"], split={"val_count": 2}, progress_bar=False)
    assert record["precision"] == "16-mixed" and "CPU" not in record["device"]
    preds, failed = imaging.segment(tmp_path / "model", tiny_model["datalist"], tmp_path / "masks", device="cuda")
    assert failed.empty and len(preds) == 6


def test_checkpoint_every_epoch_even_between_validations(tiny_model, tmp_path):
    imaging.train(tiny_model["datalist"], tmp_path / "model", model_config=TINY_MODEL, cache_dir=tiny_model["cache"],
                  split={"val_count": 2}, overrides={"train.max_epochs": 1, "train.val_every": 5},
                  progress_bar=False)
    assert (tmp_path / "model" / "checkpoints" / "last.ckpt").is_file()


def test_onnx_inference_gives_the_torch_masks(tiny_model, tmp_path, monkeypatch, caplog):
    """ONNX Runtime (float32) segments like PyTorch: the same masks (Dice 1 between them) from the exported
    network, kept in the bundle's folder; without onnxruntime, torch segments, with one log line."""
    import logging
    import sys
    from pathlib import Path

    cases = tiny_model["datalist"][:2]
    ref, _ = imaging.segment(tiny_model["dir"], cases, tmp_path / "torch", tta=False)
    got, _ = imaging.segment(tiny_model["dir"], cases, tmp_path / "onnx", tta=False, engine="onnx")
    assert ref.attrs["engine"] == "torch" and got.attrs["engine"] == "onnx"
    assert list((Path(tiny_model["dir"]) / "engines").glob("onnx-*/net.onnx"))
    for a, b in zip(ref["mask"], got["mask"]):
        x, y = np.asarray(nib.load(a).dataobj), np.asarray(nib.load(b).dataobj)
        assert x.shape == y.shape and (x != y).mean() < 1e-4
    q, _ = imaging.segment(tiny_model["dir"], cases, tmp_path / "int8", tta=False, engine="onnx_int8")
    assert q.attrs["engine"] == "onnx_int8" and len(q) == len(ref)

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with caplog.at_level(logging.WARNING, logger="theraflow"):
        fb, _ = imaging.segment(tiny_model["dir"], cases, tmp_path / "fallback", tta=False, engine="onnx")
    assert fb.attrs["engine"] == "torch"
    assert len([r for r in caplog.records if "onnxruntime" in r.getMessage()]) == 1
