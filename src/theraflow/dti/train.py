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
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from theraflow.dti.data import PairBatches, PairSet
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
}


def _lightning():
    import pytorch_lightning as pl

    return pl


def build_model(model_cfg: dict, node_dim: int, edge_dim: int, num_targets: int):
    from theraflow.nn.interaction import DTIModel

    return DTIModel(model_cfg, node_dim=node_dim, edge_dim=edge_dim, num_targets=num_targets)


def make_module(model_cfg: dict, training: dict, dims: dict, steps_per_epoch: int):
    pl = _lightning()

    class DTIModule(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = build_model(model_cfg, dims["node_dim"], dims["edge_dim"], dims["num_targets"])
            self.training_cfg = training
            self.steps_per_epoch = steps_per_epoch
            self._val: list[tuple[torch.Tensor, torch.Tensor]] = []

        def forward(self, batch):
            return self.model(batch["drugs"], batch["tokens"], batch["target_index"], batch["pair_drug"],
                              batch["pair_target"])

        def training_step(self, batch, _):
            loss = torch.nn.functional.mse_loss(self(batch), batch["y"])
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

        def configure_optimizers(self):
            t = self.training_cfg
            opt = torch.optim.AdamW(self.parameters(), lr=t["lr"], weight_decay=t["weight_decay"])
            if t["scheduler"] == "none":
                return opt
            total = max(1, t["max_epochs"] * self.steps_per_epoch)
            if t["scheduler"] == "onecycle":
                sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=t["lr"], total_steps=total + 1,
                                                            pct_start=t["warmup_frac"])
            elif t["scheduler"] == "cosine":
                warm = max(1, int(t["warmup_frac"] * total))
                sched = torch.optim.lr_scheduler.LambdaLR(
                    opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / total))))
            else:
                raise ValueError(f"unknown scheduler {t['scheduler']!r}")
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    return DTIModule()


class _History:
    """Collects per-epoch metrics into a CSV next to the checkpoints."""

    @staticmethod
    def callback(path: Path, t0: float):
        pl = _lightning()

        class HistoryCallback(pl.Callback):
            def __init__(self) -> None:
                self.rows: list[dict] = []

            def on_train_epoch_end(self, trainer, module):
                # runs after this epoch's validation and after train metrics are reduced
                m = {k: float(v) for k, v in trainer.callback_metrics.items()}
                self.rows = [r for r in self.rows if r["epoch"] < trainer.current_epoch]
                self.rows.append({"epoch": trainer.current_epoch, "seconds": round(time.time() - t0, 1), **m})
                import pandas as pd

                from theraflow.io import write_table

                write_table(pd.DataFrame(self.rows), path)

        return HistoryCallback()


