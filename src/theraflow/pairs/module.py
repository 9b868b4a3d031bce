"""The one LightningModule of every pair task: it trains a :class:`~theraflow.nn.pair.PairModel` and does not
know which task it trains — the loss, the validation metrics and the metric that selects the model come
from the task's label kind (:mod:`theraflow.pairs.label`), as chemprop's predictors carry their loss.

It keeps the position in the task's resumable batches (:class:`~theraflow.pairs.batches.EpochBatches`) in
every checkpoint — a job stopped mid-epoch resumes at the next batch — and sets up AdamW with the
step-based schedule that follows the wall-time budget (:mod:`theraflow.training.schedules`).
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch


class PairModule(pl.LightningModule):
    def __init__(self, model, label, training_cfg: dict, steps_per_epoch: int, context: dict | None = None) -> None:
        super().__init__()
        self.model = model
        self.label = label
        self.training_cfg = training_cfg
        self.steps_per_epoch = steps_per_epoch
        self.loss_name = label.loss_name  # the history's training-loss column
        for name, value in (context or {}).items():  # e.g. class weights: on the module's device
            if isinstance(value, torch.Tensor) or value is None:
                self.register_buffer(name, value, persistent=False)
        self._val: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.train_batches = None  # the task's EpochBatches (its position travels in checkpoints)

    @property
    def loss_unit(self) -> float:
        unit = getattr(self.label, "loss_unit", None)
        return unit(self) if unit else 1.0

    @staticmethod
    def batch_size(batch) -> int:
        return len(batch["y"])

    def forward(self, batch):
        return self.model(batch)

    def training_step(self, batch, _):
        return self.label.loss(self(batch), batch["y"], self)

    def validation_step(self, batch, _):
        self._val.append((self(batch).detach().float().cpu(), batch["y"].cpu()))

    def on_validation_epoch_end(self):
        if not self._val:
            return
        out, y = torch.cat([o for o, _ in self._val]), torch.cat([t for _, t in self._val])
        self._val.clear()
        metrics = self.label.validation_metrics(y.numpy(), self.label.predict(out))
        for name, value in metrics.items():
            self.log(name, value, prog_bar=name == self.label.monitor)

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
