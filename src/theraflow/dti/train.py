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

import json
import logging
import os
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
    "ema": None,
}


def build_model(model_cfg: dict, node_dim: int, edge_dim: int, num_targets: int, num_drugs: int = 0):
    from theraflow.nn.interaction import DTIModel

    return DTIModel(model_cfg, node_dim=node_dim, edge_dim=edge_dim, num_targets=num_targets, num_drugs=num_drugs)


def make_module(model_cfg: dict, training: dict, dims: dict, steps_per_epoch: int):
    import pytorch_lightning as pl

    class DTIModule(pl.LightningModule):
        loss_name = "train_mse"  # the history's training column, in label units (loss_unit)

        def __init__(self) -> None:
            super().__init__()
            self.model = build_model(model_cfg, dims["node_dim"], dims["edge_dim"], dims["num_targets"],
                                     dims.get("num_drugs", 0))
            self.training_cfg = training
            self.steps_per_epoch = steps_per_epoch
            self._val: list[tuple[torch.Tensor, torch.Tensor]] = []
            self.train_batches: PairBatches | None = None  # set by train_model (checkpointed position)

        @property
        def loss_unit(self) -> float:  # the loss is in standardized units: sd² back to label units
            return float(self.model.head.out_scale) ** 2

        @staticmethod
        def batch_size(batch) -> int:
            return len(batch["y"])

        def forward(self, batch):
            return self.model(batch)

        def training_step(self, batch, _):
            scale = self.model.head.out_scale  # standardized label units: one optimization on any scale
            return torch.nn.functional.mse_loss(self(batch) / scale, batch["y"] / scale)

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
            # where the next batch comes from, so that a resumed run continues at the next batch
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

    return DTIModule()


def seed_everything(seed: int) -> None:
    from theraflow.training import seed_everything as seed_all

    seed_all(seed)


def train_model(pairset: PairSet, parts: np.ndarray, model_cfg: dict, outdir: str | Path, *,
                seed: int = 0, training: dict | None = None, featurizer: dict | None = None,
                resume: bool = True, progress: bool | None = None, extra_meta: dict | None = None,
                callbacks: list | None = None) -> dict:
    """Train on ``parts == "train"``, select on ``parts == "valid"``; see the module docstring."""
    import hashlib

    from theraflow.training import Recipe, fit

    t = {**DEFAULT_TRAINING, **(model_cfg.get("training") or {}), **(training or {})}
    unknown = set(t) - set(DEFAULT_TRAINING)
    if unknown:
        raise ValueError(f"unknown training option(s): {', '.join(sorted(unknown))}")
    outdir = Path(outdir)
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
    module.train_batches = train_data

    # what a checkpoint must have been written under to be resumed (budget and threads may change)
    split_hash = hashlib.sha256(train_idx.astype(np.int64).tobytes() + b"|" + valid_idx.astype(np.int64).tobytes())
    fingerprint = {"model": model_cfg, "training": {k: v for k, v in t.items() if k not in ("max_minutes", "threads")},
                   "seed": seed, "dims": dims, "pairs": split_hash.hexdigest()}
    recipe = Recipe(max_epochs=t["max_epochs"], monitor="val_mse", mode="min", max_minutes=t["max_minutes"],
                    patience=t["patience"], eval_every=t["eval_every"], grad_clip=t["grad_clip"], seed=seed,
                    ema=t["ema"])
    result = fit(module, train_data, valid_data, outdir, recipe=recipe, fingerprint=fingerprint, resume=resume,
                 progress=progress, callbacks=callbacks, history_file="history.csv", mid_epoch_resume=True)
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
    _write_train_drugs(pairset, train_idx, outdir)
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


def _write_train_drugs(pairset: PairSet, train_idx: np.ndarray, outdir: Path) -> None:
    """The training drugs (standardized SMILES, id): scoring measures applicability against them."""
    from theraflow.io import write_text

    smiles = pairset.graphs.smiles
    if smiles is None:
        return
    drugs = np.unique(pairset.pair_drug[train_idx])
    write_text(outdir / "train_drugs.smi", "".join(f"{smiles[i]} {pairset.drug_ids[i]}\n" for i in drugs))


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
    model.drug_vocab = meta.get("drug_vocab") or []
    return model, meta


def for_model(model, pairset: PairSet) -> PairSet:
    """``pairset`` with each drug's row in the model's drug vocabulary (by standardized SMILES; -1 for a
    drug it never trained on), whatever vocabulary the pair set was built with."""
    vocab = getattr(model, "drug_vocab", None)
    if vocab is None or pairset.graphs.smiles is None:
        return pairset
    row = {smi: i for i, smi in enumerate(vocab)}
    return replace(pairset, drug_index=np.array([row.get(smi, -1) for smi in pairset.graphs.smiles], dtype=np.int64))


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
