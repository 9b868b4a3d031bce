"""One training runtime for every model theraflow trains (interaction models, segmentation).

A task supplies a LightningModule (its model, loss, metrics and batching) and its batch
iterables; :func:`fit` supplies the rest, once:

- seeds (CPU runs are reproducible), 16-bit mixed precision on a GPU, gradient clipping;
- ``checkpoints/last.ckpt`` at the end of every epoch and ``checkpoints/best.ckpt`` at the best
  validation score, written atomically (temporary file in the checkpoint's own directory,
  fsync, rename), so a job killed at any moment (``kill -9``) leaves a complete checkpoint;
- SIGTERM (a cluster's wall-time signal): the current batch finishes, a checkpoint is written
  (at that batch when the task can resume mid-epoch, else the last end-of-epoch one stands)
  and :class:`~theraflow.errors.TrainingInterrupted` is raised (the CLI exits 143);
- one resume policy: a re-run resumes from ``last.ckpt`` when the recipe fingerprint it was
  written under matches; when it does not (another model, recipe, seed or split), the old
  checkpoints and history are set aside with the reason logged and training starts over; an
  unreadable checkpoint is moved aside the same way;
- the random state (torch, numpy, Python, and any generator the module names) travels in the
  checkpoints, so a resumed run continues exactly where the interrupted one stopped;
- optionally an exponential moving average of the weights (Lightning's ``EMAWeightAveraging``),
  which is what validation scores and what is kept;
- a wall-time budget (``max_minutes``), early stopping on the monitored metric, and a history
  table (one row per epoch: seconds of training so far, training loss, learning rate, the
  validation metrics) whose state also travels in the checkpoints.

Checkpoints are read with ``torch.load(weights_only=True)``: they are this run's own files.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from theraflow.errors import TrainingInterrupted
from theraflow.io import write_json

log = logging.getLogger(__name__)


def _lightning():
    import pytorch_lightning as pl

    return pl


@dataclass
class Recipe:
    """What the runtime needs to know of a task's training recipe."""

    max_epochs: int
    monitor: str  # a validation metric the module logs, e.g. "val_mse"
    mode: str = "min"  # "min" or "max"
    max_minutes: float | None = None
    patience: int | None = None  # epochs without a better monitor value before stopping (None: never)
    eval_every: int = 1
    grad_clip: float | None = None
    precision: str = "auto"  # "auto": 16-bit mixed on a GPU, 32-bit on the CPU
    seed: int = 0
    select: str = "best"  # the weights kept: "best" (monitor) or "last"
    deterministic: bool = False
    ema: float | None = None  # decay of an exponential moving average of the weights (validated and kept)


@dataclass
class FitResult:
    state_dict: dict  # the module's weights that were selected (best or last)
    epochs: int  # epochs completed
    seconds: float  # training wall time, earlier runs of a resumed job included
    best_score: float | None
    selected: str  # "best" or "last"
    history: list[dict] = field(default_factory=list)
    device: str = ""
    energy: dict = field(default_factory=dict)  # codecarbon's figure for this process's part of the run


def device_name() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU ({cpu}, {torch.get_num_threads()} threads)"


def seed_everything(seed: int) -> None:
    """Seeds Python, numpy and torch. On the CPU the ops theraflow's models use are deterministic,
    so a seed reproduces a run exactly (tested); ``torch.use_deterministic_algorithms`` is not
    switched on because its sort-based scatter kernels double the cost of a CPU epoch."""
    _lightning().seed_everything(seed, workers=True, verbose=False)


def precision_for(choice: str, accelerator: str = "auto") -> str:
    if choice != "auto":
        return choice
    gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    return "16-mixed" if gpu else "32-true"


# ------------------------------------------------------------------ random state
def random_state(module) -> dict:
    """The random state a resumed run needs: torch, numpy, Python and the module's own generators."""
    state = {"torch": torch.get_rng_state(), "numpy": _np_state(np.random.get_state()),
             "python": json.dumps(random.getstate())}
    for name, gen in getattr(module, "random_generators", dict)().items():
        if isinstance(gen, torch.Generator):
            state[f"gen:{name}"] = gen.get_state()
        else:  # numpy RandomState (MONAI randomizable transforms)
            state[f"np:{name}"] = _np_state(gen.get_state())
    return state


