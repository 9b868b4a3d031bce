"""Training of interaction models with PyTorch Lightning.

``train_model`` fits a :class:`~theraflow.nn.interaction.DTIModel` on the training
part of a split, early-stopping on the validation part (never the test part), and
writes:

- ``checkpoints/last.ckpt`` and ``checkpoints/best.ckpt`` (Lightning checkpoints with
  optimizer and scheduler state, for resuming; a re-run resumes from ``last.ckpt``);
- ``model.safetensors`` + ``model.json``: the best weights and everything needed to
  rebuild the model (config, feature dimensions, target vocabulary, featurizer) — what
  evaluation and scoring load, without pickle;
- ``history.csv``: per-epoch training loss and validation metrics.

Seeds are set and CPU runs are deterministic; on a GPU, mixed precision is used.

Interruptions (a job's wall time on a cluster, a node going away):

- ``last.ckpt`` is written at the end of every epoch, whether or not the epoch improved on
  the best one, atomically (temporary file in the same directory, fsync, rename), so a
  job killed at any moment (``kill -9``) leaves the previous complete checkpoint;
- on SIGTERM (what SLURM sends at the wall-time limit, some time before SIGKILL) the
  current batch finishes, ``last.ckpt`` is written at that point — mid-epoch — and
  training stops with :class:`~theraflow.errors.TrainingInterrupted` (the CLI exits 143);
- a re-run of the same command resumes from ``last.ckpt``: weights, optimizer and
  learning-rate scheduler state, early-stopping and timer state, the history, the
  position in the epoch's batch order and the random-number state. On the CPU a resumed
  run ends with exactly the weights of an uninterrupted one (tested).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from theraflow.dti.data import Inputs, PairBatches, PairSet
from theraflow.dti.metrics import regression_metrics
from theraflow.io import write_json

log = logging.getLogger(__name__)

DEFAULT_TRAINING = {
    "max_epochs": 300,
    "max_minutes": 15.0,
    "batch_mode": "blocks",
    "batch_size": 512,
    "target_group": 32,
    "drug_group": 1000000,
    "lr": 2e-3,
    "weight_decay": 1e-4,
    "scheduler": "onecycle",
    "warmup_frac": 0.1,
    "patience": 40,
    "eval_every": 1,
    "grad_clip": 5.0,
    "threads": 2,
    "calibrate": False,
}


def _lightning():
    import pytorch_lightning as pl

    return pl


def build_model(model_cfg: dict, node_dim: int, edge_dim: int, num_targets: int, num_drugs: int = 0):
    from theraflow.nn.interaction import DTIModel

    return DTIModel(model_cfg, node_dim=node_dim, edge_dim=edge_dim, num_targets=num_targets, num_drugs=num_drugs)


def make_module(model_cfg: dict, training: dict, dims: dict, steps_per_epoch: int):
    pl = _lightning()

    class DTIModule(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = build_model(model_cfg, dims["node_dim"], dims["edge_dim"], dims["num_targets"],
                                     dims.get("num_drugs", 0))
            self.training_cfg = training
            self.steps_per_epoch = steps_per_epoch
            self._val: list[tuple[torch.Tensor, torch.Tensor]] = []
            self.train_batches: PairBatches | None = None  # set by train_model (checkpointed position)

        def forward(self, batch):
            return self.model(batch)

        def training_step(self, batch, _):
            # in standardized label units (the head's output scale): the same optimization on any label scale
            scale = self.model.head.out_scale
            loss = torch.nn.functional.mse_loss(self(batch) / scale, batch["y"] / scale)
            self.log("train_mse", loss, on_step=False, on_epoch=True, batch_size=len(batch["y"]))
            return loss

        def validation_step(self, batch, _):
            self._val.append((self(batch).detach().float().cpu(), batch["y"].cpu()))

        def on_validation_epoch_end(self):
            if not self._val:
                return
            pred = torch.cat([p for p, _ in self._val]).numpy()
            y = torch.cat([t for _, t in self._val]).numpy()
            self._val.clear()
            m = regression_metrics(y, pred)
            self.log("val_mse", m["mse"], prog_bar=True)
            self.log("val_ci", m["ci"], prog_bar=True)

        def on_save_checkpoint(self, checkpoint):
            # Where the next batch comes from, and the random state (dropout), so that a
            # resumed run continues exactly where this one stopped.
            trainer = self.trainer
            done = trainer.fit_loop.epoch_loop.batch_progress.current.processed
            end_of_epoch = done >= trainer.num_training_batches
            checkpoint["theraflow"] = {
                "data_epoch": trainer.current_epoch + 1 if end_of_epoch else trainer.current_epoch,
                "data_skip": 0 if end_of_epoch else int(done),
                "torch_rng": torch.get_rng_state(),
            }

        def on_load_checkpoint(self, checkpoint):
            state = checkpoint.get("theraflow")
            if state is not None and self.train_batches is not None:
                self.train_batches.epoch = int(state["data_epoch"])
                self.train_batches.skip = int(state["data_skip"])
                torch.set_rng_state(state["torch_rng"])

        def configure_optimizers(self):
            t = self.training_cfg
            opt = torch.optim.AdamW(self.parameters(), lr=t["lr"], weight_decay=t["weight_decay"])
            if t["scheduler"] == "none":
                return opt
            if t["scheduler"] not in ("onecycle", "cosine"):
                raise ValueError(f"unknown scheduler {t['scheduler']!r}")
            total = max(1, t["max_epochs"] * self.steps_per_epoch)
            budget = 60.0 * float(t["max_minutes"]) if t["max_minutes"] else None
            shape = _one_cycle if t["scheduler"] == "onecycle" else _warmup_cosine
            progress = _Progress(total, budget, check_after=self.steps_per_epoch)
            sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: shape(progress(step), t["warmup_frac"]))
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    return DTIModule()


class _Progress:
    """Where training stands in its schedule: the larger of the step fraction and, with a
    wall-time budget, the elapsed-time fraction. On a machine fast enough to run every
    epoch the schedule is step-based (and reproducible); on a slower one it still anneals
    fully before the budget stops training, instead of ending at a high learning rate."""

    def __init__(self, total_steps: int, budget_seconds: float | None, check_after: int = 1) -> None:
        self.total = total_steps
        self.budget = budget_seconds
        self.check_after = check_after
        self.t0 = time.monotonic()
        self.timed = False  # latched once the run is seen to fall behind its budget

    def __call__(self, step: int) -> float:
        p = step / self.total
        if self.budget:
            e = (time.monotonic() - self.t0) / self.budget
            if not self.timed and step >= self.check_after and e > 1.05 * p:
                self.timed = True
                log.info("training is slower than its %.0f-minute budget allows for %d steps: the learning-rate "
                         "schedule now follows the clock", self.budget / 60, self.total)
            if self.timed:
                p = max(p, e)
        return min(1.0, p)


def _one_cycle(p: float, warmup: float) -> float:
    """Learning-rate factor of a one-cycle schedule: linear warm-up from 1/25, cosine to ~0."""
    if p < warmup:
        return 0.04 + 0.96 * p / max(warmup, 1e-9)
    q = (p - warmup) / max(1e-9, 1 - warmup)
    return 1e-4 + (1 - 1e-4) * 0.5 * (1 + math.cos(math.pi * q))


def _warmup_cosine(p: float, warmup: float) -> float:
    if p < warmup:
        return (p + 1e-9) / max(warmup, 1e-9)
    return 0.5 * (1 + math.cos(math.pi * (p - warmup) / max(1e-9, 1 - warmup)))


class _History:
    """Collects per-epoch metrics into a CSV next to the checkpoints."""

    @staticmethod
    def callback(path: Path):
        pl = _lightning()

        class HistoryCallback(pl.Callback):
            """Per-epoch rows: validation metrics, the training MSE (mean over the epoch's pairs)
            and training seconds so far. Its state travels in the checkpoints, so a resumed run
            (even from the middle of an epoch) writes the history an uninterrupted run would."""

            def __init__(self) -> None:
                self.rows: list[dict] = []
                self.loss_sum = 0.0  # this epoch's squared errors so far
                self.loss_n = 0
                self.seconds_before = 0.0  # training time of earlier runs of a resumed job
                self.t0 = time.time()

            def state_dict(self):
                return {"rows": self.rows, "loss_sum": self.loss_sum, "loss_n": self.loss_n,
                        "seconds": self.seconds_before + time.time() - self.t0}

            def load_state_dict(self, state):
                self.rows = list(state.get("rows", []))
                self.loss_sum = float(state.get("loss_sum", 0.0))
                self.loss_n = int(state.get("loss_n", 0))
                self.seconds_before = float(state.get("seconds", 0.0))
                self.t0 = time.time()

            def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
                n = len(batch["y"])
                scale = float(module.model.head.out_scale)  # the loss is in standardized units
                self.loss_sum += float(outputs["loss"]) * n * scale * scale
                self.loss_n += n

            def on_train_epoch_end(self, trainer, module):
                # runs after this epoch's validation
                m = {k: float(v) for k, v in trainer.callback_metrics.items()}
                if self.loss_n:
                    m["train_mse"] = self.loss_sum / self.loss_n
                self.loss_sum, self.loss_n = 0.0, 0
                self.rows = [r for r in self.rows if r["epoch"] < trainer.current_epoch]
                self.rows.append({"epoch": trainer.current_epoch,
                                  "seconds": round(self.seconds_before + time.time() - self.t0, 1), **m})
                import pandas as pd

                from theraflow.io import write_table

                write_table(pd.DataFrame(self.rows), path)

        return HistoryCallback()


def _save_on_sigterm(last_ckpt):
    """A callback that writes last.ckpt when the job is told to stop (SIGTERM at wall time).

    Lightning notes the signal and stops after the current batch (raising
    ``SIGTERMException``). The checkpoint is written in ``on_train_batch_end`` of that
    batch — the point Lightning itself supports resuming from mid-epoch — and, where the
    signal came at the end of an epoch, by ``last_ckpt`` at the end of that epoch. Other
    exceptions (bugs, out of memory) leave the last end-of-epoch checkpoint: their state
    may be half-updated. A signal during validation also leaves the checkpoint of the
    end of the previous epoch (a half-run validation cannot be resumed faithfully).
    """
    pl = _lightning()

    class SaveOnSigterm(pl.Callback):
        def __init__(self) -> None:
            self.saved_step = -1

        def _path(self, trainer) -> Path:
            return Path(trainer._theraflow_ckpt_dir) / "last.ckpt"

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            if trainer.received_sigterm and self.saved_step != trainer.global_step:
                trainer.save_checkpoint(str(self._path(trainer)))
                self.saved_step = trainer.global_step
                log.warning("SIGTERM: checkpoint written to %s at epoch %d, step %d (batch %d of the epoch)",
                            self._path(trainer), trainer.current_epoch, trainer.global_step, batch_idx + 1)

        def on_exception(self, trainer, module, exception):
            from pytorch_lightning.utilities.exceptions import SIGTERMException

            if not isinstance(exception, SIGTERMException):
                return
            if trainer.global_step in (self.saved_step, last_ckpt._last_global_step_saved):
                return  # this step's checkpoint is written already
            if trainer.validating or trainer.global_step == 0:
                log.warning("SIGTERM during validation: the checkpoint of the end of the previous epoch is kept")
                return
            trainer.save_checkpoint(str(self._path(trainer)))
            self.saved_step = trainer.global_step
            log.warning("SIGTERM: checkpoint written to %s at step %d", self._path(trainer), trainer.global_step)

    return SaveOnSigterm()


def _stop_if_finished(early_stopping):
    """On resuming a run that had early-stopped (killed while writing its model), stop again at
    once instead of training on: Lightning does not keep ``should_stop`` in checkpoints."""
    pl = _lightning()

    class StopIfFinished(pl.Callback):
        def on_train_start(self, trainer, module):
            if early_stopping.wait_count >= early_stopping.patience:
                trainer.should_stop = True

    return StopIfFinished()


def _checkpoint_io():
    """Lightning's checkpoint writer, made atomic on shared filesystems.

    Lightning writes to a temporary file in the system temp directory and moves it into
    place; where that is another filesystem (node-local /tmp, checkpoints on a network
    filesystem) the move is a copy, and a job killed during it leaves a truncated
    last.ckpt. Here the temporary file is in the checkpoint's own directory, fsynced, and
    renamed over the old checkpoint.
    """
    from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

    from theraflow.io import atomic_write

    class AtomicCheckpointIO(TorchCheckpointIO):
        def save_checkpoint(self, checkpoint, path, storage_options=None):
            if storage_options is not None:
                raise TypeError("storage_options are not supported")
            with atomic_write(path, "wb") as fh:
                torch.save(checkpoint, fh)

    return AtomicCheckpointIO()


def _usable_checkpoint(path: Path) -> bool:
    """Whether ``path`` is a checkpoint this code can resume from (else it is set aside)."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        ok = isinstance(ckpt, dict) and "state_dict" in ckpt and "loops" in ckpt
        reason = "not a Lightning training checkpoint"
    except Exception as exc:  # truncated or corrupt file
        ok, reason = False, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    if not ok:
        bad = path.with_name(path.name + ".unreadable")
        os.replace(path, bad)
        log.warning("%s cannot be resumed from (%s); moved to %s, training starts over", path, reason, bad.name)
    return ok


def seed_everything(seed: int) -> None:
    """Seeds Python, numpy and torch. On the CPU the ops these models use are deterministic,
    so a seed reproduces a run exactly (tested); ``torch.use_deterministic_algorithms`` is
    not switched on because its sort-based scatter kernels double the cost of a CPU epoch."""
    pl = _lightning()
    pl.seed_everything(seed, workers=True, verbose=False)


def train_model(pairset: PairSet, parts: np.ndarray, model_cfg: dict, outdir: str | Path, *,
                seed: int = 0, training: dict | None = None, featurizer: dict | None = None,
                resume: bool = True, progress: bool | None = None, extra_meta: dict | None = None,
                callbacks: list | None = None) -> dict:
    """Train on ``parts == "train"``, early-stop on ``parts == "valid"``; see the module docstring."""
    pl = _lightning()
    from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint

    t = {**DEFAULT_TRAINING, **(model_cfg.get("training") or {}), **(training or {})}
    unknown = set(t) - set(DEFAULT_TRAINING)
    if unknown:
        raise ValueError(f"unknown training option(s): {', '.join(sorted(unknown))}")
    outdir = Path(outdir)
    ckpt_dir = outdir / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, int(t["threads"])))
    seed_everything(seed)

    parts = np.asarray(parts)
    train_idx = np.nonzero(parts == "train")[0]
    valid_idx = np.nonzero(parts == "valid")[0]
    if len(train_idx) == 0 or len(valid_idx) == 0:
        raise ValueError("training needs pairs in both the 'train' and the 'valid' part of the split")
    labels = pairset.label[train_idx].astype(np.float64)
    if not np.isfinite(labels).all():
        raise ValueError("training labels must be finite numbers")
    # a drug's id is known to the model only when it trains on it: drugs seen only in valid/test are "unknown"
    train_drugs = np.unique(pairset.pair_drug[train_idx])
    vocab_row = np.full(len(pairset.drug_ids), -1, dtype=np.int64)
    vocab_row[train_drugs] = np.arange(len(train_drugs))
    pairset = replace(pairset, drug_index=vocab_row)
    dims = {"node_dim": pairset.graphs.num_node_features, "edge_dim": pairset.graphs.num_edge_features,
            "num_targets": len(pairset.target_ids), "num_drugs": len(train_drugs)}
    train_data = PairBatches(pairset, train_idx, mode=t["batch_mode"], batch_size=t["batch_size"],
                             target_group=t["target_group"], drug_group=t["drug_group"], seed=seed)
    valid_data = PairBatches(pairset, valid_idx, mode=t["batch_mode"], batch_size=max(2048, t["batch_size"]),
                             target_group=max(64, t["target_group"]), shuffle=False, seed=seed)
    module = make_module(model_cfg, t, dims, steps_per_epoch=len(train_data))
    # labels standardized on the training part: the head outputs raw * sd + mean, the loss is in sd units
    label_scale = {"mean": float(labels.mean()), "sd": float(labels.std()) if labels.std() > 0 else 1.0}
    module.model.head.set_output(label_scale["sd"], label_scale["mean"])
    inputs = Inputs.of(module.model)
    train_data.inputs = valid_data.inputs = inputs  # batches carry what the encoders read, nothing more

    accelerator = "gpu" if torch.cuda.is_available() else "cpu"
    # best.ckpt: the lowest validation MSE so far (the model kept)
    ckpt = ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor="val_mse", mode="min", save_top_k=1,
                           save_last=False, every_n_epochs=t["eval_every"], enable_version_counter=False)
    # last.ckpt at the end of every epoch (ModelCheckpoint's save_last only follows the
    # best checkpoint, so a run that stopped improving would resume from an old epoch);
    # saved on train epoch end, after the history callback, so the two stay in step.
    last_ckpt = ModelCheckpoint(dirpath=ckpt_dir, filename="last", monitor=None, save_top_k=1, every_n_epochs=1,
                                save_on_train_epoch_end=True, enable_version_counter=False)
    early = EarlyStopping(monitor="val_mse", mode="min", patience=t["patience"])
    t0 = time.time()
    history = _History.callback(outdir / "history.csv")
    trainer = pl.Trainer(
        accelerator=accelerator, devices=1, max_epochs=t["max_epochs"],
        max_time={"minutes": float(t["max_minutes"])} if t["max_minutes"] else None,
        precision="16-mixed" if accelerator == "gpu" else "32-true",
        callbacks=[ckpt, last_ckpt, early, _stop_if_finished(early), history, _save_on_sigterm(last_ckpt),
                   *(callbacks or [])],
        plugins=[_checkpoint_io()],
        check_val_every_n_epoch=t["eval_every"], gradient_clip_val=t["grad_clip"] or None, logger=False,
        enable_progress_bar=bool(progress) if progress is not None else None,
        enable_model_summary=False, default_root_dir=str(outdir),
        num_sanity_val_steps=0,
    )
    trainer._theraflow_ckpt_dir = ckpt_dir
    module.train_batches = train_data
    last = ckpt_dir / "last.ckpt"
    for leftover in ckpt_dir.glob(".*.tmp"):  # a writer killed mid-write (see theraflow.io.atomic_write)
        leftover.unlink(missing_ok=True)
    fingerprint = _fingerprint(model_cfg, t, seed, train_idx, valid_idx, dims)
    fp_path = ckpt_dir / "fingerprint.json"
    if fp_path.exists() and json.loads(fp_path.read_text()) != fingerprint:
        log.info("model config, recipe, seed or split changed since the checkpoints were written: starting over")
        for old in ckpt_dir.glob("*.ckpt"):
            old.unlink()
    write_json(fp_path, fingerprint)
    ckpt_path = str(last) if resume and last.exists() and _usable_checkpoint(last) else None
    if ckpt_path:
        log.info("resuming from %s", ckpt_path)
        if (outdir / "history.csv").exists():  # checkpoints of older versions lack the history state
            import pandas as pd

            history.rows = pd.read_csv(outdir / "history.csv").to_dict("records")
    # The batch iterables go to Lightning as they are: a DataLoader around them would add
    # nothing (batches are built here, in this process) but draw from the global torch
    # random state each epoch, which a resumed run would then not reproduce.
    # Resuming reads a checkpoint this run wrote; weights_only keeps torch.load from unpickling code.
    try:
        with warnings.catch_warnings():
            # Lightning cannot tell that the batch position is restored (by the module's
            # checkpoint hooks), and warns that a mid-epoch resume is unreliable.
            warnings.filterwarnings("ignore", message="You're resuming from a checkpoint that ended before the epoch")
            trainer.fit(module, _Iterable(train_data), _Iterable(valid_data), ckpt_path=ckpt_path,
                        weights_only=True)
    except BaseException as exc:
        from pytorch_lightning.utilities.exceptions import SIGTERMException

        if not isinstance(exc, SIGTERMException):
            raise
        from theraflow.errors import TrainingInterrupted

        where = (f"checkpoint {last} (epoch {trainer.current_epoch}, step {trainer.global_step})"
                 if last.exists() else "no checkpoint (stopped before the first batch)")
        raise TrainingInterrupted(f"training in {outdir} stopped by SIGTERM; {where}; "
                                  "run the same command again to resume") from None
    wall = history.seconds_before + time.time() - t0  # a resumed job counts its earlier runs too

    best = ckpt.best_model_path or str(last)
    state = _load_lightning_state(best)
    module.load_state_dict(state)
    calibration = calibrate(module.model, pairset, valid_idx, inputs) if t["calibrate"] else None
    meta = {
        "model_config": model_cfg,
        "training": t,
        "dims": dims,
        "label_scale": label_scale,
        "calibration": calibration,
        "drug_vocab": [pairset.graphs.smiles[i] for i in train_drugs] if dims["num_drugs"] else [],
        "target_ids": list(pairset.target_ids),
        "target_sequences": list(pairset.sequences) if module.model.target.uses_sequences else [],
        "max_len": pairset.max_len,
        "featurizer": featurizer or {},
        "seed": seed,
        "epochs_trained": int(trainer.current_epoch),
        "best_epoch_val_mse": float(ckpt.best_model_score) if ckpt.best_model_score is not None else None,
        "train_seconds": round(wall, 1),
        "device": torch.cuda.get_device_name(0) if accelerator == "gpu" else f"cpu ({torch.get_num_threads()} threads)",
        **(extra_meta or {}),
    }
    save_model(module.model, meta, outdir)
    _write_train_drugs(pairset, train_idx, outdir)
    return meta


