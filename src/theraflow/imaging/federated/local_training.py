"""What a site computes in a round, and how the coordinator measures a model: plain functions, no Flower.

:func:`train_round` is a site's part of a round: the global weights in, ``local_epochs`` of the segmentation
recipe on the site's own cases through theraflow's training runtime (atomic checkpoints, SIGTERM save,
resume under the same round and weights), the new weights and a few numbers out. :func:`evaluate` is the
held-out measurement (validation Dice, as ``theraflow seg train`` monitors it). The Flower apps
(:mod:`.client`, :mod:`.server`) only carry these across the wire.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger(__name__)


def state_digest(state: dict) -> str:
    """sha256 over a state dict's names, shapes and bytes (what a resumed round must start from)."""
    h = hashlib.sha256()
    for k in sorted(state):
        v = state[k].detach().cpu().contiguous() if isinstance(state[k], torch.Tensor) else torch.as_tensor(state[k])
        h.update(k.encode())
        h.update(str(tuple(v.shape)).encode())
        h.update(v.numpy().tobytes())
    return h.hexdigest()


def round_config(cfg: dict, *, lr: float, local_epochs: int, seed: int) -> dict:
    """The site's recipe for one round: the model config's, at the round's learning rate (the coordinator's
    schedule over rounds), ``local_epochs`` epochs, no clock, no validation (sites hold no held-out cases)."""
    from theraflow.imaging.modelconfig import resolve

    return resolve(cfg, {"train.lr": float(lr), "train.max_epochs": int(local_epochs), "train.max_minutes": None,
                         "train.schedule": "constant", "train.warmup_epochs": 0, "train.val_every": 0,
                         "train.select": "last", "train.seed": int(seed)})


def proximal(global_state: dict, mu: float):
    """FedProx's term (mu/2)·||w − w_global||² over the network's trainable weights."""
    anchors = {k: v.detach().clone() for k, v in global_state.items()}

    def penalty(net: torch.nn.Module) -> torch.Tensor:
        total = 0.0
        for name, w in net.named_parameters():
            if w.requires_grad and name in anchors:
                total = total + (w - anchors[name].to(w.device)).pow(2).sum()
        return 0.5 * mu * total

    return penalty


OPTIMIZER_STATE = "optimizer_state.pt"


def _kept_optimizer_state(workdir: Path, server_round: int):
    """A Lightning callback that starts a round's optimizer from the moments this site's optimizer ended its
    last finished round with (``round_<k>/optimizer_state.pt``, the site's own file; the round's learning rate
    and other hyper-parameters stay the round's) and saves them at the end of the round. A round resumed from
    its own checkpoint has its optimizer from there."""
    from pytorch_lightning.callbacks import Callback

    earlier = sorted(p for p in workdir.glob(f"round_*/{OPTIMIZER_STATE}")
                     if p.parent.name[6:].isdigit() and int(p.parent.name[6:]) < server_round)
    source = earlier[-1] if earlier else None
    target = workdir / f"round_{server_round:04d}" / OPTIMIZER_STATE

    class KeptOptimizerState(Callback):
        def on_train_start(self, trainer, pl_module):
            if source is None or trainer.global_step > 0:
                return
            opt = trainer.optimizers[0]
            saved = torch.load(source, map_location="cpu", weights_only=True)
            now = opt.state_dict()
            now["state"] = saved["state"]
            opt.load_state_dict(now)
            log.info("round %d: optimizer state of %s carried over", server_round, source.parent.name)

        def on_train_end(self, trainer, pl_module):
            from theraflow.io import atomic_write

            with atomic_write(target, "wb") as fh:
                torch.save({"state": trainer.optimizers[0].state_dict()["state"]}, fh)

    return KeptOptimizerState()


