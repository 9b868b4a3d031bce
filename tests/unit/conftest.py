"""Interaction-model fixtures shared by the unit tests of dti/ and explain/ (session-scoped: trained once)."""

import pytest


@pytest.fixture(scope="session")
def demo_pairset():
    """The RDKit demo pairs (2 targets, ~1,000 drugs) as a PairSet, plus a random split."""
    from theraflow.chem import featurize
    from theraflow.dti.data import build_pairset
    from theraflow.dti.stages import rdkit_demo_pairs
    from theraflow.pairs.splits import make_split

    pairs = rdkit_demo_pairs()
    drugs = pairs[["drug_id", "smiles"]].drop_duplicates("drug_id")
    res = featurize(drugs["smiles"].tolist(), "default")
    ps = build_pairset(pairs, {d: i for i, d in enumerate(drugs["drug_id"])}, res.graphs)
    part = make_split(pairs, "random", seed=0).to_numpy()
    return pairs, ps, part


@pytest.fixture()
def small_cfg():
    return {
        "drug_encoder": {"type": "gin", "hidden": 32, "layers": 2, "dropout": 0.0, "pool": "add+max"},
        "target_encoder": {"type": "id", "id_dim": 8},
        "head": {"hidden": [32], "dropout": 0.0, "proj": 16},
        "training": {"max_epochs": 3, "batch_mode": "random", "batch_size": 128, "threads": 1,
                     "patience": 10, "max_minutes": 5},
    }


@pytest.fixture()
def seq_pairset():
    """Pairs with sequences: 6 drugs x 5 targets."""
    import pandas as pd

    from theraflow.chem import featurize
    from theraflow.dti.data import build_pairset

    smiles = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "CCN(CC)CC", "O=C(O)c1ccccc1", "c1ccc2[nH]ccc2c1"]
    seqs = ["MKTAYIAKQR", "MSEQNNTEMTFQIQRIYTKDISFEAPNAPHVFQKDW", "MGSSHHHHHH", "MALWMRLLPLLALLALW", "MTEYKLVVVG"]
    rows = [(f"d{i}", s, f"t{j}", q, float(i + j) / 3) for i, s in enumerate(smiles) for j, q in enumerate(seqs)]
    pairs = pd.DataFrame(rows, columns=["drug_id", "smiles", "target_id", "sequence", "label"])
    res = featurize(smiles, "default")
    return pairs, build_pairset(pairs, {f"d{i}": i for i in range(6)}, res.graphs, max_len=64)


@pytest.fixture(scope="session")
def demo_model(tmp_path_factory, demo_pairset):
    """A tiny trained demo model directory (3 epochs)."""
    from theraflow.dti.train import train_model

    _, ps, part = demo_pairset
    cfg = {"name": "tiny", "drug_encoder": {"type": "gin", "hidden": 32, "layers": 2, "pool": "add+max"},
           "target_encoder": {"type": "id", "id_dim": 8}, "head": {"hidden": [32], "proj": 16},
           "training": {"max_epochs": 3, "batch_mode": "random", "batch_size": 128, "threads": 1}}
    out = tmp_path_factory.mktemp("model") / "seed0"
    train_model(ps, part, cfg, out, seed=0, progress=False)
    return out


@pytest.fixture(scope="session")
def demo_ensemble(tmp_path_factory, demo_pairset, demo_model):
    """Two seeds of the tiny demo model."""
    from theraflow.dti.train import train_model

    _, ps, part = demo_pairset
    import json

    cfg = json.loads((demo_model / "model.json").read_text())["model_config"]
    out = tmp_path_factory.mktemp("model2") / "seed1"
    train_model(ps, part, cfg, out, seed=1, progress=False)
    return [demo_model, out]