def calibrate(model, pairset: PairSet, valid_idx: np.ndarray, inputs: Inputs) -> dict:
    """Fit ``y ≈ a + b·prediction`` on the validation pairs (least squares, ``b ≥ 0``) and fold it into
    the head's output, so that the model predicts what the validation part says it should.

    Where the validation part holds what a split keeps out of training (drugs never seen in a
    cold-drug split), this shrinks predictions toward the mean by as much as they fail to
    generalize there: a model then does no worse than a constant on such pairs (the constant is
    b = 0), and rankings do not change (b ≥ 0). On pairs like the training ones, a ≈ 0 and b ≈ 1.
    """
    pred = predict(model, pairset, valid_idx, inputs=inputs).astype(np.float64)
    y = pairset.label[valid_idx].astype(np.float64)
    var = float(pred.var())
    b = max(0.0, float(((pred - pred.mean()) * (y - y.mean())).mean()) / var) if var > 0 else 0.0
    a = float(y.mean() - b * pred.mean())
    head = model.head
    head.set_output(b * float(head.out_scale), a + b * float(head.out_shift))
    before, after = float(((pred - y) ** 2).mean()), float(((a + b * pred - y) ** 2).mean())
    log.info("calibration on %d validation pairs: prediction -> %.3f + %.3f x prediction (validation MSE %.4f -> %.4f)",
             len(y), a, b, before, after)
    return {"a": a, "b": b, "valid_mse_before": before, "valid_mse_after": after}


