"""Pair data for interaction models: unique entities, per-pair indices, batches.

A :class:`PairSet` holds each unique drug once (as a graph from the feature store) and
each unique target once (as residue tokens and an index), and for every pair only two
integers and a label. Batches are built the same way: the unique drugs and targets of
the batch's pairs are collated once and pairs point into them.

Batch samplers:

- ``random``: shuffled pairs, ``batch_size`` per batch (the usual choice);
- ``blocks``: each epoch, targets are shuffled into groups of ``target_group`` and
  drugs into groups of ``drug_group``; a batch is one (target group × drug group) block
  of the training matrix. Every target is encoded ``n_drugs / drug_group`` times per
  epoch instead of once per batch it appears in: the cheap schedule for data with few
  targets and long sequences (Davis: 379 sequences of up to 2,549 residues).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from theraflow.chem.graphs import GraphSet
from theraflow.descriptors import residue_composition
from theraflow.nn.protein import tokenize
from theraflow.pairs.batches import DrugRows, EpochBatches, Inputs, drug_tensors, target_tensors

__all__ = ["Inputs", "PairBatches", "PairSet", "build_pairset", "drug_tensors", "target_tensors"]


@dataclass
class PairSet(DrugRows):
    drug_ids: list[str]
    graphs: GraphSet  # one graph per drug, aligned with drug_ids
    target_ids: list[str]
    sequences: list[str]
    pair_drug: np.ndarray  # index into drug_ids, per pair
    pair_target: np.ndarray  # index into target_ids, per pair
    label: np.ndarray  # float32 per pair (NaN where unknown, e.g. when scoring)
    pair_id: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    max_len: int = 1200
    drug_index: np.ndarray | None = None  # each drug's row in a model's drug vocabulary (-1: unknown)
    _tokens: torch.Tensor | None = None
    _composition: torch.Tensor | None = None
    _morgan: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._complete(len(self.pair_drug))

    def __len__(self) -> int:
        return len(self.pair_drug)

    @property
    def tokens(self) -> torch.Tensor:
        if self._tokens is None:
            self._tokens = tokenize(self.sequences, self.max_len)
        return self._tokens

    @property
    def composition(self) -> torch.Tensor:
        if self._composition is None:
            self._composition = torch.from_numpy(residue_composition(self.sequences))
        return self._composition

    def batch(self, idx: np.ndarray, inputs: Inputs | None = None) -> dict:
        """Tensors for the pairs ``idx``: unique drugs and targets, each once, with what ``inputs`` names."""
        inputs = inputs or Inputs()
        udrug, pd_ = np.unique(self.pair_drug[idx], return_inverse=True)
        utarget, pt_ = np.unique(self.pair_target[idx], return_inverse=True)
        morgan = self.morgan(*inputs.morgan) if "morgan" in inputs.drug else None
        return {
            "drugs": drug_tensors(inputs, udrug, self.graphs, morgan, self.drug_index),
            "targets": target_tensors(inputs, utarget, lambda: self.tokens, lambda: self.composition,
                                      np.arange(len(self.target_ids))),
            "pair_drug": torch.from_numpy(pd_),
            "pair_target": torch.from_numpy(pt_),
            "y": torch.from_numpy(self.label[idx].astype(np.float32)),
            "idx": torch.from_numpy(np.asarray(idx, dtype=np.int64)),
        }


def build_pairset(pairs: pd.DataFrame, drug_graphs: dict[str, int], graphs: GraphSet, *,
                  target_ids: list[str] | None = None, drug_vocab: list[str] | None = None,
                  max_len: int = 1200) -> PairSet:
    """PairSet of ``pairs`` (drug_id, target_id, sequence, label[, pair_id]).

    ``drug_graphs`` maps a drug id to its row in ``graphs``. ``target_ids`` fixes the
    target vocabulary (a trained model's); targets outside it get index -1 and are
    only usable by sequence-based encoders. ``drug_vocab`` (a trained model's drug
    vocabulary: standardized SMILES) does the same for drugs: a drug whose structure is
    not in it is "unknown" to an id embedding.
    """
    drugs = list(dict.fromkeys(pairs["drug_id"]))
    missing = [d for d in drugs if d not in drug_graphs]
    if missing:
        raise ValueError(f"no graph for drug(s) {missing[:5]}")
    sub = graphs.take([drug_graphs[d] for d in drugs])
    d_index = {d: i for i, d in enumerate(drugs)}
    tdf = pairs[["target_id", "sequence"]].drop_duplicates("target_id")
    if target_ids is None:
        target_ids = tdf["target_id"].tolist()
    seq_of = dict(zip(tdf["target_id"], tdf["sequence"]))
    extra = [t for t in tdf["target_id"] if t not in set(target_ids)]
    all_targets = list(target_ids) + extra
    t_index = {t: i for i, t in enumerate(all_targets)}
    label = pairs["label"].to_numpy(dtype=np.float32) if "label" in pairs else np.full(len(pairs), np.nan, np.float32)
    drug_index = None
    if drug_vocab is not None:
        if sub.smiles is None:
            raise ValueError("a drug vocabulary needs the drugs' SMILES (GraphSet.smiles)")
        row = {smi: i for i, smi in enumerate(drug_vocab)}
        drug_index = np.array([row.get(smi, -1) for smi in sub.smiles], dtype=np.int64)
    return PairSet(
        drug_ids=drugs,
        graphs=sub,
        target_ids=all_targets,
        sequences=[seq_of.get(t, "") for t in all_targets],
        pair_drug=pairs["drug_id"].map(d_index).to_numpy(np.int64),
        pair_target=pairs["target_id"].map(t_index).to_numpy(np.int64),
        label=label,
        pair_id=pairs["pair_id"].to_numpy(np.int64) if "pair_id" in pairs else np.arange(len(pairs)),
        max_len=max_len,
        drug_index=drug_index,
    )


class PairBatches(EpochBatches):
    """Batches of pair indices for one pass over ``indices`` (a new order each epoch): ``random``
    pairs, or ``blocks`` of (target group × drug group) of the matrix (see the module docstring)."""

    def __init__(self, pairset: PairSet, indices: np.ndarray, *, mode: str = "random", batch_size: int = 512,
                 target_group: int = 32, drug_group: int = 10**9, shuffle: bool = True, seed: int = 0,
                 inputs: Inputs | None = None) -> None:
        if mode not in ("random", "blocks"):
            raise ValueError(f"unknown batch mode {mode!r}; use 'random' or 'blocks'")
        super().__init__(indices, batch_size=batch_size, shuffle=shuffle, seed=seed)
        self.ps = pairset
        self.mode = mode
        self.target_group = target_group
        self.drug_group = drug_group
        self.inputs = inputs or Inputs()

    def make_batch(self, idx: np.ndarray) -> dict:
        return self.ps.batch(idx, self.inputs)

    def orders(self, rng: np.random.Generator) -> list[np.ndarray]:
        if self.mode == "random":
            return super().orders(rng)
        idx = self.indices
        n_t, n_d = len(self.ps.target_ids), len(self.ps.drug_ids)
        tperm = rng.permutation(n_t) if self.shuffle else np.arange(n_t)
        dperm = rng.permutation(n_d) if self.shuffle else np.arange(n_d)
        tg = np.empty(n_t, np.int64)
        tg[tperm] = np.arange(n_t) // self.target_group
        dg = np.empty(n_d, np.int64)
        dg[dperm] = np.arange(n_d) // min(self.drug_group, n_d)
        key = tg[self.ps.pair_target[idx]] * (n_d + 1) + dg[self.ps.pair_drug[idx]]
        order = np.argsort(key, kind="stable")
        cuts = np.nonzero(np.diff(key[order]))[0] + 1
        blocks = np.split(idx[order], cuts)
        if self.shuffle:
            blocks = [blocks[i] for i in rng.permutation(len(blocks))]
        return blocks
