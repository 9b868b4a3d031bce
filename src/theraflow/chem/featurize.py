"""Graph featurizers: RDKit molecules to PyTorch Geometric graphs.

Featurizers live in a name registry (:func:`get_featurizer`, :func:`list_featurizers`,
:func:`register_featurizer`). Each turns a batch of sanitized RDKit molecules into a
:class:`~theraflow.chem.graphs.GraphSet` plus a reason for every molecule it could
not featurize. ``name``, ``params`` and ``version`` (bumped whenever the output of the
same input changes) identify the featurizer in the feature store's keys.

``default`` — the theraflow feature set. One-hot node features, 47 columns:

========  =====================================================================
columns   meaning
========  =====================================================================
0-15      element: H B C N O F Si P S Cl As Se Br Te I, other
16-22     total degree (heavy neighbours + H): 0 1 2 3 4 5, 6 or more
23-27     formal charge: -2 or less, -1, 0, +1, +2 or more
28-32     total hydrogens: 0 1 2 3, 4 or more
33-39     hybridization: S SP SP2 SP3 SP3D SP3D2, other/unspecified
40        aromatic
41        in a ring
42-45     chiral tag: none, tetrahedral CW, tetrahedral CCW, other
46        has radical electrons
========  =====================================================================

One-hot edge features, 14 columns, each bond as two directed edges (u→v, v→u):

========  =====================================================================
0-4       bond type: single double triple aromatic, other
5         conjugated
6         in a ring
7-13      stereo: none any Z E cis trans, other
========  =====================================================================

``pyg`` — exactly :func:`torch_geometric.utils.from_smiles` (9 integer node columns,
3 integer edge columns, edges sorted); a molecule whose values fall outside PyG's
vocabularies (which makes ``from_smiles`` raise) is reported, not featurized.

``deepchem`` — DeepChem's ``MolGraphConvFeaturizer(use_edges=True)`` (30 node and 11
edge float columns; parameters ``use_chirality``, ``use_partial_charge``) converted to
PyG exactly as ``GraphData.to_pyg_graph`` does.
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
from theraflow.chem.rdgraph import FieldBatch, extract_fields

if TYPE_CHECKING:
    from theraflow.chem.store import FeatureStore

log = logging.getLogger(__name__)

_REGISTRY: dict[str, type[GraphFeaturizer]] = {}


def register_featurizer(cls: type[GraphFeaturizer]) -> type[GraphFeaturizer]:
    """Class decorator: make a featurizer available by its ``name``."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"a featurizer named {cls.name!r} is already registered")
    _REGISTRY[cls.name] = cls
    return cls


def list_featurizers() -> list[str]:
    return sorted(_REGISTRY)


def get_featurizer(name: str, **params: Any) -> GraphFeaturizer:
    """The featurizer registered as ``name``, configured with ``params``."""
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown featurizer {name!r}; available: {', '.join(list_featurizers())}"
        ) from None
    return cls(**params)


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

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params})"


# ---------------------------------------------------------------- default
_ELEMENTS = (1, 5, 6, 7, 8, 9, 14, 15, 16, 17, 33, 34, 35, 52, 53)
_ELEMENT_COL = np.full(256, len(_ELEMENTS), dtype=np.int64)
_ELEMENT_COL[list(_ELEMENTS)] = np.arange(len(_ELEMENTS))
# RDKit HybridizationType: 0 UNSPECIFIED 1 S 2 SP 3 SP2 4 SP3 5 SP2D 6 SP3D 7 SP3D2 8 OTHER
_HYB_COL = np.array([6, 0, 1, 2, 3, 6, 4, 5, 6] + [6] * 247, dtype=np.int64)
# RDKit ChiralType: 0 unspecified 1 CW 2 CCW, everything else "other"
_CHIRAL_COL = np.array([0, 1, 2] + [3] * 253, dtype=np.int64)
# RDKit BondType: 1 SINGLE 2 DOUBLE 3 TRIPLE 12 AROMATIC, everything else "other"
_BOND_COL = np.full(256, 4, dtype=np.int64)
_BOND_COL[[1, 2, 3, 12]] = [0, 1, 2, 3]
# RDKit BondStereo: 0 NONE 1 ANY 2 Z 3 E 4 CIS 5 TRANS, atropisomers etc. "other"
_STEREO_COL = np.array([0, 1, 2, 3, 4, 5] + [6] * 250, dtype=np.int64)