class _Iterable:
    """A batch iterable (PairBatches) without the torch Dataset type Lightning would inspect."""

    def __init__(self, batches: PairBatches) -> None:
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def _write_train_drugs(pairset: PairSet, train_idx: np.ndarray, outdir: Path) -> None:
    """The training drugs (standardized SMILES, id): scoring measures applicability against them."""
    from theraflow.io import write_text

    smiles = pairset.graphs.smiles
    if smiles is None:
        return
    drugs = np.unique(pairset.pair_drug[train_idx])
    write_text(outdir / "train_drugs.smi", "".join(f"{smiles[i]} {pairset.drug_ids[i]}\n" for i in drugs))


def _fingerprint(model_cfg: dict, training: dict, seed: int, train_idx, valid_idx, dims: dict) -> dict:
    """What a checkpoint must match to be resumed (budget and threads may change)."""
    import hashlib

    recipe = {k: v for k, v in training.items() if k not in ("max_minutes", "threads")}
    h = hashlib.sha256(np.asarray(train_idx, np.int64).tobytes() + b"|" + np.asarray(valid_idx, np.int64).tobytes())
    return json.loads(json.dumps({"model": model_cfg, "training": recipe, "seed": seed, "dims": dims,
                                  "pairs": h.hexdigest()}, sort_keys=True))


