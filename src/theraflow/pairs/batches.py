"""What batches of entity pairs are made of, shared by the interaction tasks.

- :class:`Inputs`: which tensors a model's encoders read (graphs, Morgan bits, vocabulary
  indices; residue tokens, composition);
- :func:`drug_tensors` / :func:`target_tensors`: those tensors for a batch's unique entities;
- :class:`EpochBatches`: batches of item indices for one pass, a new order each epoch that
  depends only on (seed, epoch); a resumed training run sets ``epoch`` and ``skip`` (the
  batches of that pass already trained on) from its checkpoint and sees exactly the batches an
  uninterrupted run would have seen.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from theraflow.chem.graphs import GraphSet


@dataclass(frozen=True)
class Inputs:
    """Which tensors a model's encoders read (see :mod:`theraflow.nn.interaction`)."""

    drug: frozenset = frozenset({"graphs", "index"})
    target: frozenset = frozenset({"tokens", "index"})
    morgan: tuple[int, int] | None = None  # (radius, bits) of the drug descriptor

    @classmethod
    def of(cls, model) -> Inputs:
        m = model.drug.morgan_params
        target = getattr(model, "target", None)  # drug–drug models have two drugs, no target
        # drug vocabulary indices travel with every batch: cheap, and a calibrated model's fallback reads them
        return cls(frozenset(model.drug.inputs | {"index"}),
                   frozenset(target.inputs) if target is not None else frozenset(),
                   (m["radius"], m["bits"]) if m else None)


def drug_tensors(inputs: Inputs, rows: np.ndarray, graphs: GraphSet, morgan: torch.Tensor | None,
                 vocab_index: np.ndarray) -> dict:
    """What a drug encoder reads about the drugs at ``rows``: their graphs collated, Morgan bits
    (rows of ``morgan``), their index in the model's drug vocabulary (-1: unknown)."""
    out: dict = {}
    if "graphs" in inputs.drug:
        out["graphs"] = graphs.collate(rows)
    if "morgan" in inputs.drug:
        out["morgan"] = morgan[torch.from_numpy(np.asarray(rows))].float()
    if "index" in inputs.drug:
        out["index"] = torch.from_numpy(np.asarray(vocab_index)[rows])
    return out


def target_tensors(inputs: Inputs, rows: np.ndarray, tokens, composition, vocab_index: np.ndarray) -> dict:
    """What a target encoder reads about the targets at ``rows``; ``tokens`` and ``composition``
    are callables returning the whole tables (computed only when the encoder reads them)."""
    sel = torch.from_numpy(np.asarray(rows))
    out: dict = {"index": torch.from_numpy(np.asarray(vocab_index)[rows])}
    if "tokens" in inputs.target:
        out["tokens"] = tokens()[sel]
    if "composition" in inputs.target:
        out["composition"] = composition()[sel]
    return out


class DrugRows:
    """What pair data sets with drugs share (``PairSet``, ``DDISet``): one graph per drug (``graphs``,
    standardized SMILES in ``graphs.smiles``), each drug's row in a model's vocabulary
    (``drug_index``; by default its own position) and Morgan bits computed once per (radius, bits)."""

    def _complete(self, n_pairs: int) -> None:
        if len(self.graphs) != len(self.drug_ids):
            raise ValueError("one graph per drug is required")
        if len(self.pair_id) == 0:
            self.pair_id = np.arange(n_pairs, dtype=np.int64)
        if self.drug_index is None:
            self.drug_index = np.arange(len(self.drug_ids), dtype=np.int64)

    def morgan(self, radius: int, bits: int) -> torch.Tensor:
        from theraflow.descriptors import morgan_bits

        key = (radius, bits)
        if key not in self._morgan:
            if self.graphs.smiles is None:
                raise ValueError("Morgan descriptors need the drugs' SMILES (GraphSet.smiles)")
            self._morgan[key] = torch.from_numpy(morgan_bits(self.graphs.smiles, radius=radius, bits=bits))
        return self._morgan[key]


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
