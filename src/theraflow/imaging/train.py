"""Segmentation training on theraflow's training runtime: MONAI networks, Dice+CE, cached preprocessing.

:func:`train` reads a datalist, splits it (fixed or k-fold, from config), preprocesses
through the content-keyed cache, trains with random patches and augmentation and validates
with sliding windows through :func:`theraflow.training.fit` — a checkpoint every epoch
(``checkpoints/last.ckpt``, written atomically), SIGTERM → exit 143 with the last end-of-epoch
checkpoint, resume only under the same config (else start over, with the reason logged), the
random state of the data loader and the augmentations in the checkpoints (a resumed run ends
with the weights of an uninterrupted one) — and exports a bundle (``model.json`` +
``model.safetensors``) plus the learning curve (``history.tsv``) and the split (``split.tsv``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from theraflow.imaging.augment import BatchAffine
from theraflow.imaging.bundle import save_bundle
from theraflow.imaging.cache import Augmented, ContentCache
from theraflow.imaging.datalists import items as datalist_items
from theraflow.imaging.datalists import read_datalist
from theraflow.imaging.modelconfig import label_names, load_model_config, resolve, roi_size
from theraflow.imaging.splits import SPLIT_DEFAULTS, assign_split
from theraflow.imaging.transforms import augment_spec, build, preprocess_spec
from theraflow.io import InputError, write_json, write_table
from theraflow.training import Recipe, device_name, fit, seed_everything
from theraflow.training.runtime import precision_for

log = logging.getLogger(__name__)

# Keys that may change between a checkpoint and its resumption without invalidating it.
_RESUMABLE = {("train", "max_epochs"), ("train", "val_every"), ("train", "num_workers"), ("train", "select")}


def config_key(cfg: dict) -> str:
    """sha256 of the config without the keys a resumed run may change."""
    trimmed = json.loads(json.dumps(cfg, default=str))
    for section, key in _RESUMABLE:
        trimmed.get(section, {}).pop(key, None)
    return hashlib.sha256(json.dumps(trimmed, sort_keys=True).encode()).hexdigest()


def _lightning():
    import pytorch_lightning as pl

    return pl


def random_states(obj, name: str, found: dict | None = None, seen: set | None = None) -> dict:
    """Every numpy RandomState reachable from a MONAI transform chain, by attribute path (the way
    MONAI's ``set_rnd`` walks it): dictionary transforms keep inner array transforms with states of
    their own, so the outer ``R`` alone does not say where the augmentations stand."""
    import numpy as np

    found = {} if found is None else found
    seen = set() if seen is None else seen
    if id(obj) in seen or obj is None or isinstance(obj, (str, bytes, int, float, bool, torch.Tensor, np.ndarray)):
        return found
    seen.add(id(obj))
    if isinstance(obj, np.random.RandomState):
        found[name] = obj
        return found
    if isinstance(obj, (list, tuple)):
        for i, item in enumerate(obj):
            random_states(item, f"{name}.{i}", found, seen)
    elif isinstance(obj, dict):
        for key, item in obj.items():
            random_states(item, f"{name}.{key}", found, seen)
    elif hasattr(obj, "__dict__") and type(obj).__module__.startswith(("monai", "theraflow")):
        for key, item in vars(obj).items():
            random_states(item, f"{name}.{key}", found, seen)
    return found


def make_module(cfg: dict):
    """The LightningModule for ``cfg`` (built lazily so importing this module stays cheap)."""
    pl = _lightning()
    from monai.inferers import sliding_window_inference
    from monai.losses import DeepSupervisionLoss, DiceCELoss
    from monai.metrics import DiceMetric
    from monai.networks.utils import one_hot

    from theraflow.nn.segmentation import build_seg_net
    from theraflow.training.schedules import epoch_factor, step_scheduler

    class SegModule(pl.LightningModule):
        def __init__(self, config: dict, key: str):
            super().__init__()
            self.save_hyperparameters({"config_key": key})
            self.cfg = config
            self.augmentations = None  # the training data's random transforms (set by train; their state is checkpointed)
            # an extra term added to the loss, given the network (federated FedProx: (mu/2)·||w - w_global||²)
            self.penalty = None
            self._epoch_t0 = 0.0
            self._train_seconds: float | None = None
            self.n_classes = len(config["labels"])
            self.net = build_seg_net(config["network"], out_channels=self.n_classes)
            loss = dict(config["train"]["loss"])
            self.loss = DiceCELoss(to_onehot_y=True, softmax=True, **loss)
            # a network with deep supervision (DynUNet deep_supervision: true) returns its heads stacked on
            # dim 1 in training: each head's Dice+CE against the label, weighted 1, 1/2, 1/4, ... (nnU-Net's)
            self.deep_loss = DeepSupervisionLoss(self.loss, weight_mode="exp")
            self.dice = DiceMetric(include_background=False, reduction="mean_batch", ignore_empty=True)
            self.roi = roi_size(config)
            aug = config["augment"]
            gen = torch.Generator().manual_seed(int(config["train"]["seed"]))
            self.batch_affine = BatchAffine(aug["affine_prob"], aug["rotate_deg"], aug["scale"], generator=gen)

        def forward(self, x):
            return self.net(x)

        @staticmethod
        def batch_size(batch) -> int:
            return int(batch["image"].shape[0])

        def random_generators(self) -> dict:
            """Generators a resumed run must restore: the batch affine's, and (data loaded in this
            process) those of the random transforms; worker processes are seeded from torch's state."""
            return {"batch_affine": self.batch_affine.generator, **random_states(self.augmentations, "augment")}

        def on_train_epoch_start(self):
            self._epoch_t0 = time.perf_counter()
            self._train_seconds = None

        def on_validation_start(self):
            if self._train_seconds is None:  # validation runs inside the training epoch, before its end hooks
                self._train_seconds = time.perf_counter() - self._epoch_t0

        def epoch_log(self) -> dict:
            seconds = self._train_seconds if self._train_seconds is not None else time.perf_counter() - self._epoch_t0
            return {"train_seconds": round(seconds, 3)}

        def training_step(self, batch, batch_idx):
            image, label = self.batch_affine(batch["image"], batch["label"])
            logits = self.net(image)
            if logits.dim() == image.dim() + 1:  # deep supervision heads
                loss = self.deep_loss(list(torch.unbind(logits, dim=1)), label)
            else:
                loss = self.loss(logits, label)
            if self.penalty is not None:
                loss = loss + self.penalty(self.net)
            self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=batch["image"].shape[0])
            return loss

        def validation_step(self, batch, batch_idx):
            infer = self.cfg["infer"]
            logits = sliding_window_inference(batch["image"], self.roi, infer["sw_batch_size"], self.net,
                                              overlap=0.25, mode=infer["mode"])
            pred = one_hot(logits.argmax(1, keepdim=True), self.n_classes)
            self.dice(pred, one_hot(batch["label"].long(), self.n_classes))

        def on_validation_epoch_end(self):
            per_class = self.dice.aggregate()
            self.dice.reset()
            names = list(label_names(self.cfg).values())
            for name, value in zip(names, per_class.tolist(), strict=True):
                self.log(f"val_dice_{name}", float(value))
            self.log("val_dice", float(torch.nanmean(per_class)))

        def configure_optimizers(self):
            t = self.cfg["train"]
            if t["optimizer"] == "sgd":
                opt = torch.optim.SGD(self.parameters(), lr=t["lr"], momentum=t["momentum"], nesterov=True,
                                      weight_decay=t["weight_decay"])
            else:
                opt = torch.optim.AdamW(self.parameters(), lr=t["lr"], weight_decay=t["weight_decay"])
            if t["max_minutes"]:  # per step, following the clock when the budget ends before max_epochs
                total, epochs = int(self.trainer.estimated_stepping_batches), max(1, int(t["max_epochs"]))
                sched = step_scheduler(opt, t["schedule"], total_steps=total, budget_minutes=t["max_minutes"],
                                       warmup=int(t["warmup_epochs"]) / epochs,
                                       steps_per_epoch=max(1, total // epochs))
                return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
            sched = torch.optim.lr_scheduler.LambdaLR(
                opt, epoch_factor(t["schedule"], int(t["warmup_epochs"]), int(t["max_epochs"])))
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}

    return SegModule


def datasets(cfg: dict, train_items: list[dict], val_items: list[dict], cache_dir) -> tuple:
    """(training set: cached preprocessing + the config's augmentations, validation set: cached preprocessing)."""
    pre = preprocess_spec(cfg["preprocess"], keys=("image", "label"))
    train_ds = Augmented(ContentCache(train_items, pre, cache_dir), build(augment_spec(cfg["augment"], cfg["train"])))
    return train_ds, ContentCache(val_items, pre, cache_dir)


def loader(train_ds, cfg: dict):
    """The training batches: shuffled, the config's batch size and workers."""
    from monai.data import DataLoader

    t = cfg["train"]
    workers = int(t["num_workers"])
    return DataLoader(train_ds, batch_size=int(t["batch_size"]), shuffle=True, num_workers=workers,
                      persistent_workers=workers > 0, drop_last=len(train_ds) > int(t["batch_size"]))


def recipe_for(cfg: dict, *, validate: bool) -> Recipe:
    """The runtime's recipe for a segmentation config (validation Dice monitored when ``validate``)."""
    t = cfg["train"]
    return Recipe(max_epochs=int(t["max_epochs"]), max_minutes=t["max_minutes"], monitor="val_dice", mode="max",
                  eval_every=int(t["val_every"]), precision=t["precision"], seed=int(t["seed"]),
                  deterministic=bool(t["deterministic"]),
                  select="best" if t["select"] == "best" and validate else "last")


def train(datalist: str | os.PathLike | pd.DataFrame, out_dir: str | os.PathLike, *,
          model_config: str | os.PathLike | dict | None = None, overrides: dict | None = None,
          cache_dir: str | os.PathLike = "resources/imaging_cache", split: dict | None = None,
          resume: bool = True, accelerator: str = "auto", devices: int | str = "auto",
          progress_bar: bool | None = None) -> dict[str, Any]:
    """Train a segmentation model on the labelled cases of ``datalist``; return the training record.

    Writes into ``out_dir``: ``model.json`` + ``model.safetensors`` (the bundle),
    ``history.tsv`` (per-epoch seconds, loss, validation Dice), ``split.tsv`` and
    ``checkpoints/last.ckpt`` (resumed from when present and ``resume``).
    """
    from monai.data import DataLoader

    out = Path(out_dir)
    if isinstance(model_config, dict):
        cfg = resolve(model_config, overrides)
    else:
        cfg = load_model_config(model_config, overrides)
    df = datalist if isinstance(datalist, pd.DataFrame) else read_datalist(datalist)
    missing = df.loc[df["label"].fillna("") == "", "id"].tolist()
    if missing:
        raise InputError(f"training needs a label for every case; none for {', '.join(missing[:5])}"
                         + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""))
    split_cfg = {**SPLIT_DEFAULTS, **(split or {})}
    unknown = set(split_cfg) - set(SPLIT_DEFAULTS)
    if unknown:
        raise ValueError(f"split: unknown keys {sorted(unknown)} (expected {sorted(SPLIT_DEFAULTS)})")
    split_df = assign_split(df["id"], **split_cfg)
    write_table(split_df, out / "split.tsv")
    train_ids = set(split_df.loc[split_df["split"] == "train", "id"])
    val_ids = set(split_df.loc[split_df["split"] == "val", "id"])
    t = cfg["train"]
    seed_everything(int(t["seed"]))
    # Denormal floats appear in gradients and Adam moments after a few steps; on x86 CPUs they take a
    # slow path that made training steps 10-20x slower (0.5 s → 8 s on the hippocampus UNet). Flushing
    # them to zero changes nothing measurable in the result.
    torch.set_flush_denormal(True)

    all_items = datalist_items(df)
    train_ds, val_ds = datasets(cfg, [i for i in all_items if i["id"] in train_ids],
                                [i for i in all_items if i["id"] in val_ids], cache_dir)
    train_loader = loader(train_ds, cfg)
    val_loader = DataLoader(val_ds, batch_size=1, num_workers=0)
    do_val = bool(val_ids) and int(t["val_every"]) > 0

    key = config_key(cfg)
    module = make_module(cfg)(cfg, key)
    module.augmentations = train_ds.transform
    recipe = recipe_for(cfg, validate=do_val)
    log.info("training %s on %d cases (%d validation) for %d epochs on %s", cfg["network"]["name"],
             len(train_ds), len(val_ds), t["max_epochs"], device_name())
    start = time.perf_counter()
    result = fit(module, train_loader, val_loader if do_val else None, out, recipe=recipe,
                 fingerprint={"config": key}, resume=resume, progress=progress_bar, history_file="history.tsv",
                 accelerator=accelerator, devices=devices, log_every_n_steps=1)
    seconds = time.perf_counter() - start
    module.load_state_dict(result.state_dict)
    history = pd.read_csv(out / "history.tsv", sep="\t") if (out / "history.tsv").exists() else pd.DataFrame()
    record = {
        "network": cfg["network"]["name"],
        "parameters": sum(p.numel() for p in module.net.parameters()),
        "epochs": result.epochs,
        "train_cases": len(train_ds), "val_cases": len(val_ds),
        "split": split_cfg,
        "seconds_this_run": round(seconds, 1),
        "train_seconds_total": round(float(history["train_seconds"].sum()), 1) if len(history) else None,
        "seconds_per_epoch": round(float(history["train_seconds"].median()), 3) if len(history) else None,
        "selected": result.selected,
        "device": result.device,
        "train_energy": result.energy,
        "precision": precision_for(t["precision"], accelerator),
        "versions": _versions(),
        "preprocess_key": train_ds.base.chain_key,
        "cache": {"hits": train_ds.base.hits + val_ds.hits, "misses": train_ds.base.misses + val_ds.misses},
    }
    if len(history) and "val_dice" in history:
        last_val = history.dropna(subset=["val_dice"]).tail(1)
        if len(last_val):
            record["last_val_dice"] = {c: float(last_val[c].iloc[0]) for c in history.columns
                                       if c.startswith("val_dice")}
    save_bundle(out, module.net, cfg, record)
    write_json(out / "train.json", record)
    return record


def _progress_default() -> bool:
    from theraflow import progress as p

    return p._enabled if p._enabled is not None else bool(os.isatty(2))


def _versions() -> dict[str, str]:
    import monai

    import theraflow

    pl = _lightning()
    return {"theraflow": theraflow.__version__, "monai": monai.__version__, "torch": torch.__version__,
            "pytorch_lightning": pl.__version__}
