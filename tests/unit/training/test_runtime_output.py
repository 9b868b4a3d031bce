"""What the training runtime prints: theraflow's own lines only. A new run's checkpoint folder is empty when
Lightning looks at it (the recipe fingerprint lives beside it), so Lightning has nothing to warn about; its
device lines, advertisements and its srun hint are left out; a run of an earlier release keeps resuming."""

from __future__ import annotations

import logging
import os
import stat
import warnings

import pytorch_lightning as pl
import torch

from theraflow.training.runtime import Recipe, fingerprint_path, fit


class _Tiny(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.mse_loss(self.layer(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_mse", torch.nn.functional.mse_loss(self.layer(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _batches(n: int = 3):
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(4, 2, generator=g), torch.randn(4, 1, generator=g)) for _ in range(n)]


def _fit(outdir, epochs: int = 2):
    return fit(_Tiny(), _batches(), _batches(1), outdir, recipe=Recipe(max_epochs=epochs, monitor="val_mse"),
               fingerprint={"recipe": "tiny"}, progress=False, accelerator="cpu")


def _fake_srun(tmp_path, monkeypatch):
    """An ``srun`` on PATH, as on a cluster's login node: Lightning would print its SLURM hint."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    srun = bindir / "srun"
    srun.write_text("#!/bin/sh\nexit 0\n")
    srun.chmod(srun.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    for key in [k for k in os.environ if k.startswith("SLURM_")]:
        monkeypatch.delenv(key)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_a_new_run_prints_no_lightning_lines(tmp_path, monkeypatch):
    _fake_srun(tmp_path, monkeypatch)
    out = tmp_path / "run"
    names = ("pytorch_lightning", "lightning_fabric")  # Lightning's loggers print themselves (no propagation)
    before = {name: logging.getLogger(name).level for name in names}
    collect = _Collect()
    for name in names:
        logging.getLogger(name).addHandler(collect)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = _fit(out)
    finally:
        for name in names:
            logging.getLogger(name).removeHandler(collect)
    assert result.epochs == 2
    shown = [str(w.message) for w in caught]
    assert not [m for m in shown if "exists and is not empty" in m or "srun" in m or "LeafSpec" in m], shown
    assert not collect.messages, collect.messages  # "GPU available: ...", "💡 Tip: ..." and the like
    assert fingerprint_path(out / "checkpoints").is_file()
    assert not (out / "checkpoints" / "fingerprint.json").exists()
    assert (out / "checkpoints" / "last.ckpt").is_file()
    # Lightning's loggers are as they were: the quiet is for theraflow's Trainer only
    assert {name: logging.getLogger(name).level for name in before} == before


def test_a_run_of_an_earlier_release_resumes(tmp_path, caplog):
    """Earlier releases kept the fingerprint in checkpoints/: it is moved beside the folder and the run resumes."""
    out = tmp_path / "run"
    _fit(out, epochs=1)
    fp = fingerprint_path(out / "checkpoints")
    os.replace(fp, out / "checkpoints" / "fingerprint.json")  # the earlier layout
    with caplog.at_level(logging.INFO, logger="theraflow"):
        result = _fit(out, epochs=2)
    assert result.epochs == 2
    assert fp.is_file() and not (out / "checkpoints" / "fingerprint.json").exists()
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "resuming from" in messages and "starts over" not in messages, messages
