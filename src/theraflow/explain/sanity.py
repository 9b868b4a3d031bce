"""Do attributions mean something? A task whose answer is known: the label is the presence of a substructure.

:func:`substructure_pairs` labels molecules 1 when they hold a SMARTS pattern (a nitro group by
default) and 0 otherwise, as pairs against one target, so that the ordinary interaction model
trains on it. A model that learned the task must put its attribution on the pattern's atoms:
:func:`substructure_overlap` is the share of positive molecules whose top-attributed atoms fall
on a match of the pattern.

The molecules come from RDKit's own NCI sample (``rdkit/Data/NCI/first_5K.smi``), so the check
needs no download.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from theraflow.errors import InputError

PATTERNS = {"nitro": "[NX3+](=O)[O-]", "sulfonamide": "S(=O)(=O)[NX3]"}


def nci_smiles() -> list[str]:
    """The 5,000 NCI SMILES that ship with RDKit (rdkit/Data/NCI/first_5K.smi)."""
    from rdkit import RDConfig

    path = Path(RDConfig.RDDataDir) / "NCI" / "first_5K.smi"
    if not path.exists():
        raise InputError(f"{path}: RDKit's NCI sample is not installed with this RDKit")
    return [line.split()[0] for line in path.read_text().splitlines() if line.strip()]


def substructure_pairs(smiles: Sequence[str], pattern: str = "nitro", *, negatives_per_positive: float = 2.0,
                       seed: int = 0, target_id: str = "substructure") -> pd.DataFrame:
    """Pairs (drug_id, smiles, target_id, sequence, label): label 1 for molecules holding ``pattern``
    (a name in :data:`PATTERNS` or a SMARTS), 0 for a random sample of the others.

    Molecules are RDKit-canonical single fragments (salts and mixtures are left out, so that
    every atom of a molecule is an atom of its graph) with 5 to 60 heavy atoms."""
    from rdkit import Chem, rdBase

    query = Chem.MolFromSmarts(PATTERNS.get(pattern, pattern))
    if query is None:
        raise InputError(f"pattern {pattern!r} is neither a known name ({', '.join(PATTERNS)}) nor valid SMARTS")
    pos, neg = [], []
    with rdBase.BlockLogs():
        for smi in smiles:
            mol = Chem.MolFromSmiles(smi)
            if mol is None or len(Chem.GetMolFrags(mol)) != 1 or not 5 <= mol.GetNumAtoms() <= 60:
                continue
            (pos if mol.HasSubstructMatch(query) else neg).append(Chem.MolToSmiles(mol))
    pos, neg = list(dict.fromkeys(pos)), sorted(set(neg) - set(pos))
    if not pos:
        raise InputError(f"no molecule holds the pattern {pattern!r}")
    rng = np.random.default_rng(seed)
    n_neg = min(len(neg), int(round(negatives_per_positive * len(pos))))
    neg = [neg[i] for i in sorted(rng.choice(len(neg), n_neg, replace=False))]
    smi = pos + neg
    return pd.DataFrame({"drug_id": [f"m{i}" for i in range(len(smi))], "smiles": smi, "target_id": target_id,
                         "sequence": "", "label": [1.0] * len(pos) + [0.0] * len(neg)})


def pattern_atoms(smiles: str, pattern: str = "nitro") -> set[int]:
    """Atoms of ``smiles`` (RDKit order) on any match of ``pattern``."""
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles)
    query = Chem.MolFromSmarts(PATTERNS.get(pattern, pattern))
    return {a for match in mol.GetSubstructMatches(query) for a in match}


def substructure_overlap(attrs, pattern: str = "nitro", *, top: int | None = None) -> dict:
    """Share of molecules whose ``top`` highest-weighted atoms (default: as many as the pattern has
    atoms) lie mostly on the pattern — at least half of them on a match — and, as a stricter
    reading, the share whose single highest-weighted atom does."""
    from rdkit import Chem

    size = Chem.MolFromSmarts(PATTERNS.get(pattern, pattern)).GetNumAtoms()
    k = top or size
    majority, first = [], []
    for a in attrs:
        on = pattern_atoms(a.smiles, pattern)
        ranked = a.top_atoms(k)
        majority.append(sum(i in on for i in ranked) * 2 >= len(ranked))
        first.append(ranked[0] in on)
    n = len(majority)
    return {"molecules": n, "top_k": k, "overlap": float(np.mean(majority)) if n else float("nan"),
            "top1_on_pattern": float(np.mean(first)) if n else float("nan")}
