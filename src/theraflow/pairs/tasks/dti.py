"""``dti``: drug–target interactions — a molecule and a protein sequence.

Affinities (pKd, KIBA scores: regression), actives (binary) or interaction classes (multiclass).
The default recipe is ``dti_hybrid`` (chosen on Davis validation pairs; models/dti_hybrid/card.md).
Batches are blocks of targets × drugs by default: each sequence is encoded once per block.
"""

from theraflow.pairs.task import PairTask, Role

TASK = PairTask(
    name="dti",
    description="drug–target interactions: a molecule and a protein sequence",
    roles=(Role("drug", "molecule", "drug_id", "smiles", "drug"),
           Role("target", "protein", "target_id", "sequence", "target")),
    ordered=True,
    labels=("regression", "binary", "multiclass"),
    default_model="dti_hybrid",
    training={"max_epochs": 300, "batch_mode": "blocks", "batch_size": 512, "target_group": 32,
              "drug_group": 1_000_000, "lr": 2e-3, "patience": 40},
    head={"hidden": (512, 256), "dropout": 0.2, "proj": 128},
    partner="target",
)
