"""``default`` — the theraflow feature set. One-hot node features, 47 columns:

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

Stored as uint8, handed to models as float32.
"""

from __future__ import annotations

import numpy as np

from theraflow.chem.featurize import GraphFeaturizer
from theraflow.chem.featurizers._common import directed_edges
from theraflow.chem.graphs import GraphSet
from theraflow.chem.rdgraph import extract_fields

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


class DefaultFeaturizer(GraphFeaturizer):
    name = "default"
    version = "1"

    @staticmethod
    def atomic_numbers(x) -> np.ndarray:
        """Atomic numbers from the element one-hot block (0 for "other element")."""
        block = np.asarray(x)[:, _NODE_OFF["element"]:_NODE_OFF["element"] + len(_ELEMENTS) + 1]
        return np.array([*_ELEMENTS, 0], dtype=np.int64)[block.argmax(1)]

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

        ei, bond_of_edge = directed_edges(f)
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


FEATURIZER = DefaultFeaturizer
