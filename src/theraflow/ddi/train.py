"""Training of drug–drug interaction models, on theraflow's training runtime.

``train_ddi`` fits a :class:`~theraflow.nn.ddi.DDIModel` on the ``train`` part of a split and
selects on ``valid`` (validation accuracy), through :func:`theraflow.training.fit`: checkpoints,
SIGTERM → exit 143, resume under the same recipe only, wall-time budget, history, seeds — the
same runtime as DTI and segmentation. This module supplies the model, the loss (cross-entropy
over the interaction types, or binary cross-entropy), the validation metrics (accuracy,
macro-F1, loss) and the batches, whose position travels in the checkpoints (a job stopped
mid-epoch resumes at the next batch). Writes ``model.safetensors`` + ``model.json``,
``history.csv`` and ``train_drugs.smi`` (the applicability domain of scoring).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from theraflow.ddi.data import DDIBatches, DDISet
from theraflow.io import write_json, write_text
from theraflow.pairs.batches import Inputs

log = logging.getLogger(__name__)

MODEL_SCHEMA = Path(__file__).with_name("model_schema.yaml")
DEFAULT_TRAINING = {
    "max_epochs": 100,
    "max_minutes": 15.0,
    "batch_size": 1024,
    "lr": 1e-3,
    "weight_decay": 1e-4,
    "scheduler": "onecycle",
    "warmup_frac": 0.1,
    "patience": 20,
    "eval_every": 1,
    "grad_clip": 5.0,
    "label_smoothing": 0.0,
    "threads": 2,
    "ema": None,
}


def build_model(model_cfg: dict, dims: dict):
    from theraflow.nn.ddi import DDIModel

    return DDIModel(model_cfg, node_dim=dims["node_dim"], edge_dim=dims["edge_dim"], num_drugs=dims["num_drugs"],
                    n_classes=dims["n_classes"])


def make_module(model_cfg: dict, training: dict, dims: dict, steps_per_epoch: int):
    import pytorch_lightning as pl

    class DDIModule(pl.LightningModule):
        loss_name = "train_loss"

        def __init__(self) -> None:
            super().__init__()
            self.model = build_model(model_cfg, dims)
            self.training_cfg = training
            self.steps_per_epoch = steps_per_epoch
            self._val: list[tuple[torch.Tensor, torch.Tensor]] = []
            self.train_batches: DDIBatches | None = None

        @staticmethod
        def batch_size(batch) -> int:
            return len(batch["y"])

        def forward(self, batch):
            return self.model(batch)

        def loss(self, logits, y):
            if self.model.binary:
                return torch.nn.functional.binary_cross_entropy_with_logits(logits, y.float())
            return torch.nn.functional.cross_entropy(logits, y, label_smoothing=self.training_cfg["label_smoothing"])

        def training_step(self, batch, _):
            return self.loss(self(batch), batch["y"])

        def validation_step(self, batch, _):
            self._val.append((self(batch).detach().float().cpu(), batch["y"].cpu()))

        def on_validation_epoch_end(self):
            if not self._val:
                return
            logits = torch.cat([p for p, _ in self._val])
            y = torch.cat([t for _, t in self._val])
            self._val.clear()
            loss = float(self.loss(logits, y))
            prob = self.model.probabilities(logits).numpy()
            from theraflow.ddi.metrics import label_metrics

            m = label_metrics(y.numpy(), prob)
            self.log("val_loss", loss)
            self.log("val_accuracy", m["accuracy"], prog_bar=True)
            self.log("val_macro_f1", m["macro_f1"], prog_bar=True)

        def on_save_checkpoint(self, checkpoint):
            trainer = self.trainer
            done = trainer.fit_loop.epoch_loop.batch_progress.current.processed
            end_of_epoch = done >= trainer.num_training_batches
            checkpoint["theraflow"] = {
                "data_epoch": trainer.current_epoch + 1 if end_of_epoch else trainer.current_epoch,
                "data_skip": 0 if end_of_epoch else int(done),
            }

        def on_load_checkpoint(self, checkpoint):
            state = checkpoint.get("theraflow")
            if state is not None and self.train_batches is not None:
                self.train_batches.epoch = int(state["data_epoch"])
                self.train_batches.skip = int(state["data_skip"])

        def configure_optimizers(self):
            from theraflow.training.schedules import step_scheduler

            t = self.training_cfg
            opt = torch.optim.AdamW(self.parameters(), lr=t["lr"], weight_decay=t["weight_decay"])
            if t["scheduler"] == "none":
                return opt
            sched = step_scheduler(opt, t["scheduler"], total_steps=t["max_epochs"] * self.steps_per_epoch,
                                   budget_minutes=t["max_minutes"], warmup=t["warmup_frac"],
                                   steps_per_epoch=self.steps_per_epoch)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    return DDIModule()


def train_ddi(ddiset: DDISet, parts: np.ndarray, model_cfg: dict, outdir: str | Path, *, seed: int = 0,
              training: dict | None = None, featurizer: dict | None = None, resume: bool = True,
              progress: bool | None = None, extra_meta: dict | None = None, callbacks: list | None = None) -> dict:
    """Train on ``parts == "train"``, select on ``parts == "valid"``; see the module docstring."""
    from theraflow.training import Recipe, fit, seed_everything

    t = {**DEFAULT_TRAINING, **(model_cfg.get("training") or {}), **(training or {})}
    unknown = set(t) - set(DEFAULT_TRAINING)
    if unknown:
        raise ValueError(f"unknown training option(s): {', '.join(sorted(unknown))}")
    outdir = Path(outdir)
    torch.set_num_threads(max(1, int(t["threads"])))
    seed_everything(seed)
    parts = np.asarray(parts)
    train_idx, valid_idx = np.nonzero(parts == "train")[0], np.nonzero(parts == "valid")[0]
    if len(train_idx) == 0 or len(valid_idx) == 0:
        raise ValueError("training needs pairs in both the 'train' and the 'valid' part of the split")
    # a drug's id is known to the model only when it trains on it (drugs only in valid/test are "unknown")
    train_drugs = np.unique(np.concatenate([ddiset.pair_a[train_idx], ddiset.pair_b[train_idx]]))
    vocab_row = np.full(len(ddiset.drug_ids), -1, dtype=np.int64)
    vocab_row[train_drugs] = np.arange(len(train_drugs))
    ddiset = replace(ddiset, drug_index=vocab_row)
    dims = {"node_dim": ddiset.graphs.num_node_features, "edge_dim": ddiset.graphs.num_edge_features,
            "num_drugs": len(train_drugs), "n_classes": len(ddiset.classes)}
    train_data = DDIBatches(ddiset, train_idx, batch_size=t["batch_size"], seed=seed)
    valid_data = DDIBatches(ddiset, valid_idx, batch_size=max(4096, t["batch_size"]), shuffle=False, seed=seed)
    module = make_module(model_cfg, t, dims, steps_per_epoch=len(train_data))
    train_data.inputs = valid_data.inputs = Inputs.of(module.model)
    module.train_batches = train_data
    split_hash = hashlib.sha256(train_idx.astype(np.int64).tobytes() + b"|" + valid_idx.astype(np.int64).tobytes())
    fingerprint = {"model": model_cfg, "training": {k: v for k, v in t.items() if k not in ("max_minutes", "threads")},
                   "seed": seed, "dims": dims, "pairs": split_hash.hexdigest(), "classes": ddiset.classes}
    recipe = Recipe(max_epochs=t["max_epochs"], monitor="val_accuracy", mode="max", max_minutes=t["max_minutes"],
                    patience=t["patience"], eval_every=t["eval_every"], grad_clip=t["grad_clip"], seed=seed,
                    ema=t["ema"])
    result = fit(module, train_data, valid_data, outdir, recipe=recipe, fingerprint=fingerprint, resume=resume,
                 progress=progress, callbacks=callbacks, history_file="history.csv", mid_epoch_resume=True)
    module.load_state_dict(result.state_dict)
    meta = {"task": "ddi", "model_config": model_cfg, "training": t, "dims": dims, "classes": ddiset.classes,
            "drug_vocab": [ddiset.graphs.smiles[i] for i in train_drugs], "featurizer": featurizer or {},
            "seed": seed, "epochs_trained": result.epochs, "best_val_accuracy": result.best_score,
            "train_seconds": result.seconds, "device": result.device, **(extra_meta or {})}
    save_model(module.model, meta, outdir)
    smiles = ddiset.graphs.smiles
    write_text(outdir / "train_drugs.smi", "".join(f"{smiles[i]} {ddiset.drug_ids[i]}\n" for i in train_drugs))
    return meta


def save_model(model: torch.nn.Module, meta: dict, outdir: str | Path) -> None:
    from safetensors.torch import save_file

    outdir = Path(outdir)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = outdir / ".model.safetensors.tmp"
    save_file(state, str(tmp), metadata={"format": "theraflow-ddi-1"})
    os.replace(tmp, outdir / "model.safetensors")
    write_json(outdir / "model.json", meta)


def load_model(model_dir: str | Path):
    """(model in eval mode, meta) from ``model.safetensors`` + ``model.json`` (no pickle)."""
    from safetensors.torch import load_file

    from theraflow.errors import InputError

    model_dir = Path(model_dir)
    for name in ("model.json", "model.safetensors"):
        if not (model_dir / name).exists():
            raise InputError(f"{model_dir}: no {name}; is this a trained theraflow DDI model directory?")
    meta = json.loads((model_dir / "model.json").read_text())
    if meta.get("task") != "ddi":
        raise InputError(f"{model_dir}: not a drug–drug interaction model (task {meta.get('task', 'dti')!r})")
    model = build_model(meta["model_config"], meta["dims"])
    state = {k.removeprefix("model."): v for k, v in load_file(str(model_dir / "model.safetensors")).items()}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise InputError(f"{model_dir}: weights do not match the model config ({str(exc).splitlines()[1].strip()})") from None
    if missing or unexpected:
        raise InputError(f"{model_dir}: weights do not match the model config (missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]})")
    model.eval()
    return model, meta


@torch.no_grad()
def predict_proba(model, ddiset: DDISet, indices: np.ndarray | None = None, batch_size: int = 8192) -> np.ndarray:
    """[n, n_classes] class probabilities of the pairs ``indices`` (all if None), in that order."""
    idx = np.arange(len(ddiset)) if indices is None else np.asarray(indices, dtype=np.int64)
    inputs = Inputs.of(model)
    model.eval()
    out = [model.probabilities(model(ddiset.batch(idx[i : i + batch_size], inputs))).float().numpy()
           for i in range(0, len(idx), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, model.n_classes), np.float32)
