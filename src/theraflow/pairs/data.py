"""Pair data for interaction models: each unique entity once, per pair two row numbers and a label.

A :class:`PairData` holds one :class:`EntityTable` per entity kind the task joins (a drug–target task:
molecules and proteins; a drug–drug task: one molecule table both roles index) and, per pair, the row
of its role-a and role-b entity in those tables, its label and its ``pair_id``. Batches are built the
same way (:meth:`PairData.batch`): the unique entities of the batch's pairs are collated once and the
pairs point into them.

Batch samplers (:class:`PairBatches`):

- ``random``: shuffled pairs, ``batch_size`` per batch (the usual choice);
- ``blocks``: each epoch, role-b entities (targets) are shuffled into groups of ``target_group`` and
  role-a entities (drugs) into groups of ``drug_group``; a batch is one block of the training matrix.
  Every target is encoded ``n_drugs / drug_group`` times per epoch instead of once per batch it
  appears in: the cheap schedule for data with few targets and long sequences (Davis: 379 sequences of
  up to 2,549 residues).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from theraflow.pairs.batches import EpochBatches
from theraflow.pairs.task import TaskSpec

log = logging.getLogger(__name__)


@dataclass
class EntityTable:
    """Unique entities of one kind: ids, values (standardized SMILES, sequences), molecule graphs, and
    each entity's row in a model's vocabulary (``vocab_index``; -1: not trained on)."""

    kind: Any  # EntityKind
    ids: list[str]
    values: list[str]
    graphs: Any = None  # GraphSet aligned with ids (molecules)
    vocab_index: np.ndarray | None = None
    cache: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.graphs is not None and len(self.graphs) != len(self.ids):
            raise ValueError("one graph per entity is required")
        if self.vocab_index is None:
            self.vocab_index = np.arange(len(self.ids), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.ids)

    def keys(self, keying: str | None = None) -> list[str]:
        """What a model's vocabulary lists: a molecule's standardized SMILES, a hash of a target's sequence
        (its id when it has none); ``keying``: a bundle's, when not the kind's (see :class:`Vocabulary`)."""
        if self.kind.featurized:
            return list(self.graphs.smiles) if self.graphs is not None and self.graphs.smiles else list(self.values)
        return self.kind.vocab_keys(self.ids, self.values, keying)

    def with_vocabulary(self, vocab: list[str] | None) -> EntityTable:
        """This table with each entity's row in ``vocab`` (a list of keys made as :meth:`keys` makes them,
        or a :class:`Vocabulary` that says how its keys were made); -1: not trained on."""
        if vocab is None:
            return self
        return replace(self, vocab_index=vocabulary_rows(self, vocab), cache=self.cache)

    def tensors(self, rows: np.ndarray, needs: dict) -> dict:
        return self.kind.tensors(self, rows, needs)


class Vocabulary(list):
    """A model's vocabulary of one entity kind (its keys, in row order; a list) and how they were made.

    ``keying``: ``smiles``, ``sequence_hash`` or ``id`` (:attr:`~theraflow.pairs.entity.EntityKind.keying`;
    bundles written before targets were keyed by sequence list ids). ``aliases``: other keys of some rows
    (key → row) made from what the bundle stored of its partners (ids and sequences): a target named by
    its training id but given without a sequence (sequence-keyed vocabulary), or a renamed target whose
    sequence the bundle stored (id-keyed vocabulary)."""

    def __init__(self, keys=(), keying: str | None = None, aliases: dict[str, int] | None = None) -> None:
        super().__init__(keys)
        self.keying = keying
        self.aliases = dict(aliases or {})


def vocabularies(meta: dict, spec: TaskSpec) -> dict[str, Vocabulary]:
    """{entity kind: :class:`Vocabulary`} of a model bundle's ``model.json`` (``vocab``, ``vocab_keys``,
    ``partners``). A bundle without ``vocab_keys`` lists a target by its id (and a molecule by its
    standardized SMILES)."""
    from theraflow.pairs.entity import sequence_hash, shared_sequences, variant_key

    task = spec.task
    kinds = {k.name: k for k in task.kinds()}
    recorded = meta.get("vocab_keys") or {}
    partner_kind = task.roles[1].entity
    p = meta.get("partners") or {}
    p_ids, p_values = list(p.get("ids") or []), list(p.get("values") or [])
    out: dict[str, Vocabulary] = {}
    shared = shared_sequences([str(i) for i in p_ids], [str(v or "") for v in p_values])
    for name, keys in (meta.get("vocab") or {}).items():
        kind = kinds.get(name)
        keying = recorded.get(name) or ("smiles" if kind is None or kind.featurized else "id")
        row = {k: i for i, k in enumerate(keys)}
        aliases: dict[str, int] = {}
        if name == partner_kind and kind is not None and not kind.featurized:
            for i, v in zip(p_ids, p_values):
                i, v = str(i), str(v or "")
                if not v:
                    continue
                h = sequence_hash(v)
                if keying == "id" and i in row and h not in shared:
                    # a renamed target: known by the sequence its id stood for (not one several ids stood for)
                    aliases.setdefault(h, row[i])
                elif keying == "sequence_hash":  # a training id without its sequence
                    r = row.get(h, row.get(variant_key(h, i)))
                    if r is not None:
                        aliases.setdefault(i, r)
        out[name] = Vocabulary(keys, keying, aliases)
    return out


def vocabulary_rows(table: EntityTable, vocab: list[str]) -> np.ndarray:
    """Each entity's row in ``vocab`` (-1: not trained on); see :meth:`EntityTable.with_vocabulary`.

    With sequence keys an entity given with a sequence is known by that sequence only (its name does
    not matter), unless training gave that sequence under several ids (variant keys): then by the sequence
    and one of those ids, and under another name it is unseen (:func:`variants_of` says which); one without a sequence by its id (an entity trained without one, or a training id
    the bundle stored a sequence for). With id keys (earlier bundles) an entity is known by its id as
    before, else by a sequence the bundle stored under another id."""
    keying = getattr(vocab, "keying", None) or table.kind.keying
    aliases = getattr(vocab, "aliases", {})
    row = {k: i for i, k in enumerate(vocab)}
    if table.kind.featurized or keying not in ("sequence_hash", "id"):
        return np.array([row.get(k, -1) for k in table.keys()], dtype=np.int64)
    from theraflow.pairs.entity import sequence_hash, variant_key

    out = np.full(len(table), -1, dtype=np.int64)
    for j, (i, v) in enumerate(zip(table.ids, table.values)):
        if keying == "sequence_hash":
            if v:  # by its sequence; one that training told apart by id (a variant key) by both
                h = sequence_hash(v)
                r = row.get(h, row.get(variant_key(h, i), -1))
            else:
                r = row.get(i, aliases.get(i, -1))
            if r < 0 and v and i in row and not _is_sequence_key(i):
                r = row[i]  # trained without a sequence: known by its id alone
        else:
            r = row.get(i, -1)
            if r < 0 and v:
                r = aliases.get(sequence_hash(v), -1)
        out[j] = r
    return out


def variants_of(vocab, value: str) -> list[str]:
    """The training ids a sequence-keyed vocabulary holds ``value`` under when training gave that sequence
    under several ids (:func:`~theraflow.pairs.entity.variant_key`); [] otherwise."""
    from theraflow.pairs.entity import sequence_hash

    if not value or getattr(vocab, "keying", None) != "sequence_hash":
        return []
    prefix = sequence_hash(value) + ":"
    return sorted(k[len(prefix):] for k in vocab if k.startswith(prefix))


def _is_sequence_key(key: str) -> bool:
    return len(key) == 20 and key.startswith("seq_") and all(c in "0123456789abcdef" for c in key[4:])


@dataclass
class PairData:
    spec: TaskSpec
    tables: dict[str, EntityTable]  # by entity kind name
    a: np.ndarray  # row of each pair's role-a entity in its kind's table
    b: np.ndarray
    label: np.ndarray  # float32 values (regression) or int64 classes; NaN / -1 where unknown
    pair_id: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self) -> None:
        if len(self.pair_id) == 0:
            self.pair_id = np.arange(len(self.a), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.a)

    @property
    def task(self):
        return self.spec.task

    def kind_of(self, role: int | str) -> str:
        roles = self.task.roles
        r = roles[role] if isinstance(role, int) else self.task.role(role)
        return r.entity

    def table(self, role: int | str) -> EntityTable:
        return self.tables[self.kind_of(role)]

    def rows(self, role: int | str) -> np.ndarray:
        i = role if isinstance(role, int) else [r.name for r in self.task.roles].index(role)
        return self.a if i == 0 else self.b

    def vocab_rows(self, role: int | str, idx: np.ndarray) -> np.ndarray:
        """Each pair's role entity as a row of the model's vocabulary (-1: not trained on)."""
        return np.asarray(self.table(role).vocab_index)[self.rows(role)[idx]]

    def with_vocabulary(self, vocab: dict[str, list[str]] | None) -> PairData:
        """The same pairs whose entities index ``vocab`` ({kind: keys or :class:`Vocabulary`}), whatever they
        indexed before."""
        if not vocab:
            return self
        return replace(self, tables={k: t.with_vocabulary(vocab.get(k)) for k, t in self.tables.items()})

    def batch(self, idx: np.ndarray, needs: dict[str, dict]) -> dict:
        """Tensors for the pairs ``idx``: each kind's unique entities once (what ``needs`` names), and
        per pair the rows of its two entities among them."""
        import torch

        idx = np.asarray(idx, dtype=np.int64)
        ka, kb = self.kind_of(0), self.kind_of(1)
        ents: dict[str, dict] = {}
        if ka == kb:
            both = np.concatenate([self.a[idx], self.b[idx]])
            uniq, inverse = np.unique(both, return_inverse=True)
            ents[ka] = self.tables[ka].tensors(uniq, needs.get(ka, {"index": None}))
            ia, ib = inverse[: len(idx)], inverse[len(idx):]
        else:
            ua, ia = np.unique(self.a[idx], return_inverse=True)
            ub, ib = np.unique(self.b[idx], return_inverse=True)
            ents[ka] = self.tables[ka].tensors(ua, needs.get(ka, {"index": None}))
            ents[kb] = self.tables[kb].tensors(ub, needs.get(kb, {"index": None}))
        y = self.label[idx]
        return {"entities": ents, "a": torch.from_numpy(ia.astype(np.int64)), "b": torch.from_numpy(ib.astype(np.int64)),
                "y": torch.from_numpy(y.astype(np.float32) if y.dtype.kind == "f" else y.astype(np.int64)),
                "idx": torch.from_numpy(idx)}


class PairBatches(EpochBatches):
    """Batches of pair indices for one pass over ``indices`` (a new order each epoch, resumable):
    ``random`` pairs, or ``blocks`` of (target group × drug group) of the matrix (module docstring)."""

    def __init__(self, data: PairData, indices: np.ndarray, *, mode: str = "random", batch_size: int = 512,
                 target_group: int = 32, drug_group: int = 10**9, shuffle: bool = True, seed: int = 0,
                 needs: dict | None = None) -> None:
        if mode not in ("random", "blocks"):
            raise ValueError(f"unknown batch mode {mode!r}; use 'random' or 'blocks'")
        super().__init__(indices, batch_size=batch_size, shuffle=shuffle, seed=seed)
        self.data = data
        self.mode = mode
        self.target_group = target_group
        self.drug_group = drug_group
        self.needs = needs or {}

    def make_batch(self, idx: np.ndarray) -> dict:
        return self.data.batch(idx, self.needs)

    def orders(self, rng: np.random.Generator) -> list[np.ndarray]:
        if self.mode == "random":
            return super().orders(rng)
        idx = self.indices
        n_t, n_d = len(self.data.table(1)), len(self.data.table(0))
        tperm = rng.permutation(n_t) if self.shuffle else np.arange(n_t)
        dperm = rng.permutation(n_d) if self.shuffle else np.arange(n_d)
        tg = np.empty(n_t, np.int64)
        tg[tperm] = np.arange(n_t) // self.target_group
        dg = np.empty(n_d, np.int64)
        dg[dperm] = np.arange(n_d) // min(self.drug_group, n_d)
        key = tg[self.data.b[idx]] * (n_d + 1) + dg[self.data.a[idx]]
        order = np.argsort(key, kind="stable")
        cuts = np.nonzero(np.diff(key[order]))[0] + 1
        blocks = np.split(idx[order], cuts)
        if self.shuffle:
            blocks = [blocks[i] for i in rng.permutation(len(blocks))]
        return blocks


# ------------------------------------------------------------------------------------------------ building
@dataclass
class Molecules:
    """Standardized molecules with graphs from the feature store: id → row of ``graphs``."""

    rows: dict[str, int]
    graphs: Any  # GraphSet (.smiles: standardized SMILES)

    @classmethod
    def from_table(cls, molecules_path: str | Path, store, featurizer: dict | None = None) -> Molecules:
        from theraflow.chem.featurize import graphs_of_table

        rows, graphs, _ = graphs_of_table(molecules_path, store, featurizer)
        return cls(rows, graphs)


def keep_featurized(spec: TaskSpec, pairs: pd.DataFrame, molecules: Molecules | None) -> tuple[pd.DataFrame, int]:
    """The pairs whose molecules all have graphs (standardized and featurized), and how many were dropped."""
    keep = np.ones(len(pairs), dtype=bool)
    for r in spec.task.roles:
        if spec.task.entity(r).featurized:
            if molecules is None:
                raise ValueError(f"task {spec.task.name} joins molecules: their graphs are needed")
            keep &= pairs[r.id].astype(str).isin(molecules.rows).to_numpy()
    dropped = int((~keep).sum())
    if dropped:
        log.warning("%d pairs dropped: a molecule of theirs was rejected by standardization or featurization",
                    dropped)
    return pairs[keep].reset_index(drop=True), dropped


def build_pair_data(spec: TaskSpec, pairs: pd.DataFrame, molecules: Molecules | None = None, *,
                    vocab: dict[str, list[str]] | None = None) -> PairData:
    """PairData of ``pairs`` (the task's role columns, ``label`` as in pairs.parquet or absent, ``pair_id``).

    Molecules must all be in ``molecules`` (see :func:`keep_featurized`). ``vocab`` ({kind: keys} of a
    trained model) makes entities outside it "unknown" to an id embedding."""
    task = spec.task
    tables: dict[str, EntityTable] = {}
    rows: list[np.ndarray] = []
    for kind in task.kinds():
        roles = [r for r in task.roles if r.entity == kind.name]
        ids = list(dict.fromkeys(x for r in roles for x in pairs[r.id].astype(str)))
        value_of: dict[str, str] = {}
        for r in roles:
            if r.value in pairs:
                for i, v in zip(pairs[r.id].astype(str), pairs[r.value].fillna("").astype(str)):
                    value_of.setdefault(i, v)
        graphs = None
        if kind.featurized:
            missing = [i for i in ids if i not in molecules.rows]
            if missing:
                raise ValueError(f"no graph for {kind.name}(s) {missing[:5]}")
            graphs = molecules.graphs.take([molecules.rows[i] for i in ids])
            values = list(graphs.smiles) if graphs.smiles else [value_of.get(i, "") for i in ids]
        else:
            values = [value_of.get(i, "") for i in ids]
        tables[kind.name] = EntityTable(kind, ids, values, graphs)
    for r in task.roles:
        pos = {x: i for i, x in enumerate(tables[r.entity].ids)}
        rows.append(pairs[r.id].astype(str).map(pos).to_numpy(np.int64))
    if "label" in pairs:
        label = spec.label.encode(pairs["label"], spec.classes)
    else:
        label = (np.full(len(pairs), np.nan, np.float32) if spec.label.name == "regression"
                 else np.full(len(pairs), -1, np.int64))
    data = PairData(spec, tables, rows[0], rows[1], label,
                    pairs["pair_id"].to_numpy(np.int64) if "pair_id" in pairs else np.arange(len(pairs)))
    return data.with_vocabulary(vocab)
