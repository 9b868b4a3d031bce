"""What the pair-task tests share: tiny model configs, the chemistry stage's molecules table, small pair sets."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd

# A tiny drug–target model: GIN over the atoms (with dropout: the random state matters when resuming)
# and a target-id embedding. Three epochs of the RDKit demo pairs take a few seconds on one thread.
SMALL_DTI = {
    "name": "tiny",
    "drug_encoder": {"type": "gin", "hidden": 32, "layers": 2, "dropout": 0.1, "pool": "add+max"},
    "target_encoder": {"type": "id", "id": {"dim": 8}},
    "head": {"hidden": [32], "dropout": 0.1, "proj": 16},
    "training": {"max_epochs": 3, "batch_mode": "random", "batch_size": 128, "threads": 1, "patience": 10,
                 "max_minutes": 5},
}

SEQ_SMILES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "CCN(CC)CC", "O=C(O)c1ccccc1", "c1ccc2[nH]ccc2c1"]
SEQUENCES = ["MKTAYIAKQR", "MSEQNNTEMTFQIQRIYTKDISFEAPNAPHVFQKDW", "MGSSHHHHHH", "MALWMRLLPLLALLALW", "MTEYKLVVVG"]


def small_dti(**training) -> dict:
    """A fresh copy of :data:`SMALL_DTI` with training keys changed."""
    cfg = copy.deepcopy(SMALL_DTI)
    cfg["training"].update(training)
    return cfg


def write_molecules(dataset_dir: Path) -> Path:
    """``molecules.parquet`` (id, smiles) from a data set's molecules.csv, standardized as the chemistry
    stage does (what training and evaluation read); molecules it rejects are left out."""
    from theraflow.chem.standardize import StandardizeOptions, standardize
    from theraflow.io import write_table

    mol = pd.read_csv(dataset_dir / "molecules.csv", dtype=str, keep_default_na=False)
    records = pd.DataFrame({"record": np.arange(1, len(mol) + 1), "id": mol["id"], "input": mol["smiles"],
                            "kind": "smiles"})
    kept, _ = standardize(records, StandardizeOptions())
    out = dataset_dir / "molecules.parquet"
    write_table(kept[["id", "smiles"]], out)
    return out


def molecules_of(ids, smiles):
    """:class:`~theraflow.pairs.data.Molecules` of (id, SMILES) pairs, featurized with the default featurizer."""
    from theraflow.chem.featurize import featurize
    from theraflow.pairs.data import Molecules

    ids, smiles = list(ids), list(smiles)
    res = featurize(smiles, "default")
    assert not res.errors, res.errors
    return Molecules({ids[i]: k for k, i in enumerate(res.index)}, res.graphs)


def seq_pairs() -> pd.DataFrame:
    """6 drugs x 5 targets with sequences (dti columns, a label that depends on both)."""
    rows = [(i, f"d{i}", s, f"t{j}", q, float(i + j) / 3) for i, s in enumerate(SEQ_SMILES)
            for j, q in enumerate(SEQUENCES)]
    return pd.DataFrame([r[1:] for r in rows], columns=["drug_id", "smiles", "target_id", "sequence", "label"])


def seq_data():
    """PairData of :func:`seq_pairs` (dti, regression)."""
    from theraflow.pairs.data import build_pair_data
    from theraflow.pairs.task import task_spec

    pairs = seq_pairs()
    mols = molecules_of([f"d{i}" for i in range(len(SEQ_SMILES))], SEQ_SMILES)
    return pairs, build_pair_data(task_spec("dti", "regression"), pairs, mols)


def ddi_molecule_table(pairs: pd.DataFrame) -> pd.DataFrame:
    """id, smiles of every molecule of a drug–drug pair table."""
    return pd.concat([pairs[["drug1", "smiles1"]].set_axis(["id", "smiles"], axis=1),
                      pairs[["drug2", "smiles2"]].set_axis(["id", "smiles"], axis=1)]).drop_duplicates("id")


def weights(model_dir: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(Path(model_dir) / "model.safetensors"))


def same_weights(a: Path, b: Path) -> bool:
    import torch

    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