def set_random_state(module, state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(_np_unstate(state["numpy"]))
    value = json.loads(state["python"])
    random.setstate((value[0], tuple(value[1]), value[2]))
    for name, gen in getattr(module, "random_generators", dict)().items():
        if isinstance(gen, torch.Generator) and f"gen:{name}" in state:
            gen.set_state(state[f"gen:{name}"])
        elif f"np:{name}" in state:
            gen.set_state(_np_unstate(state[f"np:{name}"]))


def _np_state(s) -> dict:
    # tensors and plain values only: checkpoints are read back with weights_only=True
    return {"name": s[0], "keys": torch.from_numpy(np.asarray(s[1], dtype=np.int64)), "pos": int(s[2]),
            "has_gauss": int(s[3]), "gauss": float(s[4])}


def _np_unstate(d: dict):
    return (d["name"], d["keys"].numpy().astype(np.uint32), d["pos"], d["has_gauss"], d["gauss"])


# ------------------------------------------------------------------ callbacks
def _state_callback():
    """Saves the random state and the history's state in every checkpoint, restores them on resume."""
    pl = _lightning()

    class RandomAndHistoryState(pl.Callback):
        def on_save_checkpoint(self, trainer, module, checkpoint):
            checkpoint["theraflow_random"] = random_state(module)

        def on_load_checkpoint(self, trainer, module, checkpoint):
            state = checkpoint.get("theraflow_random")
            if state is not None:
                set_random_state(module, state)

    return RandomAndHistoryState()


def _history_callback(path: Path):
    """Per-epoch rows: epoch, training seconds so far, the training loss (mean over the epoch's
    samples, in the units the module reports), the learning rate and every validation metric.
    Its state travels in the checkpoints: a resumed run (even from mid-epoch) writes the
    history an uninterrupted run would."""
    pl = _lightning()

    class History(pl.Callback):
        def __init__(self) -> None:
            self.rows: list[dict] = []
            self.loss_sum = 0.0
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

        @property
        def seconds(self) -> float:
            return self.seconds_before + time.time() - self.t0

        def on_train_epoch_start(self, trainer, module):
            self.val: dict = {}

        def on_validation_end(self, trainer, module):  # after the module logged this epoch's metrics
            if not trainer.sanity_checking:
                self.val = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val")}

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            loss = outputs["loss"] if isinstance(outputs, dict) else outputs
            n = int(module.batch_size(batch)) if hasattr(module, "batch_size") else 1
            self.loss_sum += float(loss) * n * float(getattr(module, "loss_unit", 1.0))
            self.loss_n += n

        def on_train_epoch_end(self, trainer, module):
            # runs after this epoch's validation
            row: dict[str, Any] = {"epoch": trainer.current_epoch, "seconds": round(self.seconds, 1)}
            if self.loss_n:
                row[getattr(module, "loss_name", "train_loss")] = self.loss_sum / self.loss_n
            if trainer.optimizers:
                row["lr"] = float(trainer.optimizers[0].param_groups[0]["lr"])
            row.update(getattr(self, "val", {}))  # epochs without validation (val_every > 1) have none
            if hasattr(module, "epoch_log"):  # the task's own per-epoch values (e.g. an epoch's training seconds)
                row.update(module.epoch_log())
            self.loss_sum, self.loss_n = 0.0, 0
            self.rows = [r for r in self.rows if r["epoch"] < trainer.current_epoch]
            self.rows.append(row)
            import pandas as pd

            from theraflow.io import write_table

            write_table(pd.DataFrame(self.rows), path)  # CSV or TSV by the file's suffix

    return History()


def _save_on_sigterm(last_ckpt, mid_epoch: bool):
    """Writes last.ckpt when the job is told to stop (SIGTERM at wall time).

    Lightning notes the signal and stops after the current batch (raising ``SIGTERMException``).
    A task that can resume mid-epoch gets its checkpoint in ``on_train_batch_end`` of that
    batch; for the others (data loaders whose position cannot be restored) the end-of-epoch
    checkpoint before stands. A signal during validation also keeps the end of the previous
    epoch (a half-run validation cannot be resumed faithfully). Other exceptions (bugs, out of
    memory) leave the last end-of-epoch checkpoint: their state may be half-updated.
    """
    pl = _lightning()

    class SaveOnSigterm(pl.Callback):
        def __init__(self) -> None:
            self.saved_step = -1

        def _path(self, trainer) -> Path:
            return Path(trainer._theraflow_ckpt_dir) / "last.ckpt"

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            if mid_epoch and trainer.received_sigterm and self.saved_step != trainer.global_step:
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
            if not mid_epoch:
                log.warning("SIGTERM: the checkpoint of the end of epoch %d is kept (this task resumes at epoch "
                            "boundaries)", trainer.current_epoch - 1)
                return
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
            if early_stopping is not None and early_stopping.wait_count >= early_stopping.patience:
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


def _differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    keys = sorted(set(old) | set(new))
    out = []
    for k in keys:
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out.extend(_differences(a, b, f"{prefix}{k}."))
        elif a != b:
            out.append(f"{prefix}{k}")
    return out


def fingerprint_path(ckpt_dir: Path) -> Path:
    """Where the recipe fingerprint of the checkpoints in ``ckpt_dir`` is kept: beside the folder, not in it,
    so a new run's checkpoint folder is empty when Lightning's checkpoint callbacks look at it."""
    return ckpt_dir.with_name(ckpt_dir.name + ".fingerprint.json")


def _apply_resume_policy(ckpt_dir: Path, history_path: Path, fingerprint: dict) -> None:
    """Set old checkpoints aside when they were written under another recipe fingerprint."""
    fp_path = fingerprint_path(ckpt_dir)
    legacy = ckpt_dir / "fingerprint.json"  # where runs of earlier releases kept it
    if legacy.exists() and not fp_path.exists():
        os.replace(legacy, fp_path)
    fingerprint = json.loads(json.dumps(fingerprint, sort_keys=True, default=str))
    if fp_path.exists():
        try:
            old = json.loads(fp_path.read_text())
        except (OSError, json.JSONDecodeError):
            old = {}
        if old != fingerprint:
            changed = _differences(old, fingerprint)
            log.warning("the checkpoints in %s were written for another recipe (%s differ): training starts over",
                        ckpt_dir, ", ".join(changed[:6]) + (" ..." if len(changed) > 6 else ""))
            for stale in [*ckpt_dir.glob("*.ckpt"), history_path]:
                if stale.exists():
                    os.replace(stale, stale.with_name(stale.name + ".stale"))
    elif any(ckpt_dir.glob("*.ckpt")):
        log.warning("checkpoints in %s have no recipe fingerprint: training starts over", ckpt_dir)
        for stale in ckpt_dir.glob("*.ckpt"):
            os.replace(stale, stale.with_name(stale.name + ".stale"))
    write_json(fp_path, fingerprint)


class _Iterable:
    """A batch iterable without the torch Dataset type Lightning would inspect (and re-wrap)."""

    def __init__(self, batches) -> None:
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


# ------------------------------------------------------------------ fit
def fit(module, train_data, valid_data, outdir: str | Path, *, recipe: Recipe, fingerprint: dict,
        resume: bool = True, progress: bool | None = None, callbacks: list | None = None,
        history_file: str = "history.csv", mid_epoch_resume: bool = False, accelerator: str = "auto",
        devices: int | str = "auto", log_every_n_steps: int = 50) -> FitResult:
    """Train ``module`` (a LightningModule) and return the selected weights; see the module docstring.

    ``train_data`` / ``valid_data`` are iterables of batches (plain ones are passed to Lightning
    as they are, so a task's own batch order is what a resumed run replays) or DataLoaders.
    ``fingerprint`` is what a checkpoint must have been written under to be resumed from.
    ``mid_epoch_resume``: the task restores its batch position from checkpoints (its module's
    ``on_save_checkpoint``/``on_load_checkpoint``), so a SIGTERM checkpoint may be mid-epoch.
    """
    pl = _lightning()
    from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint

    outdir = Path(outdir)
    ckpt_dir = outdir / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)  # empty for a new run: nothing else is written in it
    history_path = outdir / history_file
    for leftover in ckpt_dir.glob(".*.tmp"):  # a writer killed mid-write (see theraflow.io.atomic_write)
        leftover.unlink(missing_ok=True)
    _apply_resume_policy(ckpt_dir, history_path, fingerprint)

    has_valid = valid_data is not None and len(valid_data) > 0
    callbacks_all: list = []
    if recipe.ema:
        # Lightning's weight averaging: validation runs on the averaged weights, checkpoints hold them
        # (the live weights travel beside them for resuming), and training ends with them.
        from pytorch_lightning.callbacks import EMAWeightAveraging

        callbacks_all.append(EMAWeightAveraging(decay=float(recipe.ema)))
    best = None
    if has_valid and recipe.select == "best":
        best = ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor=recipe.monitor, mode=recipe.mode,
                               save_top_k=1, save_last=False, every_n_epochs=recipe.eval_every,
                               enable_version_counter=False)
        callbacks_all.append(best)
    # last.ckpt at the end of every epoch (ModelCheckpoint's save_last only follows the best
    # checkpoint, so a run that stopped improving would resume from an old epoch); saved on
    # train epoch end, after the history callback, so the two stay in step.
    history = _history_callback(history_path)
    last_ckpt = ModelCheckpoint(dirpath=ckpt_dir, filename="last", monitor=None, save_top_k=1, every_n_epochs=1,
                                save_on_train_epoch_end=True, enable_version_counter=False)
    early = None
    if has_valid and recipe.patience:
        early = EarlyStopping(monitor=recipe.monitor, mode=recipe.mode, patience=recipe.patience)
        callbacks_all.append(early)
    callbacks_all += [history, last_ckpt, _stop_if_finished(early), _state_callback(),
                      _save_on_sigterm(last_ckpt, mid_epoch_resume), *(callbacks or [])]
    precision = precision_for(recipe.precision, accelerator)
    with _quiet_lightning():
        trainer = pl.Trainer(
            accelerator=accelerator, devices=devices if accelerator != "cpu" else 1, max_epochs=recipe.max_epochs,
            max_time={"minutes": float(recipe.max_minutes)} if recipe.max_minutes else None,
            precision=precision, callbacks=callbacks_all, plugins=[_checkpoint_io()],
            check_val_every_n_epoch=max(1, recipe.eval_every), limit_val_batches=1.0 if has_valid else 0,
            gradient_clip_val=recipe.grad_clip or None, logger=False, deterministic=recipe.deterministic,
            enable_progress_bar=bool(progress) if progress is not None else _progress_default(),
            enable_model_summary=False, default_root_dir=str(outdir), num_sanity_val_steps=0,
            log_every_n_steps=log_every_n_steps,
        )
    trainer._theraflow_ckpt_dir = ckpt_dir
    last = ckpt_dir / "last.ckpt"
    ckpt_path = str(last) if resume and last.exists() and _usable_checkpoint(last) else None
    if ckpt_path:
        log.info("resuming from %s", ckpt_path)
    elif last.exists():
        last.unlink()
    wrap = (lambda d: d) if _is_loader(train_data) else _Iterable
    t0 = time.time()
    from theraflow.energy import EnergyTracker

    energy = EnergyTracker()
    try:
        with warnings.catch_warnings(), _quiet_lightning(), energy:
            # Lightning cannot tell that a task restores its batch position (its checkpoint
            # hooks do), and warns that a mid-epoch resume is unreliable.
            warnings.filterwarnings("ignore", message="You're resuming from a checkpoint that ended before the epoch")
            # a pretrained branch frozen on purpose (theraflow.pretrain) stays in evaluation mode
            warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode at the start of training")
            # training without validation (no held-out cases: a federated site, a final fit on every case)
            warnings.filterwarnings("ignore", message="You defined a `validation_step` but have no `val_dataloader`")
            if any(ckpt_dir.iterdir()):
                # a re-run: the resume policy above decided what the checkpoints there are (resumed from, or
                # set aside as *.stale with the reason logged); Lightning's generic warning adds nothing
                warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
            trainer.fit(module, wrap(train_data), wrap(valid_data) if has_valid else None, ckpt_path=ckpt_path,
                        weights_only=True)
    except BaseException as exc:
        from pytorch_lightning.utilities.exceptions import SIGTERMException

        if not isinstance(exc, SIGTERMException):
            raise
        where = (f"checkpoint {last} (epoch {trainer.current_epoch}, step {trainer.global_step})"
                 if last.exists() else "no checkpoint (stopped before the first epoch ended)")
        raise TrainingInterrupted(f"training in {outdir} stopped by SIGTERM; {where}; "
                                  "run the same command again to resume") from None
    seconds = history.seconds_before + time.time() - t0
    chosen = best.best_model_path if best is not None and best.best_model_path else str(last)
    state = torch.load(chosen, map_location="cpu", weights_only=True)["state_dict"]
    return FitResult(
        state_dict=state, epochs=int(trainer.current_epoch), seconds=round(seconds, 1),
        best_score=float(best.best_model_score) if best is not None and best.best_model_score is not None else None,
        selected="best" if best is not None and best.best_model_path else "last", history=history.rows,
        device=device_name(),
        energy={**energy.result, **({"resumed": True, "note": "this process's part of a resumed run"}
                                    if ckpt_path else {})},
    )


@contextlib.contextmanager
def _quiet_lightning():
    """Lightning's own lines left out while theraflow builds and runs a Trainer: its INFO lines (which device
    is used, advertisements for its cloud services) and its hint to start the process with ``srun`` wherever
    ``srun`` is installed (theraflow trains one process per job; the SLURM executor starts it), and the
    deprecation warnings Lightning's own code raises under the installed torch. Warnings about the training
    itself still show; theraflow logs what it does."""
    loggers = [logging.getLogger(name) for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric",
                                                     "lightning.fabric")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(max(lg.getEffectiveLevel(), logging.WARNING))
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"The `srun` command is available on your system")
            # deprecations Lightning's own code meets in the installed torch (LeafSpec ...): theirs to fix
            for category in (DeprecationWarning, FutureWarning):
                warnings.filterwarnings("ignore", category=category, module=r"(pytorch_lightning|lightning_fabric)\.")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _is_loader(data) -> bool:
    return isinstance(data, torch.utils.data.DataLoader)


def _progress_default() -> bool | None:
    from theraflow import progress as p

    return p._enabled if p._enabled is not None else bool(os.isatty(2))
