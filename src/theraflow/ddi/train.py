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

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from theraflow.ddi.data import DDIBatches, DDISet
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
    "class_weights": "none",  # or "inverse_sqrt": each type's loss weighted by 1/sqrt(its training count)
    "threads": 2,
    "ema": None,
}


def build_model(model_cfg: dict, dims: dict):
    from theraflow.nn.ddi import DDIModel

    return DDIModel(model_cfg, node_dim=dims["node_dim"], edge_dim=dims["edge_dim"], num_drugs=dims["num_drugs"],
                    n_classes=dims["n_classes"])


def class_weights(labels: np.ndarray, n_classes: int, kind: str) -> torch.Tensor | None:
    """Per-class loss weights from the training labels: None for ``none``; for ``inverse_sqrt``
    1/sqrt(count) (a type absent from training gets the rarest present type's weight), scaled so
    that the mean weight over training rows is 1 (the loss keeps its scale)."""
    if kind == "none":
        return None
    if kind != "inverse_sqrt":
        raise ValueError(f"class_weights: {kind!r}; expected none or inverse_sqrt")
    counts = np.bincount(labels[labels >= 0], minlength=n_classes).astype(np.float64)
    w = 1.0 / np.sqrt(np.where(counts > 0, counts, counts[counts > 0].min()))
    w /= (w * counts).sum() / counts.sum()
    return torch.tensor(w, dtype=torch.float32)


def make_module(model_cfg: dict, training: dict, dims: dict, steps_per_epoch: int, weights=None):
    from theraflow.training.tasks import pair_task_module

    class DDIModule(pair_task_module()):
        loss_name = "train_loss"

        def __init__(self) -> None:
            super().__init__(training, steps_per_epoch)
            self.model = build_model(model_cfg, dims)
            self.register_buffer("class_weight", weights, persistent=False)

        def loss(self, logits, y):
            if self.model.binary:
                return torch.nn.functional.binary_cross_entropy_with_logits(logits, y.float())
            weight = None if self.class_weight is None else self.class_weight.to(logits.device)
            return torch.nn.functional.cross_entropy(logits, y, weight=weight,
                                                     label_smoothing=self.training_cfg["label_smoothing"])

        def training_step(self, batch, _):
            return self.loss(self(batch), batch["y"])

        def on_validation_epoch_end(self):
            out = self.validation_outputs()
            if out is None:
                return
            from theraflow.ddi.metrics import label_metrics

            logits, y = out
            m = label_metrics(y.numpy(), self.model.probabilities(logits).numpy())
            self.log("val_loss", float(self.loss(logits, y)))
            self.log("val_accuracy", m["accuracy"], prog_bar=True)
            self.log("val_macro_f1", m["macro_f1"], prog_bar=True)

    return DDIModule()


def train_ddi(ddiset: DDISet, parts: np.ndarray, model_cfg: dict, outdir: str | Path, *, seed: int = 0,
              training: dict | None = None, featurizer: dict | None = None, resume: bool = True,
              progress: bool | None = None, extra_meta: dict | None = None, callbacks: list | None = None) -> dict:
    """Train on ``parts == "train"``, select on ``parts == "valid"``; see the module docstring."""
    from theraflow.training.bundle import write_train_drugs
    from theraflow.training.tasks import fit_task, recipe_fingerprint, start_run, vocabulary_rows

    t, train_idx, valid_idx = start_run(DEFAULT_TRAINING, model_cfg, training, seed, parts)
    outdir = Path(outdir)
    # a drug's id is known to the model only when it trains on it (drugs only in valid/test are "unknown")
    train_drugs = np.unique(np.concatenate([ddiset.pair_a[train_idx], ddiset.pair_b[train_idx]]))
    ddiset = replace(ddiset, drug_index=vocabulary_rows(len(ddiset.drug_ids), train_drugs))
    dims = {"node_dim": ddiset.graphs.num_node_features, "edge_dim": ddiset.graphs.num_edge_features,
            "num_drugs": len(train_drugs), "n_classes": len(ddiset.classes)}
    train_data = DDIBatches(ddiset, train_idx, batch_size=t["batch_size"], seed=seed)
    valid_data = DDIBatches(ddiset, valid_idx, batch_size=max(4096, t["batch_size"]), shuffle=False, seed=seed)
    weights = None if dims["n_classes"] == 2 else class_weights(ddiset.label[train_idx], dims["n_classes"],
                                                                t["class_weights"])
    module = make_module(model_cfg, t, dims, steps_per_epoch=len(train_data), weights=weights)
    train_data.inputs = valid_data.inputs = Inputs.of(module.model)
    fingerprint = recipe_fingerprint(model_cfg, t, seed, dims, train_idx, valid_idx, classes=ddiset.classes)
    result = fit_task(module, train_data, valid_data, outdir, t, seed=seed, monitor="val_accuracy", mode="max",
                      fingerprint=fingerprint, resume=resume, progress=progress, callbacks=callbacks)
    module.load_state_dict(result.state_dict)
    meta = {"task": "ddi", "model_config": model_cfg, "training": t, "dims": dims, "classes": ddiset.classes,
            "drug_vocab": [ddiset.graphs.smiles[i] for i in train_drugs], "featurizer": featurizer or {},
            "seed": seed, "epochs_trained": result.epochs, "best_val_accuracy": result.best_score,
            "train_seconds": result.seconds, "device": result.device, **(extra_meta or {})}
    module.model.drug_vocab = meta["drug_vocab"]
    save_model(module.model, meta, outdir)
    write_train_drugs(ddiset.graphs.smiles, ddiset.drug_ids, train_drugs, outdir)
    return meta


def save_model(model: torch.nn.Module, meta: dict, outdir: str | Path) -> None:
    from theraflow.training.bundle import save_bundle

    save_bundle(model, meta, outdir, "theraflow-ddi-1")


def load_model(model_dir: str | Path):
    """(model in eval mode, meta) from ``model.safetensors`` + ``model.json`` (no pickle)."""
    from theraflow.training.bundle import load_bundle

    return load_bundle(model_dir, lambda meta: build_model(meta["model_config"], meta["dims"]),
                       what="drug–drug interaction", task="ddi")


@torch.no_grad()
def predict_proba(model, ddiset: DDISet, indices: np.ndarray | None = None, batch_size: int = 8192) -> np.ndarray:
    """[n, n_classes] class probabilities of the pairs ``indices`` (all if None), in that order."""
    from theraflow.training.bundle import with_vocabulary

    idx = np.arange(len(ddiset)) if indices is None else np.asarray(indices, dtype=np.int64)
    ddiset = with_vocabulary(ddiset, getattr(model, "drug_vocab", None))
    inputs = Inputs.of(model)
    model.eval()
    out = [model.probabilities(model(ddiset.batch(idx[i : i + batch_size], inputs))).float().numpy()
           for i in range(0, len(idx), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, model.n_classes), np.float32)
