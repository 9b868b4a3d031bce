"""Graph featurizers: RDKit molecules to PyTorch Geometric graphs.

The featurizers are the modules of the package :mod:`theraflow.chem.featurizers`, one per
featurizer, named like the module (``default``, ``pyg``, ``deepchem``, ...); each module's
``FEATURIZER`` is its :class:`GraphFeaturizer` subclass. :data:`theraflow.registry.FEATURIZERS`
owns the names, so the CLI's ``--featurizer`` choices and the config schema's enum come from
there. A plugin adds one with :func:`register_featurizer`. The modules' docstrings document
their columns.

Each featurizer turns a batch of sanitized RDKit molecules into a
:class:`~theraflow.chem.graphs.GraphSet` plus a reason for every molecule it could not
featurize. ``name``, ``params`` and ``version`` (bumped whenever the output of the same
input changes) identify the featurizer in the feature store's keys.

This module holds what every featurizer shares: the base class, SMILES parsing, and
:func:`featurize`, which runs a featurizer through the feature store.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from theraflow.chem.graphs import GraphSet
from theraflow.registry import FEATURIZERS

if TYPE_CHECKING:
    from theraflow.chem.store import FeatureStore

log = logging.getLogger(__name__)


def register_featurizer(cls: type[GraphFeaturizer]) -> type[GraphFeaturizer]:
    """Class decorator for plugins: make a featurizer available by its ``name``.

    (A featurizer of theraflow itself is a module of :mod:`theraflow.chem.featurizers` instead.)
    """
    if cls.name in FEATURIZERS and FEATURIZERS.get(cls.name) is not cls:
        raise ValueError(f"a featurizer named {cls.name!r} is already registered")
    FEATURIZERS.register(cls.name, cls)
    return cls


def list_featurizers() -> list[str]:
    return FEATURIZERS.names()


def get_featurizer(name: str, **params: Any) -> GraphFeaturizer:
    """The featurizer registered as ``name``, configured with ``params``."""
    return FEATURIZERS.get(name)(**params)


def featurizer_is_current(info: dict) -> bool:
    """Whether a feature-store featurizer record (its ``featurizer.json``: name, params, version,
    rdkit, fid) is what this installation computes for that name and those parameters: the
    ``current`` test that :meth:`~theraflow.chem.store.FeatureStore.stats` and ``gc`` take."""
    from theraflow.chem.store import featurizer_id

    try:
        feat = get_featurizer(info.get("name", ""), **(info.get("params") or {}))
    except (ValueError, TypeError, ImportError):
        return False  # a featurizer (or parameter) this installation does not have
    return featurizer_id(feat.identity()) == info.get("fid")


class GraphFeaturizer:
    """Base class. Subclasses set ``name``/``version`` and implement ``featurize_mols``."""

    name: ClassVar[str]
    version: ClassVar[str]
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, **params: Any) -> None:
        unknown = set(params) - set(self.defaults)
        if unknown:
            allowed = ", ".join(sorted(self.defaults)) or "none"
            raise ValueError(
                f"featurizer {self.name!r} has no parameter(s) {', '.join(sorted(unknown))}; "
                f"allowed: {allowed}"
            )
        self.params = {**self.defaults, **params}
        for key, value in self.params.items():
            expected = type(self.defaults[key])
            if not isinstance(value, expected):
                raise ValueError(
                    f"featurizer {self.name!r} parameter {key!r} must be "
                    f"{expected.__name__}, got {value!r}"
                )

    def identity(self) -> dict[str, Any]:
        """What makes two featurizers' outputs interchangeable (used in store keys)."""
        return {"name": self.name, "params": dict(sorted(self.params.items())), "version": self.version}

    def featurize_mols(self, mols: Sequence) -> tuple[GraphSet, dict[int, str]]:
        """Graphs of the featurizable molecules, in order, and {position: reason} for the rest."""
        raise NotImplementedError

    #: ``atomic_numbers(x)``: each atom's atomic number read back from its node features (0 where the features
    #: do not say, e.g. an "other element" column), for featurizers that encode it; ``None`` where they do not.
    #: Pretraining's masked-element labels come from it without parsing the molecules again.
    atomic_numbers = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params})"


def featurize_mols(mols: Sequence, featurizer: GraphFeaturizer | str = "default",
                   **params: Any) -> tuple[GraphSet, dict[int, str]]:
    """Featurize RDKit molecules directly (no SMILES parsing, no store)."""
    feat = get_featurizer(featurizer, **params) if isinstance(featurizer, str) else featurizer
    return feat.featurize_mols(mols)


# ------------------------------------------------------------ SMILES -> graphs
@dataclass
class Featurized:
    """Result of :func:`featurize`.

    graphs: one graph per input position listed in ``index`` (SMILES attached)
    index:  input positions that have a graph, increasing
    errors: {input position: reason} for inputs without a graph
    keys:   feature-store key (hex) of every input
    hits / misses: store lookups answered / computed (misses = featurizer runs)
    """

    graphs: GraphSet
    index: np.ndarray
    errors: dict[int, str]
    keys: list[str]
    fid: str
    hits: int = 0
    misses: int = 0


def parse_smiles(smiles: Sequence[str]) -> tuple[list, dict[int, str]]:
    """Sanitized RDKit molecules for the parsable SMILES and reasons for the rest."""
    from rdkit import Chem, rdBase

    from theraflow.chem.readers import smiles_whitespace_problem

    mols, errors = [], {}
    with rdBase.BlockLogs():
        for i, s in enumerate(smiles):
            problem = smiles_whitespace_problem(s) if s else ""
            if problem:
                errors[i] = problem
                mols.append(None)
                continue
            mol = Chem.MolFromSmiles(s) if s else None
            if mol is None or mol.GetNumAtoms() == 0:
                errors[i] = "RDKit could not parse the SMILES" if s else "empty SMILES"
                mols.append(None)
            else:
                mols.append(mol)
    return mols, errors


