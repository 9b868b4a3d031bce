"""Training of drug–target interaction models, on theraflow's training runtime.

``train_model`` fits a :class:`~theraflow.nn.interaction.DTIModel` on the training part of a
split, selecting on the validation part (never the test part), through
:func:`theraflow.training.fit` — checkpoints every epoch, SIGTERM → checkpoint → exit 143,
resume only under the same recipe fingerprint, wall-time budget, history, seeds, mixed precision
on a GPU. This module supplies what is particular to the task:

- the model, the loss (MSE on labels standardized on the training part: the head outputs
  ``raw * sd + mean``, so the network learns unit-scale targets on any label scale) and the
  validation metrics (CI, MSE);
- the batches (:class:`~theraflow.dti.data.PairBatches`: unique drugs and targets once per
  batch) and their position, which travels in the checkpoints so that a job stopped mid-epoch
  resumes at the next batch and ends with exactly the weights of an uninterrupted run (tested);
- an optional calibration ``a + b·prediction`` fitted on the validation part (:func:`calibrate`);
- ``model.safetensors`` + ``model.json`` (the selected weights and everything needed to rebuild
  the model, without pickle), ``history.csv`` and ``train_drugs.smi``.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from theraflow.dti.data import Inputs, PairBatches, PairSet
from theraflow.dti.metrics import regression_metrics

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
    "ema": None,
}


def build_model(model_cfg: dict, node_dim: int, edge_dim: int, num_targets: int, num_drugs: int = 0):
    from theraflow.nn.interaction import DTIModel

    return DTIModel(model_cfg, node_dim=node_dim, edge_dim=edge_dim, num_targets=num_targets, num_drugs=num_drugs)


def make_module(model_cfg: dict, training: dict, dims: dict, steps_per_epoch: int):
    from theraflow.training.tasks import pair_task_module

    class DTIModule(pair_task_module()):
        loss_name = "train_mse"  # the history's training column, in label units (loss_unit)

        def __init__(self) -> None:
            super().__init__(training, steps_per_epoch)
            self.model = build_model(model_cfg, dims["node_dim"], dims["edge_dim"], dims["num_targets"],
                                     dims.get("num_drugs", 0))

        @property
        def loss_unit(self) -> float:  # the loss is in standardized units: sd² back to label units
            return float(self.model.head.out_scale) ** 2

        def training_step(self, batch, _):
            scale = self.model.head.out_scale  # standardized label units: one optimization on any scale
            return torch.nn.functional.mse_loss(self(batch) / scale, batch["y"] / scale)

        def on_validation_epoch_end(self):
            out = self.validation_outputs()
            if out is None:
                return
            m = regression_metrics(out[1].numpy(), out[0].numpy())
            self.log("val_mse", m["mse"], prog_bar=True)
            self.log("val_ci", m["ci"], prog_bar=True)

    return DTIModule()


def train_model(pairset: PairSet, parts: np.ndarray, model_cfg: dict, outdir: str | Path, *,
                seed: int = 0, training: dict | None = None, featurizer: dict | None = None,
                resume: bool = True, progress: bool | None = None, extra_meta: dict | None = None,
                callbacks: list | None = None) -> dict:
    """Train on ``parts == "train"``, select on ``parts == "valid"``; see the module docstring."""
    from theraflow.training.bundle import write_train_drugs
    from theraflow.training.tasks import fit_task, recipe_fingerprint, start_run, vocabulary_rows

    t, train_idx, valid_idx = start_run(DEFAULT_TRAINING, model_cfg, training, seed, parts)
    outdir = Path(outdir)
    labels = pairset.label[train_idx].astype(np.float64)
    if not np.isfinite(labels).all():
        raise ValueError("training labels must be finite numbers")
    # a drug's id is known to the model only when it trains on it: drugs seen only in valid/test are "unknown"
    train_drugs = np.unique(pairset.pair_drug[train_idx])
    pairset = replace(pairset, drug_index=vocabulary_rows(len(pairset.drug_ids), train_drugs))
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

    fingerprint = recipe_fingerprint(model_cfg, t, seed, dims, train_idx, valid_idx)
    result = fit_task(module, train_data, valid_data, outdir, t, seed=seed, monitor="val_mse", mode="min",
                      fingerprint=fingerprint, resume=resume, progress=progress, callbacks=callbacks)
    module.load_state_dict(result.state_dict)
    module.model.drug_vocab = [pairset.graphs.smiles[i] for i in train_drugs]
    set_fallback(module.model, pairset, train_idx)
    calibration = calibrate(module.model, pairset, valid_idx, inputs) if t["calibrate"] else None
    meta = {
        "model_config": model_cfg,
        "training": t,
        "dims": dims,
        "label_scale": label_scale,
        "calibration": calibration,
        "drug_vocab": module.model.drug_vocab,
        "target_ids": list(pairset.target_ids),
        "target_sequences": list(pairset.sequences) if module.model.target.uses_sequences else [],
        "max_len": pairset.max_len,
        "featurizer": featurizer or {},
        "seed": seed,
        "epochs_trained": result.epochs,
        "best_epoch_val_mse": result.best_score,
        "train_seconds": result.seconds,
        "device": result.device,
        **(extra_meta or {}),
    }
    save_model(module.model, meta, outdir)
    write_train_drugs(pairset.graphs.smiles, pairset.drug_ids, train_drugs, outdir)
    return meta


def set_fallback(model, pairset: PairSet, train_idx: np.ndarray) -> None:
    """The model's fallback from the training labels: their mean, each trained target's mean offset and
    each trained drug's (vocabulary rows; see :class:`~theraflow.nn.interaction.DTIModel`)."""
    y = pairset.label[train_idx].astype(np.float64)
    mean = float(y.mean())
    with torch.no_grad():
        model.fallback_mean.fill_(mean)
        for table, ent in ((model.fallback_target, pairset.pair_target[train_idx]),
                           (model.fallback_drug, pairset.drug_index[pairset.pair_drug[train_idx]])):
            n = len(table) - 1
            ok = (ent >= 0) & (ent < n)
            sums = np.bincount(ent[ok], weights=y[ok] - mean, minlength=n)
            counts = np.bincount(ent[ok], minlength=n)
            table[:n] = torch.from_numpy(np.divide(sums, counts, out=np.zeros(n), where=counts > 0))
            table[n] = 0.0


