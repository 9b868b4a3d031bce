"""A LightningModule for the small models trained beside the pair tasks (a screen's distilled first pass, a
pretrained molecule encoder): AdamW on the loss a subclass computes, and validation metrics logged as ratios of
sums over the whole pass (a subclass says what each batch adds). Batches come from
:class:`~theraflow.pairs.batches.EpochBatches`: a new order each epoch, set by (seed, epoch)."""

from __future__ import annotations

import pytorch_lightning as pl
import torch


class SumsModule(pl.LightningModule):
    monitor = "val_loss"  # the metric shown in the progress bar (the one the recipe selects on)
    loss_name = "train_loss"  # the history's training-loss column

    def __init__(self, model: torch.nn.Module, lr: float, weight_decay: float) -> None:
        super().__init__()
        self.model = model
        self.lr, self.weight_decay = lr, weight_decay
        self._sums: dict[str, tuple[float, int]] = {}

    @staticmethod
    def batch_size(batch) -> int:
        raise NotImplementedError

    def validation_sums(self, batch) -> dict[str, tuple[float, int]]:
        """{metric: (sum over the batch, count)}: the pass's metric is the sums' ratio."""
        raise NotImplementedError

    def validation_step(self, batch, _):
        for name, (total, n) in self.validation_sums(batch).items():
            t0, n0 = self._sums.get(name, (0.0, 0))
            self._sums[name] = (t0 + total, n0 + n)

    def on_validation_epoch_end(self):
        for name, (total, n) in self._sums.items():
            self.log(name, total / max(n, 1), prog_bar=name == self.monitor)
        self._sums.clear()

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
