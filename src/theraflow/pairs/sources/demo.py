"""``demo``: a small drug–drug interaction set built offline, for the demo and the tests.

The molecules are the first standardizable records of RDKit's NCI set (``rdkit/Data/NCI``,
shipped with RDKit). Interaction "types" are rules on substructures of the *ordered* pair — the
first drug's group acts on the second drug's — so the set has what DrugBank's has: several
types, a meaning in the order of the pair, and labels a structure-reading model can learn. It
is synthetic: it shows the workflow, not pharmacology.
"""

from __future__ import annotations

from pathlib import Path

from theraflow.pairs.source import Loaded, PairSource

# Every sentence starts with this, so that no output (a table cut to its first characters included) reads a
# made-up interaction of real molecules as pharmacology.
SYNTHETIC = "[synthetic demo data] "

# (type, SMARTS of drug 1, SMARTS of drug 2, sentence): the first rule a pair matches (in this order) is its type
RULES = [
    ("1", "[CX3](=O)[OX2H1]", "[NX3;H2,H1;!$(NC=O)]",
     "#Drug1 can cause a decrease in the absorption of #Drug2 (synthetic rule: acid with amine)."),
    ("3", "[OX2H][CX4]", "[CX3]=O",
     "The serum concentration of #Drug2 can be increased when combined with #Drug1 (synthetic rule: alcohol with "
     "carbonyl)."),
    ("4", "n", "[#16]", "The risk of adverse effects can be increased when #Drug1 is combined with #Drug2 "
                        "(synthetic rule: aza-arene with sulfur)."),
    ("2", "[F,Cl,Br,I]", "a", "#Drug1 can increase the metabolism of #Drug2 (synthetic rule: halide with arene)."),
]


def demo_molecules(n: int = 150):
    """id, smiles of the first ``n`` NCI records with 6-40 heavy atoms that RDKit parses."""
    import pandas as pd
    from rdkit import Chem, RDConfig, rdBase

    path = Path(RDConfig.RDDataDir) / "NCI" / "first_5K.smi"
    rows = []
    with rdBase.BlockLogs():
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) < 2:
                continue
            mol = Chem.MolFromSmiles(parts[0])
            if mol is None or len(Chem.GetMolFrags(mol)) > 1 or not 6 <= mol.GetNumHeavyAtoms() <= 40:
                continue
            rows.append((f"NCI{parts[1]}", Chem.MolToSmiles(mol)))
            if len(rows) == n:
                break
    return pd.DataFrame(rows, columns=["id", "smiles"])


def demo_pairs(n_drugs: int = 150, n_pairs: int = 2400, seed: int = 0):
    """(pairs: drug1, smiles1, drug2, smiles2, label, line; types: type, sentence) — see the module docstring."""
    import numpy as np
    import pandas as pd
    from rdkit import Chem

    mols = demo_molecules(n_drugs)
    parsed = [Chem.MolFromSmiles(s) for s in mols["smiles"]]
    hits = {side: np.array([[m.HasSubstructMatch(Chem.MolFromSmarts(rule[1 + side])) for m in parsed]
                            for rule in RULES]) for side in (0, 1)}
    rng = np.random.default_rng(seed)
    seen, rows = set(), []
    for _ in range(50 * n_pairs):
        a, b = (int(x) for x in rng.integers(0, len(mols), 2))
        if a == b or (a, b) in seen:
            continue
        seen.add((a, b))
        match = [k for k in range(len(RULES)) if hits[0][k, a] and hits[1][k, b]]
        if not match:
            continue  # like DrugBank, the set lists interacting pairs only
        rows.append((mols["id"][a], mols["smiles"][a], mols["id"][b], mols["smiles"][b], RULES[match[0]][0]))
        if len(rows) == n_pairs:
            break
    pairs = pd.DataFrame(rows, columns=["drug1", "smiles1", "drug2", "smiles2", "label"])
    pairs["line"] = [f"pair {i + 1}" for i in range(len(pairs))]
    types = pd.DataFrame({"type": [r[0] for r in RULES], "sentence": [SYNTHETIC + r[3] for r in RULES], "subject": "",
                          "ddi_type": [f"demo rule {r[0]}" for r in RULES]})
    return pairs, types


def load(task, cfg: dict) -> Loaded:
    import pandas as pd

    from theraflow.pairs.tables import REJECT_COLUMNS

    pairs, types = demo_pairs()
    return Loaded(pairs, pd.DataFrame(columns=REJECT_COLUMNS), label="multiclass",
                  classes=tuple(types["type"]), descriptions=dict(zip(types["type"], types["sentence"])),
                  files=["(RDKit's NCI set)"])


SOURCE = PairSource(name="demo", description="drug–drug pairs of RDKit's NCI molecules with 4 synthetic types "
                                             "(offline demo)", load=load, tasks=("ddi",), needs_path=False)