def calibrate(model, pairset: PairSet, valid_idx: np.ndarray, inputs: Inputs) -> dict:
    """Fit the shrinkage weight w in [0, 1] of ``fallback + w * (score - fallback)`` on the validation
    pairs (least squares) and set it on the model.

    Where the validation part holds what a split keeps out of training (drugs never seen in a
    cold-drug split), w measures how far the network's departures from what the training labels
    alone say (mean, target and drug offsets) carry over to such pairs, and shrinks them by as
    much. Only shrinking: a free intercept or a stretch fitted on a few validation drugs does not
    carry over to other new drugs (measured on Davis cold splits). Rankings within a target keep
    their order. On pairs like the training ones w ≈ 1.
    """
    model.shrink.fill_(1.0)
    pairset = for_model(model, pairset)
    pred = predict(model, pairset, valid_idx, inputs=inputs).astype(np.float64)
    b = pairset.batch(valid_idx, inputs)
    base = model.fallback(b["drugs"]["index"][b["pair_drug"]], b["targets"]["index"][b["pair_target"]])
    base = base.double().numpy()
    y = pairset.label[valid_idx].astype(np.float64)
    d = pred - base
    w = float(np.clip(((y - base) * d).sum() / (d * d).sum(), 0.0, 1.0)) if (d * d).sum() > 0 else 0.0
    model.shrink.fill_(w)
    shrunk = base + w * d
    result = {"w": w, "valid_mse_before": float(((pred - y) ** 2).mean()),
              "valid_mse_after": float(((shrunk - y) ** 2).mean()), "valid_mse_fallback": float(((base - y) ** 2).mean())}
    log.info("calibration on %d validation pairs: predictions shrunk toward the training fallback by w = %.3f "
             "(validation MSE %.4f -> %.4f; fallback alone %.4f)", len(y), w, result["valid_mse_before"],
             result["valid_mse_after"], result["valid_mse_fallback"])
    return result


def save_model(model: torch.nn.Module, meta: dict, outdir: str | Path) -> None:
    from theraflow.training.bundle import save_bundle

    save_bundle(model, meta, outdir, "theraflow-dti-1")


def load_model(model_dir: str | Path):
    """(model in eval mode, meta) from ``model.safetensors`` + ``model.json`` (no pickle)."""
    from theraflow.training.bundle import load_bundle

    def build(meta: dict):
        dims = meta["dims"]
        return build_model(meta["model_config"], dims["node_dim"], dims["edge_dim"], dims["num_targets"],
                           dims.get("num_drugs", 0))

    return load_bundle(model_dir, build, what="drug–target interaction", upgrade=_upgrade_state)


def for_model(model, pairset: PairSet) -> PairSet:
    """``pairset`` with each drug's row in the model's drug vocabulary (by standardized SMILES; -1 for a
    drug it never trained on), whatever vocabulary the pair set was built with."""
    from theraflow.training.bundle import with_vocabulary

    return with_vocabulary(pairset, getattr(model, "drug_vocab", None))


def _upgrade_state(state: dict, model) -> dict:
    """Weights written by the first release: the drug graph encoder sat at ``drug.*`` (now
    ``drug.graph.*``) and the head had no output scale (then 1 and 0: labels unscaled)."""
    if model.drug.graph is not None and not any(k.startswith("drug.graph.") for k in state):
        state = {(f"drug.graph.{k[5:]}" if k.startswith("drug.") else k): v for k, v in state.items()}
    for name, value in (("head.out_scale", 1.0), ("head.out_shift", 0.0), ("shrink", 1.0), ("fallback_mean", 0.0)):
        state.setdefault(name, torch.tensor(value))
    for name in ("fallback_target", "fallback_drug"):  # no fallback: zeros (shrink 1 never reads it)
        state.setdefault(name, torch.zeros_like(getattr(model, name)))
    return state


@torch.no_grad()
def predict(model, pairset: PairSet, indices: np.ndarray | None = None, *, inputs: Inputs | None = None) -> np.ndarray:
    """Predictions for the pairs ``indices`` (all if None), in that order."""
    idx = np.arange(len(pairset)) if indices is None else np.asarray(indices, dtype=np.int64)
    out = np.full(len(pairset), np.nan, dtype=np.float32)
    pairset = for_model(model, pairset)
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
