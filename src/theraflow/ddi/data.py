"""Drug–drug pair data for interaction models: each unique drug once, pairs as two indices and a label.

A :class:`DDISet` holds every drug once (its graph from the feature store, its standardized
SMILES) and, per pair, the rows of its first and second drug and its label: a class index
(one of the declared interaction types) or 0/1 for binary data. The order of a pair is kept —
"#Drug1 can increase the ... of #Drug2" is not the same statement with the drugs swapped.
Batches collate the unique drugs of their pairs once (:class:`DDIBatches`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from theraflow.chem.graphs import GraphSet
from theraflow.pairs.batches import DrugRows, EpochBatches, Inputs, drug_tensors


@dataclass
class DDISet(DrugRows):
    drug_ids: list[str]
    graphs: GraphSet  # one graph per drug, aligned with drug_ids; .smiles the standardized SMILES
    pair_a: np.ndarray  # row of the first drug, per pair
    pair_b: np.ndarray  # row of the second drug, per pair
    label: np.ndarray  # int64 class index per pair (-1 where unknown, e.g. when scoring)
    classes: list[str]  # the class names (interaction types) the labels index; ["0", "1"] for binary
    pair_id: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    drug_index: np.ndarray | None = None  # each drug's row in a model's drug vocabulary (-1: unknown)
    _morgan: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._complete(len(self.pair_a))

    def __len__(self) -> int:
        return len(self.pair_a)

    @property
    def binary(self) -> bool:
        return self.classes == ["0", "1"]

    def batch(self, idx: np.ndarray, inputs: Inputs | None = None) -> dict:
        """Tensors for the pairs ``idx``: the unique drugs of both columns, each once."""
        inputs = inputs or Inputs(drug=frozenset({"graphs", "index"}))
        both = np.concatenate([self.pair_a[idx], self.pair_b[idx]])
        udrug, inverse = np.unique(both, return_inverse=True)
        morgan = self.morgan(*inputs.morgan) if "morgan" in inputs.drug else None
        return {
            "drugs": drug_tensors(inputs, udrug, self.graphs, morgan, self.drug_index),
            "pair_a": torch.from_numpy(inverse[: len(idx)]),
            "pair_b": torch.from_numpy(inverse[len(idx) :]),
            "y": torch.from_numpy(self.label[idx].astype(np.int64)),
            "idx": torch.from_numpy(np.asarray(idx, dtype=np.int64)),
        }


def build_ddiset(pairs: pd.DataFrame, drug_rows: dict[str, int], graphs: GraphSet, classes: list[str], *,
                 drug_vocab: list[str] | None = None) -> DDISet:
    """DDISet of ``pairs`` (drug1, drug2[, label, pair_id]); ``drug_rows`` maps a drug id to its row in
    ``graphs``; ``classes`` are the label values in index order; ``drug_vocab`` a trained model's drug
    vocabulary (standardized SMILES: drugs outside it are unknown to an id embedding)."""
    drugs = list(dict.fromkeys([*pairs["drug1"], *pairs["drug2"]]))
    missing = [d for d in drugs if d not in drug_rows]
    if missing:
        raise ValueError(f"no graph for drug(s) {missing[:5]}")
    sub = graphs.take([drug_rows[d] for d in drugs])
    row = {d: i for i, d in enumerate(drugs)}
    index = {c: i for i, c in enumerate(classes)}
    if "label" in pairs:
        label = pairs["label"].astype(str).map(index)
        if label.isna().any():
            bad = pairs.loc[label.isna(), "label"].iloc[0]
            raise ValueError(f"label {bad!r} is not one of the classes ({', '.join(classes[:10])} ...)")
        label = label.to_numpy(np.int64)
    else:
        label = np.full(len(pairs), -1, np.int64)
    vocab_index = None
    if drug_vocab is not None:
        pos = {smi: i for i, smi in enumerate(drug_vocab)}
        vocab_index = np.array([pos.get(smi, -1) for smi in sub.smiles], dtype=np.int64)
    return DDISet(drug_ids=drugs, graphs=sub, pair_a=pairs["drug1"].map(row).to_numpy(np.int64),
                  pair_b=pairs["drug2"].map(row).to_numpy(np.int64), label=label, classes=list(classes),
                  pair_id=pairs["pair_id"].to_numpy(np.int64) if "pair_id" in pairs else np.arange(len(pairs)),
                  drug_index=vocab_index)


class DDIBatches(EpochBatches):
    """Shuffled batches of pairs (a new order each epoch, resumable); each batch's drugs encoded once."""

    def __init__(self, ddiset: DDISet, indices: np.ndarray, *, batch_size: int = 1024, shuffle: bool = True,
                 seed: int = 0, inputs: Inputs | None = None) -> None:
        super().__init__(indices, batch_size=batch_size, shuffle=shuffle, seed=seed)
        self.ds = ddiset
        self.inputs = inputs

    def make_batch(self, idx: np.ndarray) -> dict:
        return self.ds.batch(idx, self.inputs)