def featurize(
    smiles: Sequence[str],
    featurizer: GraphFeaturizer | str = "default",
    *,
    store: FeatureStore | str | None = None,
    params: dict[str, Any] | None = None,
    dedupe: bool = True,
    batch_size: int = 2048,
    flush_every: int = 20_000,
) -> Featurized:
    """Featurize standardized SMILES, reading and filling a feature store if given.

    Only store misses are parsed and featurized; computed graphs are written to the
    store every ``flush_every`` graphs, so a crash loses at most that much work.
    ``dedupe`` featurizes repeated SMILES once (off: every input counts as a lookup
    and, on a miss, a computation — what benchmarks use to compare like with like).
    """
    from theraflow.chem.store import FeatureStore, entry_keys, featurizer_id, keys_to_hex
    from theraflow.progress import progress

    feat = get_featurizer(featurizer, **(params or {})) if isinstance(featurizer, str) else featurizer
    fid = featurizer_id(feat.identity())
    if isinstance(store, (str, os.PathLike)):
        store = FeatureStore(store)
    smiles = list(smiles)
    if dedupe:
        first: dict[str, int] = {}
        unique_of_input = np.fromiter((first.setdefault(s, len(first)) for s in smiles),
                                      dtype=np.int64, count=len(smiles))
        unique = list(first)
    else:
        unique_of_input = np.arange(len(smiles))
        unique = smiles
    keys = entry_keys(fid, unique)

    have = np.zeros(len(unique), dtype=bool)
    pieces: list[tuple[np.ndarray, GraphSet]] = []  # (unique positions, graphs)
    errors_u: dict[int, str] = {}
    hits = 0
    if store is not None:
        store.register(fid, feat.identity())
        found_graphs, found = store.get(fid, keys)
        if found_graphs is not None:
            pieces.append((np.nonzero(found)[0], found_graphs))
            have |= found
            hits = int(found.sum())
    todo = np.nonzero(~have)[0]
    pending_pos: list[np.ndarray] = []
    pending: list[GraphSet] = []

    def flush() -> None:
        if store is not None and pending:
            pos = np.concatenate(pending_pos)
            store.put(fid, keys[pos], GraphSet.concat(pending) if len(pending) > 1 else pending[0])
        pending_pos.clear()
        pending.clear()

    n_pending = 0
    bar = progress(total=len(todo), desc=f"featurize ({feat.name})", unit="mol")
    for start in range(0, len(todo), batch_size):
        pos = todo[start : start + batch_size]
        mols, bad = parse_smiles([unique[i] for i in pos])
        ok_local = [i for i in range(len(pos)) if i not in bad]
        graphs, feat_errors = feat.featurize_mols([mols[i] for i in ok_local])
        for i, reason in bad.items():
            errors_u[int(pos[i])] = reason
        for j, reason in feat_errors.items():
            errors_u[int(pos[ok_local[j]])] = reason
        done = np.asarray([pos[ok_local[j]] for j in range(len(ok_local)) if j not in feat_errors],
                          dtype=np.int64)
        if len(done):
            pieces.append((done, graphs))
            pending_pos.append(done)
            pending.append(graphs)
            n_pending += len(done)
            if n_pending >= flush_every:
                flush()
                n_pending = 0
        bar.update(len(pos))
    bar.close()
    flush()

    # Assemble graphs in input order.
    if pieces:
        all_pos = np.concatenate([p for p, _ in pieces])
        merged = GraphSet.concat([g for _, g in pieces]) if len(pieces) > 1 else pieces[0][1]
        slot = np.full(len(unique), -1, dtype=np.int64)
        slot[all_pos] = np.arange(len(all_pos))
    else:
        merged = None
        slot = np.full(len(unique), -1, dtype=np.int64)
    input_slot = slot[unique_of_input]
    index = np.nonzero(input_slot >= 0)[0]
    if merged is not None and len(index):
        out = merged.take(input_slot[index])
    else:
        out = GraphSet.empty(1, 1)
        if merged is not None:
            out = merged.take(np.zeros(0, dtype=np.int64))
    out.smiles = [smiles[i] for i in index]
    errors = {int(i): errors_u[int(unique_of_input[i])] for i in np.nonzero(input_slot < 0)[0]}
    hex_keys = keys_to_hex(keys)
    return Featurized(
        graphs=out,
        index=index,
        errors=errors,
        keys=[hex_keys[u] for u in unique_of_input],
        fid=fid,
        hits=hits,
        misses=len(todo),
    )


def graphs_of_table(molecules_path: str | Path, store: str | Path | None, featurizer: dict | None = None):
    """Graphs of a standardized molecules table (id, smiles; the chemistry stages' molecules.parquet),
    through the feature store: (id → row in the graphs, GraphSet, standardized SMILES by id)."""
    import pandas as pd

    featurizer = featurizer or {"name": "default"}
    mols = pd.read_parquet(molecules_path)
    res = featurize(mols["smiles"].tolist(), featurizer.get("name", "default"), store=store,
                    params=featurizer.get("params") or {})
    if res.errors:
        log.warning("%d molecules could not be featurized: %s", len(res.errors), list(res.errors.values())[:3])
    ids = mols["id"].astype(str).to_numpy()[res.index]
    return {d: i for i, d in enumerate(ids)}, res.graphs, dict(zip(mols["id"].astype(str), mols["smiles"]))