_NODE_BLOCKS = (  # (name, width)
    ("element", 16),
    ("degree", 7),
    ("formal_charge", 5),
    ("total_hs", 5),
    ("hybridization", 7),
    ("aromatic", 1),
    ("in_ring", 1),
    ("chiral_tag", 4),
    ("radical", 1),
)
_EDGE_BLOCKS = (("bond_type", 5), ("conjugated", 1), ("in_ring", 1), ("stereo", 7))


def _offsets(blocks):
    out, pos = {}, 0
    for name, width in blocks:
        out[name] = pos
        pos += width
    return out, pos


_NODE_OFF, NUM_NODE_FEATURES = _offsets(_NODE_BLOCKS)
_EDGE_OFF, NUM_EDGE_FEATURES = _offsets(_EDGE_BLOCKS)


def _directed_edges(f: FieldBatch) -> tuple[np.ndarray, np.ndarray]:
    """Edge index (u→v, v→u per bond, interleaved) and each edge's bond number."""
    m = len(f.bond_begin)
    ei = np.empty((2, 2 * m), dtype=np.int32)
    ei[0, 0::2] = f.bond_begin
    ei[1, 0::2] = f.bond_end
    ei[0, 1::2] = f.bond_end
    ei[1, 1::2] = f.bond_begin
    return ei, np.repeat(np.arange(m), 2)


@register_featurizer
class DefaultFeaturizer(GraphFeaturizer):
    name = "default"
    version = "1"

    def featurize_mols(self, mols):
        f = extract_fields(mols)
        n = len(f.atomic_num)
        rows = np.arange(n)
        x = np.zeros((n, NUM_NODE_FEATURES), dtype=np.uint8)
        o = _NODE_OFF
        x[rows, o["element"] + _ELEMENT_COL[f.atomic_num]] = 1
        x[rows, o["degree"] + np.minimum(f.degree, 6)] = 1
        x[rows, o["formal_charge"] + np.clip(f.formal_charge, -2, 2) + 2] = 1
        x[rows, o["total_hs"] + np.minimum(f.total_hs, 4)] = 1
        x[rows, o["hybridization"] + _HYB_COL[f.hybridization]] = 1
        x[:, o["aromatic"]] = f.aromatic
        x[:, o["in_ring"]] = f.in_ring
        x[rows, o["chiral_tag"] + _CHIRAL_COL[f.chiral_tag]] = 1
        x[:, o["radical"]] = f.radicals > 0

        ei, bond_of_edge = _directed_edges(f)
        m = len(bond_of_edge)
        e = np.zeros((m, NUM_EDGE_FEATURES), dtype=np.uint8)
        er = np.arange(m)
        eo = _EDGE_OFF
        e[er, eo["bond_type"] + _BOND_COL[f.bond_type[bond_of_edge]]] = 1
        e[:, eo["conjugated"]] = f.conjugated[bond_of_edge]
        e[:, eo["in_ring"]] = f.bond_in_ring[bond_of_edge]
        e[er, eo["stereo"] + _STEREO_COL[f.stereo[bond_of_edge]]] = 1
        graphs = GraphSet(
            x=x, edge_index=ei, edge_attr=e, x_ptr=f.atom_ptr, e_ptr=2 * f.bond_ptr,
            x_dtype="float32", edge_attr_dtype="float32",
        )
        return graphs, {}


# ---------------------------------------------------------------- pyg
# RDKit hybridization value -> index in PyG's list; SP2D (5) is not in PyG's list.
_PYG_HYB = np.array([0, 1, 2, 3, 4, -1, 5, 6, 7], dtype=np.int64)
_PYG_LIMITS = (  # field, lowest, highest value from_smiles accepts
    ("atomic_num", 0, 118),
    ("chiral_tag", 0, 8),
    ("degree", 0, 10),
    ("formal_charge", -5, 6),
    ("total_hs", 0, 8),
    ("radicals", 0, 4),
    ("hybridization", 0, 8),
)


