"""``pyg`` — exactly :func:`torch_geometric.utils.from_smiles`: 9 integer node columns (atomic number,
chirality, degree, formal charge + 5, number of H, radical electrons, hybridization, aromatic, in a
ring; PyG's ``x_map``) and 3 integer edge columns (bond type, stereo, conjugated; ``e_map``), edges
sorted as ``from_smiles`` sorts them. A molecule whose values fall outside PyG's vocabularies (which
makes ``from_smiles`` raise) is reported, not featurized.
"""

from __future__ import annotations

import numpy as np

from theraflow.chem.featurize import GraphFeaturizer
from theraflow.chem.featurizers._common import directed_edges
from theraflow.chem.graphs import GraphSet
from theraflow.chem.rdgraph import FieldBatch, extract_fields

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


class PygFeaturizer(GraphFeaturizer):
    """Identical to ``torch_geometric.utils.from_smiles`` (PyG's x_map/e_map)."""

    name = "pyg"
    version = "1"

    @staticmethod
    def atomic_numbers(x) -> np.ndarray:
        """Atomic numbers: the first node column."""
        return np.asarray(x)[:, 0].astype(np.int64)

    def featurize_mols(self, mols):
        f = extract_fields(mols)
        errors = self._out_of_vocabulary(f)
        hyb = _PYG_HYB[f.hybridization.clip(0, 8)]
        x = np.stack(
            [f.atomic_num, f.chiral_tag, f.degree, f.formal_charge + 5, f.total_hs,
             f.radicals, hyb, f.aromatic, f.in_ring],
            axis=1,
        )
        ei, bond_of_edge = directed_edges(f)
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


FEATURIZER = PygFeaturizer