def train_round(datalist, workdir: str | os.PathLike, global_state: dict, cfg: dict, *, server_round: int,
                lr: float, local_epochs: int, seed: int = 0, proximal_mu: float = 0.0,
                keep_optimizer_state: bool = False, cache_dir: str | os.PathLike | None = None,
                threads: int | None = None, progress: bool | None = False) -> tuple[dict, dict]:
    """Train the global weights on this site's cases for one round; return (new state dict, metrics).

    ``workdir/round_<n>/`` holds the round's checkpoints: a site process killed in a round and asked for the
    same round again (the same global weights) resumes there. ``keep_optimizer_state``: the site's optimizer
    (AdamW's moment estimates) goes on from where its last round left it instead of starting afresh each round;
    it stays on the site, like its cases. ``metrics``: cases, epochs, last training loss, seconds, energy (Wh,
    ``-1`` where it could not be measured)."""
    from theraflow.imaging.datalists import items as datalist_items
    from theraflow.imaging.datalists import read_datalist
    from theraflow.imaging.train import config_key, datasets, loader, make_module, recipe_for
    from theraflow.training import fit, seed_everything

    if threads:
        torch.set_num_threads(int(threads))
    torch.set_flush_denormal(True)
    workdir = Path(workdir)
    df = read_datalist(datalist) if not hasattr(datalist, "columns") else datalist
    rcfg = round_config(cfg, lr=lr, local_epochs=local_epochs, seed=seed + server_round)
    seed_everything(int(rcfg["train"]["seed"]))
    train_ds, _ = datasets(rcfg, datalist_items(df), [], cache_dir or workdir / "cache")
    module = make_module(rcfg)(rcfg, config_key(rcfg))
    module.net.load_state_dict(global_state, strict=True)
    module.augmentations = train_ds.transform
    if proximal_mu > 0:
        module.penalty = proximal(dict(module.net.named_parameters()), proximal_mu)
    started = time.perf_counter()
    fingerprint = {"config": config_key(rcfg), "round": server_round, "global": state_digest(global_state),
                   "proximal_mu": proximal_mu}
    callbacks = []
    if keep_optimizer_state:
        fingerprint["keep_optimizer_state"] = True
        callbacks.append(_kept_optimizer_state(workdir, server_round))
    result = fit(module, loader(train_ds, rcfg), None, workdir / f"round_{server_round:04d}",
                 recipe=recipe_for(rcfg, validate=False), fingerprint=fingerprint, callbacks=callbacks,
                 progress=progress, history_file="history.tsv", log_every_n_steps=1)
    module.load_state_dict(result.state_dict)
    losses = [r.get("train_loss") for r in result.history if r.get("train_loss") is not None]
    wh = (result.energy or {}).get("energy_wh")
    metrics = {"num-examples": len(train_ds), "epochs": int(result.epochs),
               "train_loss": float(losses[-1]) if losses else float("nan"),
               "seconds": round(time.perf_counter() - started, 2),
               "energy_wh": float(wh) if wh is not None else -1.0}
    state = {k: v.detach().cpu() for k, v in module.net.state_dict().items()}
    return state, metrics


def evaluate(net: torch.nn.Module, cfg: dict, datalist, cache_dir) -> dict:
    """Dice per structure and their mean on labelled cases (sliding windows, as training's validation)."""
    from monai.data import DataLoader
    from monai.inferers import sliding_window_inference
    from monai.metrics import DiceMetric
    from monai.networks.utils import one_hot

    from theraflow.imaging.datalists import items as datalist_items
    from theraflow.imaging.datalists import read_datalist
    from theraflow.imaging.modelconfig import label_names, roi_size
    from theraflow.imaging.train import datasets

    df = read_datalist(datalist) if not hasattr(datalist, "columns") else datalist
    _, ds = datasets(cfg, [], datalist_items(df), cache_dir)
    n = len(cfg["labels"])
    dice = DiceMetric(include_background=False, reduction="mean_batch", ignore_empty=True)
    net.eval()
    with torch.no_grad():
        for batch in DataLoader(ds, batch_size=1, num_workers=0):
            logits = sliding_window_inference(batch["image"], roi_size(cfg), cfg["infer"]["sw_batch_size"], net,
                                              overlap=0.25, mode=cfg["infer"]["mode"])
            dice(one_hot(logits.argmax(1, keepdim=True), n), one_hot(batch["label"].long(), n))
    per = dice.aggregate().tolist()
    names = list(label_names(cfg).values())  # the structures, background left out
    out = {f"dice_{name}": round(float(v), 4) for name, v in zip(names, per, strict=True)}
    out["dice"] = round(float(np.nanmean(per)), 4)
    return out
