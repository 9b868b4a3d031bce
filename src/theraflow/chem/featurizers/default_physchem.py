"""``default_physchem`` — the ``default`` feature set plus five per-atom physicochemical columns.

The one-hot columns say what an atom is; these say how it contributes to the properties a
medicinal chemist reads first (lipophilicity, polarity, charge distribution). Each atom's
value includes its implicit hydrogens (a heavy-atom graph has no H nodes), so the columns of
a molecule add up to RDKit's molecular descriptor:

========  ==========================================================================================
columns   meaning
========  ==========================================================================================
0-46      the ``default`` node features, unchanged (see :mod:`theraflow.chem.featurizers.default`)
47        Gasteiger–Marsili partial charge (e) of the atom plus its implicit hydrogens
          (``_GasteigerCharge + _GasteigerHCharge``, 12 iterations); sums to the formal charge.
          0 where undefined
48        1 where the Gasteiger charge is undefined: RDKit has no Gasteiger parameters for an element
          (metals, Se, As, Sb, ...) and the NaN spreads to every atom bonded to it, directly or not
          (other fragments of the molecule keep their charges)
49        Wildman–Crippen logP contribution of the atom plus its implicit hydrogens; sums to
          ``Crippen.MolLogP``
50        Wildman–Crippen molar refractivity contribution (cm³/mol), same convention; sums to
          ``Crippen.MolMR``
51        topological polar surface area contribution (Å², Ertl 2000: N and O only, so S and P
          add 0); sums to ``rdMolDescriptors.CalcTPSA``
========  ==========================================================================================

Edge features: the ``default`` 14 one-hot columns. Node features are stored and handed to
models as float32; the values are in their natural units (not scaled). The extra columns come
from RDKit's per-atom API, one molecule at a time, so this featurizer is several times slower
than ``default`` (still well under a millisecond per drug-like molecule).
"""

from __future__ import annotations

import math

import numpy as np

from theraflow.chem.featurizers.default import NUM_NODE_FEATURES, DefaultFeaturizer
from theraflow.chem.graphs import GraphSet

NUM_PHYSCHEM_FEATURES = 5
NUM_FEATURES = NUM_NODE_FEATURES + NUM_PHYSCHEM_FEATURES  # 52
PHYSCHEM_COLUMNS = ("gasteiger_charge", "gasteiger_undefined", "crippen_logp", "crippen_mr", "tpsa")


def atom_physchem(mol) -> np.ndarray:
    """[atoms, 5] float64: the five columns above for one sanitized RDKit molecule."""
    from rdkit import Chem
    from rdkit.Chem import rdMolDescriptors, rdPartialCharges

    n = mol.GetNumAtoms()
    out = np.zeros((n, NUM_PHYSCHEM_FEATURES), dtype=np.float64)

    work = Chem.Mol(mol)  # the charges are stored as atom properties: leave the caller's molecule alone
    try:
        rdPartialCharges.ComputeGasteigerCharges(work)
        charges = [a.GetDoubleProp("_GasteigerCharge") + a.GetDoubleProp("_GasteigerHCharge")
                   for a in work.GetAtoms()]
    except (RuntimeError, ValueError, KeyError):
        charges = [math.nan] * n
    for i, q in enumerate(charges):
        if math.isfinite(q):
            out[i, 0] = q
        else:
            out[i, 1] = 1.0

    # Crippen types hydrogens separately: add them, then give each added H's share to its heavy atom
    # (hydrogens already in the graph, e.g. [2H], keep their own rows; added ones come after index n).
    with_h = Chem.AddHs(mol)
    for i, (logp, mr) in enumerate(rdMolDescriptors._CalcCrippenContribs(with_h)):
        owner = i if i < n else with_h.GetAtomWithIdx(i).GetNeighbors()[0].GetIdx()
        out[owner, 2] += logp
        out[owner, 3] += mr

    out[:, 4] = rdMolDescriptors._CalcTPSAContribs(mol)  # polar atoms carry their H already
    return out


class DefaultPhyschemFeaturizer(DefaultFeaturizer):
    """``default`` plus Gasteiger charge, Crippen logP/MR and TPSA contributions per atom (52 columns)."""

    name = "default_physchem"
    version = "1"

    def featurize_mols(self, mols):
        graphs, errors = super().featurize_mols(mols)
        extra = [atom_physchem(m) for i, m in enumerate(mols) if i not in errors]
        phys = np.concatenate(extra) if extra else np.zeros((0, NUM_PHYSCHEM_FEATURES))
        x = np.concatenate([graphs.x.astype(np.float32), phys.astype(np.float32)], axis=1)
        out = GraphSet(x=x, edge_index=graphs.edge_index, edge_attr=graphs.edge_attr, x_ptr=graphs.x_ptr,
                       e_ptr=graphs.e_ptr, x_dtype="float32", edge_attr_dtype=graphs.edge_attr_dtype)
        return out, errors


FEATURIZER = DefaultPhyschemFeaturizer
