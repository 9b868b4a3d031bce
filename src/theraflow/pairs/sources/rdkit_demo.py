"""``rdkit_demo``: a small two-target activity set built from files that ship inside RDKit (offline).

- CHEMBL2321810 (rdkit/Contrib/FreeWilson/data): 1,017 aryl sulfonamides with pIC50;
- c-Met (cmet_ligands.sdf): 24 ligands with experimental ΔG (kcal/mol), converted to
  pKd = -ΔG / (RT ln 10) at 298.15 K.
Targets are given as ids only (no sequences).
"""

from __future__ import annotations

import math
from pathlib import Path

from theraflow.pairs.source import Loaded, PairSource


def rdkit_demo_pairs():
    import pandas as pd
    from rdkit import Chem, RDConfig, rdBase

    base = Path(RDConfig.RDContribDir) / "FreeWilson" / "data"
    smi = pd.read_csv(base / "CHEMBL2321810.smi", sep=r"\s+", header=None, names=["smiles", "drug_id"], dtype=str)
    act = pd.read_csv(base / "CHEMBL2321810_act.csv", dtype={"Name": str})
    a = smi.merge(act, left_on="drug_id", right_on="Name")
    a = pd.DataFrame({"drug_id": "CHEMBL-" + a["drug_id"], "smiles": a["smiles"], "target_id": "CHEMBL2321810",
                      "sequence": "", "label": a["Act"].astype(float)})
    rows = []
    rt_ln10 = 0.0019872036 * 298.15 * math.log(10)
    with rdBase.BlockLogs():
        for mol in Chem.SDMolSupplier(str(base / "cmet_ligands.sdf")):
            if mol is None or not mol.HasProp("r_exp_dg"):
                continue
            rows.append({"drug_id": mol.GetProp("_Name"), "smiles": Chem.MolToSmiles(mol), "target_id": "MET",
                         "sequence": "", "label": -float(mol.GetProp("r_exp_dg")) / rt_ln10})
    b = pd.DataFrame(rows).drop_duplicates("drug_id")
    return pd.concat([a, b], ignore_index=True)[["drug_id", "smiles", "target_id", "sequence", "label"]]


def load(task, cfg: dict) -> Loaded:
    import pandas as pd

    from theraflow.pairs.tables import REJECT_COLUMNS

    pairs = rdkit_demo_pairs()
    pairs["line"] = [f"pair {i + 1}" for i in range(len(pairs))]
    return Loaded(pairs, pd.DataFrame(columns=REJECT_COLUMNS), label="regression", files=["(RDKit's data)"])


SOURCE = PairSource(name="rdkit_demo", description="two targets' activity sets shipped inside RDKit (offline demo)",
                    load=load, tasks=("dti",), needs_path=False)