def _load_lightning_state(path: str) -> dict:
    """The model weights of a Lightning checkpoint this run wrote (loaded with weights_only)."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    return ckpt["state_dict"]


def save_model(model: torch.nn.Module, meta: dict, outdir: str | Path) -> None:
    from safetensors.torch import save_file

    outdir = Path(outdir)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = outdir / ".model.safetensors.tmp"
    save_file(state, str(tmp), metadata={"format": "theraflow-dti-1"})
    os.replace(tmp, outdir / "model.safetensors")
    write_json(outdir / "model.json", meta)


def load_model(model_dir: str | Path):
    """(model in eval mode, meta) from ``model.safetensors`` + ``model.json`` (no pickle)."""
    from safetensors.torch import load_file

    from theraflow.errors import InputError

    model_dir = Path(model_dir)
    for name in ("model.json", "model.safetensors"):
        if not (model_dir / name).exists():
            raise InputError(f"{model_dir}: no {name}; is this a trained theraflow model directory?")
    meta = json.loads((model_dir / "model.json").read_text())
    dims = meta["dims"]
    model = build_model(meta["model_config"], dims["node_dim"], dims["edge_dim"], dims["num_targets"],
                        dims.get("num_drugs", 0))
    state = load_file(str(model_dir / "model.safetensors"))
    state = _upgrade_state({k.removeprefix("model."): v for k, v in state.items()}, model)
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatch
        raise InputError(f"{model_dir}: weights do not match the model config ({str(exc).splitlines()[1].strip()})") from None
    if missing or unexpected:
        raise InputError(f"{model_dir}: weights do not match the model config "
                         f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    model.eval()
    return model, meta


def _upgrade_state(state: dict, model) -> dict:
    """Weights written by the first release: the drug graph encoder sat at ``drug.*`` (now
    ``drug.graph.*``) and the head had no output scale (then 1 and 0: labels unscaled)."""
    if model.drug.graph is not None and not any(k.startswith("drug.graph.") for k in state):
        state = {(f"drug.graph.{k[5:]}" if k.startswith("drug.") else k): v for k, v in state.items()}
    for name, value in (("head.out_scale", 1.0), ("head.out_shift", 0.0)):
        state.setdefault(name, torch.tensor(value))
    return state


@torch.no_grad()
def predict(model, pairset: PairSet, indices: np.ndarray | None = None, *, inputs: Inputs | None = None) -> np.ndarray:
    """Predictions for the pairs ``indices`` (all if None), in that order."""
    idx = np.arange(len(pairset)) if indices is None else np.asarray(indices, dtype=np.int64)
    out = np.full(len(pairset), np.nan, dtype=np.float32)
    was_training = model.training
    model.eval()
    for b in PairBatches(pairset, idx, mode="blocks", target_group=64, shuffle=False,
                         inputs=inputs or Inputs.of(model)):
        out[b["idx"].numpy()] = model(b).float().cpu().numpy()
    model.train(was_training)
    return out[idx]


def json_default(obj: Any):  # pragma: no cover - used by callers writing metadata
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(type(obj).__name__)
