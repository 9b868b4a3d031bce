"""What interaction tasks (drug–target, drug–drug) share on top of the runtime: a LightningModule base.

:func:`pair_task_module` returns (building it on first use, so that importing a task stays cheap) a
LightningModule base class that keeps the position in the task's resumable batches
(:class:`~theraflow.pairs.batches.EpochBatches`) in every checkpoint — a job stopped mid-epoch resumes at
the next batch — collects validation outputs, and sets up AdamW with the step-based (budget-following)
schedule. A task subclasses it with its model, loss and validation metrics.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

_BASE = None


def pair_task_module():
    global _BASE
    if _BASE is not None:
        return _BASE
    import pytorch_lightning as pl

    class PairTaskModule(pl.LightningModule):
        """Base of the interaction tasks' modules (see the module docstring)."""

        def __init__(self, training_cfg: dict, steps_per_epoch: int) -> None:
            super().__init__()
            self.training_cfg = training_cfg
            self.steps_per_epoch = steps_per_epoch
            self._val: list[tuple[torch.Tensor, torch.Tensor]] = []
            self.train_batches = None  # the task's EpochBatches (its position travels in checkpoints)

        @staticmethod
        def batch_size(batch) -> int:
            return len(batch["y"])

        def forward(self, batch):
            return self.model(batch)

        def validation_step(self, batch, _):
            self._val.append((self(batch).detach().float().cpu(), batch["y"].cpu()))

        def validation_outputs(self) -> tuple[torch.Tensor, torch.Tensor] | None:
            """This epoch's validation predictions and labels (the buffer is emptied)."""
            if not self._val:
                return None
            out = torch.cat([p for p, _ in self._val]), torch.cat([t for _, t in self._val])
            self._val.clear()
            return out

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

    _BASE = PairTaskModule
    return _BASE


def training_options(defaults: dict, model_cfg: dict, overrides: dict | None) -> dict:
    """The recipe: defaults, then the model config's ``training``, then run overrides; unknown keys refused."""
    t = {**defaults, **(model_cfg.get("training") or {}), **(overrides or {})}
    unknown = set(t) - set(defaults)
    if unknown:
        raise ValueError(f"unknown training option(s): {', '.join(sorted(unknown))}")
    return t


def split_parts(parts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the train and valid pairs; both must be there."""
    parts = np.asarray(parts)
    train_idx, valid_idx = np.nonzero(parts == "train")[0], np.nonzero(parts == "valid")[0]
    if len(train_idx) == 0 or len(valid_idx) == 0:
        raise ValueError("training needs pairs in both the 'train' and the 'valid' part of the split")
    return train_idx, valid_idx


def vocabulary_rows(n_entities: int, trained: np.ndarray) -> np.ndarray:
    """Each entity's row in the vocabulary of the trained ones (-1: not trained on, hence "unknown")."""
    rows = np.full(n_entities, -1, dtype=np.int64)
    rows[trained] = np.arange(len(trained))
    return rows


def recipe_fingerprint(model_cfg: dict, training: dict, seed: int, dims: dict, train_idx: np.ndarray,
                       valid_idx: np.ndarray, **extra) -> dict:
    """What a checkpoint must have been written under to be resumed (budget and threads may change)."""
    split = hashlib.sha256(np.asarray(train_idx, np.int64).tobytes() + b"|" + np.asarray(valid_idx, np.int64).tobytes())
    recipe = {k: v for k, v in training.items() if k not in ("max_minutes", "threads")}
    return {"model": model_cfg, "training": recipe, "seed": seed, "dims": dims, "pairs": split.hexdigest(), **extra}


def run_overrides(max_minutes: float | None = None, max_epochs: int | None = None,
                  threads: int | None = None) -> dict:
    """The recipe keys a run (CLI, rule) overrides: only those given."""
    return {k: v for k, v in {"max_minutes": max_minutes, "max_epochs": max_epochs, "threads": threads}.items()
            if v is not None}


def fit_task(module, train_data, valid_data, outdir, training: dict, *, seed: int, monitor: str, mode: str,
             fingerprint: dict, resume: bool = True, progress: bool | None = None, callbacks: list | None = None):
    """:func:`theraflow.training.fit` with an interaction task's recipe (``training``); resumable mid-epoch."""
    from theraflow.training import Recipe, fit

    t = training
    recipe = Recipe(max_epochs=t["max_epochs"], monitor=monitor, mode=mode, max_minutes=t["max_minutes"],
                    patience=t["patience"], eval_every=t["eval_every"], grad_clip=t["grad_clip"], seed=seed,
                    ema=t["ema"])
    module.train_batches = train_data
    return fit(module, train_data, valid_data, outdir, recipe=recipe, fingerprint=fingerprint, resume=resume,
               progress=progress, callbacks=callbacks, history_file="history.csv", mid_epoch_resume=True)


def start_run(defaults: dict, model_cfg: dict, overrides: dict | None, seed: int, parts) -> tuple[dict, np.ndarray,
                                                                                                   np.ndarray]:
    """(recipe, train indices, valid indices) of a training run, with torch's threads and every seed set."""
    from theraflow.training import seed_everything

    t = training_options(defaults, model_cfg, overrides)
    torch.set_num_threads(max(1, int(t["threads"])))
    seed_everything(seed)
    return (t, *split_parts(parts))
