"""A third pair task, registered from this one file (no edit under src/ or pipelines/): molecule–molecule
structural similarity — the Tanimoto similarity of two molecules' Morgan fingerprints — as regression.

Load it with ``theraflow --plugin tests/plugins/similarity_task.py ...`` or the config key ``plugins:``.
:func:`similarity_table` makes its data from RDKit's NCI sample (shipped with RDKit): pairs of molecules
with their Tanimoto similarity (radius 2, 2,048 bits), labels the model can learn from structures.
"""

from __future__ import annotations

from pathlib import Path

from theraflow.pairs.task import PairTask, Role
from theraflow.registry import TASKS

TASK = PairTask(
    name="similarity",
    description="molecule–molecule structural similarity (Tanimoto of Morgan bits)",
    roles=(Role("mol1", "molecule", "mol1", "smiles1", "first molecule"),
           Role("mol2", "molecule", "mol2", "smiles2", "second molecule")),
    ordered=False,  # a similarity has no order: the head averages both
    labels=("regression",),
    default_model="similarity_morgan",
    training={"max_epochs": 30, "batch_size": 256, "lr": 2e-3, "patience": 10},
    head={"hidden": (128,), "dropout": 0.0, "proj": 64},
    partner="molecule",
    reference="mlp",
)
TASKS.register("similarity", TASK, replace=True)

MODEL_CONFIG = {
    "name": "similarity_morgan",
    "description": "Morgan-bit MLP shared by both molecules, an order-free head",
    "task": "similarity",
    "drug_encoder": {"type": "morgan", "morgan": {"radius": 2, "bits": 1024, "hidden": 128, "dropout": 0.0}},
    "training": {"max_epochs": 30, "max_minutes": 1, "threads": 1},
}


def similarity_table(path: str | Path, n_molecules: int = 120, n_pairs: int = 900, seed: int = 0) -> Path:
    """A pair table (mol1, smiles1, mol2, smiles2, label) of NCI molecules and their Tanimoto similarity."""
    import numpy as np
    import pandas as pd
    from rdkit import Chem, DataStructs, RDConfig, rdBase
    from rdkit.Chem import rdFingerprintGenerator

    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    mols = []
    with rdBase.BlockLogs():
        for line in (Path(RDConfig.RDDataDir) / "NCI" / "first_5K.smi").read_text().splitlines():
            parts = line.split()
            mol = Chem.MolFromSmiles(parts[0]) if len(parts) == 2 else None
            if mol is not None and len(Chem.GetMolFrags(mol)) == 1 and 8 <= mol.GetNumHeavyAtoms() <= 35:
                mols.append((f"NCI{parts[1]}", Chem.MolToSmiles(mol), gen.GetFingerprint(mol)))
            if len(mols) == n_molecules:
                break
    rng = np.random.default_rng(seed)
    rows, seen = [], set()
    while len(rows) < n_pairs:
        a, b = (int(x) for x in rng.integers(0, len(mols), 2))
        if a == b or (min(a, b), max(a, b)) in seen:
            continue
        seen.add((min(a, b), max(a, b)))
        rows.append((mols[a][0], mols[a][1], mols[b][0], mols[b][1],
                     DataStructs.TanimotoSimilarity(mols[a][2], mols[b][2])))
    path = Path(path)
    pd.DataFrame(rows, columns=["mol1", "smiles1", "mol2", "smiles2", "label"]).to_csv(path, index=False)
    return path