@register_featurizer
class PygFeaturizer(GraphFeaturizer):
    """Identical to ``torch_geometric.utils.from_smiles`` (PyG's x_map/e_map)."""

    name = "pyg"
    version = "1"

    def featurize_mols(self, mols):
        f = extract_fields(mols)
        errors = self._out_of_vocabulary(f)
        hyb = _PYG_HYB[f.hybridization.clip(0, 8)]
        x = np.stack(
            [f.atomic_num, f.chiral_tag, f.degree, f.formal_charge + 5, f.total_hs,
             f.radicals, hyb, f.aromatic, f.in_ring],
            axis=1,
        )
        ei, bond_of_edge = _directed_edges(f)
        e = np.stack(
            [f.bond_type[bond_of_edge], f.stereo[bond_of_edge], f.conjugated[bond_of_edge]],
            axis=1,
        )
        # from_smiles sorts each graph's edges by (row * num_nodes + col); node
        # indices made global sort the same way and keep graphs in order.
        n_edges = 2 * np.diff(f.bond_ptr)
        shift = np.repeat(f.atom_ptr[:-1], n_edges)
        total = int(f.atom_ptr[-1]) + 1
        perm = np.argsort((ei[0] + shift) * total + ei[1] + shift, kind="stable")
        graphs = GraphSet(
            x=x.astype(np.int16), edge_index=ei[:, perm], edge_attr=e[perm].astype(np.int16),
            x_ptr=f.atom_ptr, e_ptr=2 * f.bond_ptr, x_dtype="int64", edge_attr_dtype="int64",
        )
        if errors:
            keep = [i for i in range(len(mols)) if i not in errors]
            graphs = graphs.take(keep)
        return graphs, errors

    @staticmethod
    def _out_of_vocabulary(f: FieldBatch) -> dict[int, str]:
        errors: dict[int, str] = {}
        mol_of_atom = np.repeat(np.arange(len(f)), np.diff(f.atom_ptr))
        mol_of_bond = np.repeat(np.arange(len(f)), np.diff(f.bond_ptr))
        checks = [(name, getattr(f, name), lo, hi, mol_of_atom) for name, lo, hi in _PYG_LIMITS]
        checks.append(("hybridization", f.hybridization, 5, 4, mol_of_atom))  # SP2D
        checks.append(("bond_type", f.bond_type, 0, 21, mol_of_bond))
        checks.append(("bond stereo", f.stereo, 0, 5, mol_of_bond))
        for name, values, lo, hi, owner in checks:
            if lo > hi:  # the SP2D check: a single forbidden value
                bad = np.nonzero(values == lo)[0]
            else:
                bad = np.nonzero((values < lo) | (values > hi))[0]
            for pos in bad:
                mol = int(owner[pos])
                errors.setdefault(
                    mol, f"pyg featurizer: {name} value {int(values[pos])} is outside PyG's vocabulary"
                )
        return errors


# ---------------------------------------------------------------- deepchem
@register_featurizer
class DeepChemFeaturizer(GraphFeaturizer):
    """DeepChem ``MolGraphConvFeaturizer(use_edges=True)``, converted to PyG."""

    name = "deepchem"
    version = "1"
    defaults = {"use_chirality": False, "use_partial_charge": False}

    def __init__(self, **params):
        super().__init__(**params)
        self._impl = None

    def _featurizer(self):
        if self._impl is None:
            from deepchem.feat import MolGraphConvFeaturizer  # slow import: only when used

            self._impl = MolGraphConvFeaturizer(use_edges=True, **self.params)
        return self._impl

    def featurize_mols(self, mols):
        from deepchem.feat.graph_data import GraphData

        out = self._featurizer().featurize(list(mols))
        errors: dict[int, str] = {}
        xs, eis, eas, nn, ne = [], [], [], [], []
        for i, g in enumerate(out):
            if not isinstance(g, GraphData):
                errors[i] = "deepchem MolGraphConvFeaturizer could not featurize the molecule"
                continue
            xs.append(np.asarray(g.node_features, dtype=np.float32))
            eis.append(np.asarray(g.edge_index, dtype=np.int32).reshape(2, -1))
            eas.append(np.asarray(g.edge_features, dtype=np.float32).reshape(eis[-1].shape[1], -1))
            nn.append(len(xs[-1]))
            ne.append(eis[-1].shape[1])
        if not xs:
            return GraphSet.empty(30, 11, np.float32, np.float32), errors
        x_ptr = np.zeros(len(nn) + 1, dtype=np.int64)
        np.cumsum(nn, out=x_ptr[1:])
        e_ptr = np.zeros(len(ne) + 1, dtype=np.int64)
        np.cumsum(ne, out=e_ptr[1:])
        graphs = GraphSet(
            x=np.concatenate(xs), edge_index=np.concatenate(eis, axis=1),
            edge_attr=np.concatenate(eas), x_ptr=x_ptr, e_ptr=e_ptr,
            x_dtype="float32", edge_attr_dtype="float32",
        )
        return graphs, errors


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
