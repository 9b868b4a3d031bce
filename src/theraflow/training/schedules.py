"""Learning-rate schedules shared by the tasks: one-cycle and warm-up + cosine (per step, able to
follow a wall-time budget; segmentation's cosine / poly / constant too when it has a budget), and
warm-up + cosine / poly per epoch (segmentation, nnU-Net's poly)."""

from __future__ import annotations

import logging
import math
import time

log = logging.getLogger(__name__)


class BudgetProgress:
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


def one_cycle(p: float, warmup: float) -> float:
    """Learning-rate factor of a one-cycle schedule: linear warm-up from 1/25, cosine to ~0."""
    if p < warmup:
        return 0.04 + 0.96 * p / max(warmup, 1e-9)
    q = (p - warmup) / max(1e-9, 1 - warmup)
    return 1e-4 + (1 - 1e-4) * 0.5 * (1 + math.cos(math.pi * q))


def warmup_then(decay: str):
    """Linear warm-up over the first ``warmup`` of the run, then :func:`decay_shape` ``decay`` over the rest."""

    def shape(p: float, warmup: float) -> float:
        if p < warmup:
            return (p + 1e-9) / max(warmup, 1e-9)
        return decay_shape(decay, (p - warmup) / max(1e-9, 1 - warmup))

    return shape


warmup_cosine = warmup_then("cosine")
# per-step shapes; poly and constant are segmentation's epoch schedules run per step under a budget
STEP_SCHEDULES = {"onecycle": one_cycle, "cosine": warmup_cosine, "poly": warmup_then("poly"),
                  "constant": warmup_then("constant")}


def step_scheduler(optimizer, name: str, *, total_steps: int, budget_minutes: float | None, warmup: float,
                   steps_per_epoch: int):
    """A per-step LambdaLR for ``name`` (onecycle, cosine, poly, constant) over ``total_steps`` or, when
    training falls behind it, the wall-time budget (:class:`BudgetProgress`)."""
    import torch

    if name not in STEP_SCHEDULES:
        raise ValueError(f"unknown scheduler {name!r}; expected one of {', '.join(STEP_SCHEDULES)} or none")
    shape = STEP_SCHEDULES[name]
    progress = BudgetProgress(max(1, total_steps), 60.0 * float(budget_minutes) if budget_minutes else None,
                              check_after=steps_per_epoch)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: shape(progress(step), warmup))


def epoch_factor(schedule: str, warmup: int, total: int):
    """Per-epoch learning-rate factor: linear warm-up, then cosine, poly (nnU-Net: (1 - t)^0.9) or constant."""

    def f(epoch: int) -> float:
        if warmup and epoch < warmup:
            return (epoch + 1) / (warmup + 1)
        return decay_shape(schedule, min(1.0, (epoch - warmup) / max(1, total - warmup)))

    return f


def decay_shape(schedule: str, t: float) -> float:
    """The factor at progress ``t`` in [0, 1] after warm-up: cosine, poly ((1 - t)^0.9) or constant."""
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * t))
    if schedule == "poly":
        return (1 - t) ** 0.9
    return 1.0