def _save_on_sigterm():
    """A callback that writes last.ckpt when the job is told to stop (SIGTERM at wall time)."""
    pl = _lightning()

    class SaveOnException(pl.Callback):
        def on_exception(self, trainer, module, exception):
            ckpt_dir = getattr(trainer, "_theraflow_ckpt_dir", None)
            if ckpt_dir is not None and trainer.current_epoch > 0:
                trainer.save_checkpoint(str(Path(ckpt_dir) / "last.ckpt"))
                log.warning("training interrupted (%s): checkpoint written to %s/last.ckpt",
                            type(exception).__name__, ckpt_dir)

    return SaveOnException()


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
    uses_seq = "cnn" in model_cfg["target_encoder"]["type"]
    train_data = PairBatches(pairset, train_idx, mode=t["batch_mode"], batch_size=t["batch_size"],
                             target_group=t["target_group"], drug_group=t["drug_group"], seed=seed,
                             with_tokens=uses_seq)
    valid_data = PairBatches(pairset, valid_idx, mode=t["batch_mode"], batch_size=max(2048, t["batch_size"]),
                             target_group=max(64, t["target_group"]), shuffle=False, seed=seed,
                             with_tokens=uses_seq)
    dims = {"node_dim": pairset.graphs.num_node_features, "edge_dim": pairset.graphs.num_edge_features,
            "num_targets": len(pairset.target_ids)}
    module = make_module(model_cfg, t, dims, steps_per_epoch=len(train_data))

    accelerator = "gpu" if torch.cuda.is_available() else "cpu"
    ckpt = ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor="val_mse", mode="min", save_top_k=1,
                           save_last=True, every_n_epochs=t["eval_every"])
    t0 = time.time()
    history = _History.callback(outdir / "history.csv", t0)
    trainer = pl.Trainer(
        accelerator=accelerator, devices=1, max_epochs=t["max_epochs"],
        max_time={"minutes": float(t["max_minutes"])} if t["max_minutes"] else None,
        precision="16-mixed" if accelerator == "gpu" else "32-true",
        callbacks=[ckpt, EarlyStopping(monitor="val_mse", mode="min", patience=t["patience"]), history,
                   _save_on_sigterm(), *(callbacks or [])],
        check_val_every_n_epoch=t["eval_every"], gradient_clip_val=t["grad_clip"], logger=False,
        enable_progress_bar=bool(progress) if progress is not None else None,
        enable_model_summary=False, default_root_dir=str(outdir),
        num_sanity_val_steps=0,
    )
    trainer._theraflow_ckpt_dir = ckpt_dir
    last = ckpt_dir / "last.ckpt"
    fingerprint = _fingerprint(model_cfg, t, seed, train_idx, valid_idx, dims)
    fp_path = ckpt_dir / "fingerprint.json"
    if fp_path.exists() and json.loads(fp_path.read_text()) != fingerprint:
        log.info("model config, recipe, seed or split changed since the checkpoints were written: starting over")
        for old in ckpt_dir.glob("*.ckpt"):
            old.unlink()
    write_json(fp_path, fingerprint)
    ckpt_path = str(last) if resume and last.exists() else None
    if ckpt_path:
        log.info("resuming from %s", ckpt_path)
        if (outdir / "history.csv").exists():
            import pandas as pd

            history.rows = pd.read_csv(outdir / "history.csv").to_dict("records")
    loader = lambda ds: torch.utils.data.DataLoader(ds, batch_size=None, num_workers=0)  # noqa: E731
    # Resuming reads a checkpoint this run wrote; weights_only keeps torch.load from unpickling code.
    trainer.fit(module, loader(train_data), loader(valid_data), ckpt_path=ckpt_path, weights_only=True)
    wall = time.time() - t0

    best = ckpt.best_model_path or str(last)
    state = _load_lightning_state(best)
    module.load_state_dict(state)
    meta = {
        "model_config": model_cfg,
        "training": t,
        "dims": dims,
        "target_ids": list(pairset.target_ids),
        "target_sequences": list(pairset.sequences) if uses_seq else [],
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
    return meta


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
    model = build_model(meta["model_config"], meta["dims"]["node_dim"], meta["dims"]["edge_dim"],
                        meta["dims"]["num_targets"])
    state = load_file(str(model_dir / "model.safetensors"))
    state = {k.removeprefix("model."): v for k, v in state.items()}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatch
        raise InputError(f"{model_dir}: weights do not match the model config ({str(exc).splitlines()[1].strip()})") from None
    if missing or unexpected:
        raise InputError(f"{model_dir}: weights do not match the model config "
                         f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    model.eval()
    return model, meta


@torch.no_grad()
def predict(model, pairset: PairSet, indices: np.ndarray | None = None, *, uses_sequences: bool = True) -> np.ndarray:
    """Predictions for the pairs ``indices`` (all if None), in that order."""
    idx = np.arange(len(pairset)) if indices is None else np.asarray(indices, dtype=np.int64)
    out = np.full(len(pairset), np.nan, dtype=np.float32)
    model.eval()
    for b in PairBatches(pairset, idx, mode="blocks", target_group=64, shuffle=False, with_tokens=uses_sequences):
        pred = model(b["drugs"], b["tokens"], b["target_index"], b["pair_drug"], b["pair_target"])
        out[b["idx"].numpy()] = pred.float().cpu().numpy()
    return out[idx]


def json_default(obj: Any):  # pragma: no cover - used by callers writing metadata
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(type(obj).__name__)
