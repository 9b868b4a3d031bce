"""Batches of items for one pass, resumable mid-epoch.

:class:`EpochBatches`: batches of item indices for one pass, a new order each epoch that depends only
on (seed, epoch); a resumed training run sets ``epoch`` and ``skip`` (the batches of that pass already
trained on) from its checkpoint and sees exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch


class EpochBatches(torch.utils.data.IterableDataset):
    """Batches of ``indices``: shuffled into ``batch_size`` slices each epoch (subclasses may
    order them otherwise in :meth:`orders`); :meth:`make_batch` turns a slice into tensors."""

    def __init__(self, indices: np.ndarray, *, batch_size: int = 512, shuffle: bool = True, seed: int = 0) -> None:
        self.indices = np.asarray(indices, dtype=np.int64)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        self.skip = 0  # batches of the next pass to leave out (resuming mid-epoch)

    def orders(self, rng: np.random.Generator) -> list[np.ndarray]:
        order = rng.permutation(self.indices) if self.shuffle else self.indices
        return [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]

    def make_batch(self, idx: np.ndarray) -> dict:
        raise NotImplementedError

    def _orders(self) -> list[np.ndarray]:
        return self.orders(np.random.default_rng((self.seed, self.epoch)))

    def __len__(self) -> int:
        return len(self._orders())

    def __iter__(self) -> Iterator[dict]:
        orders = self._orders()
        start, self.skip = self.skip, 0
        self.epoch += 1
        for b in orders[start:]:
            yield self.make_batch(b)
