"""Atom attributions: completeness, bit-to-atom mapping, drawing, bad input, and the substructure sanity task."""

import numpy as np
import pandas as pd
import pytest


def test_morgan_atom_map_covers_the_environments():
    from rdkit import Chem

    from theraflow.explain.attributions import morgan_atom_map

    mol = Chem.MolFromSmiles("CC(=O)Nc1ccc(O)cc1")
    info = morgan_atom_map(mol, radius=2, bits=2048)
    from theraflow.descriptors import morgan_bits

    on = set(np.flatnonzero(morgan_bits(["CC(=O)Nc1ccc(O)cc1"])[0]))
    assert set(info) == on  # the same generator: the same bits
    assert all(a.min() >= 0 and a.max() < mol.GetNumAtoms() for a in info.values())
    # a radius-0 bit is one atom; some radius-2 environment covers the amide N with its neighbours
    assert min(len(a) for a in info.values()) == 1 and max(len(a) for a in info.values()) >= 5


def test_attributions_are_complete_and_shaped(demo_model, demo_pairset):
    """Integrated gradients add up: the atom weights sum to score - baseline (up to the path's error)."""
    from rdkit import Chem

    from theraflow.dti.scoring import load_ensemble, score_smiles
    from theraflow.explain import attributions_table, explain_pairs

    pairs, _, _ = demo_pairset
    mols = pairs.drop_duplicates("drug_id").head(3)
    want = pd.DataFrame({"id": mols["drug_id"], "smiles": mols["smiles"], "target_id": "CHEMBL2321810"})
    ens = load_ensemble([demo_model])
    attrs = explain_pairs(want, ens, steps=48, progress=False)
    scores, _ = score_smiles(want[["id", "smiles"]], ens, targets=pd.DataFrame({"target_id": ["CHEMBL2321810"]}))
    for a, (_, s) in zip(attrs, scores.iterrows()):
        assert len(a.atom_weights) == Chem.MolFromSmiles(a.smiles).GetNumAtoms()
        assert a.score == pytest.approx(s["score_mean"], abs=1e-4)  # the same function the screen scores with
        assert a.atom_weights.sum() == pytest.approx(a.score - a.baseline_score, abs=0.02 + 0.02 * abs(a.score))
        assert np.isfinite(a.atom_weights).all() and np.abs(a.atom_weights).sum() > 0
    table = attributions_table(attrs)
    assert list(table["id"]) == list(want["id"]) and "completeness_gap" in table


def test_ensemble_average_and_morgan_branch(tmp_path, demo_pairset):
    """A gin+morgan+id model: both atom-level branches carry mass, and an ensemble averages its models."""
    from theraflow.dti.train import train_model
    from theraflow.explain import explain_pairs

    pairs, ps, part = demo_pairset
    cfg = {"name": "tiny-hybrid", "drug_encoder": {"type": "gin+morgan+id", "hidden": 16, "layers": 2,
                                                   "morgan": {"radius": 2, "bits": 256, "hidden": 16}},
           "target_encoder": {"type": "id", "id_dim": 8}, "head": {"hidden": [16], "proj": 8},
           "training": {"max_epochs": 1, "batch_mode": "random", "batch_size": 256, "threads": 1}}
    dirs = []
    for seed in (0, 1):
        train_model(ps, part, cfg, tmp_path / f"seed{seed}", seed=seed, progress=False)
        dirs.append(tmp_path / f"seed{seed}")
    one = pairs.drop_duplicates("drug_id").head(1)
    want = pd.DataFrame({"id": one["drug_id"], "smiles": one["smiles"], "target_id": "MET"})
    (a,) = explain_pairs(want, dirs, steps=16, progress=False)
    assert set(a.branches) == {"graph", "morgan"}
    assert a.per_model.shape[0] == 2
    assert np.allclose(a.atom_weights, a.per_model.mean(0))


def test_bad_input_names_the_record(demo_model):
    from theraflow.errors import InputError
    from theraflow.explain import attribution_png, explain_pairs

    with pytest.raises(InputError, match="target_id"):
        explain_pairs(pd.DataFrame({"id": ["a"], "smiles": ["CCO"]}), [demo_model])
    with pytest.raises(InputError, match="NOPE"):
        explain_pairs(pd.DataFrame({"id": ["a"], "smiles": ["CCO"], "target_id": ["NOPE"]}), [demo_model])
    with pytest.raises(InputError, match="'bad-1'"):
        explain_pairs(pd.DataFrame({"id": ["bad-1"], "smiles": ["C1CC"], "target_id": ["MET"]}), [demo_model])
    with pytest.raises(InputError, match="3 atoms but 2 weights"):
        attribution_png("CCO", [0.1, 0.2])


def test_attribution_png_draws():
    from theraflow.explain import attribution_png

    png = attribution_png("O=[N+]([O-])c1ccccc1", [1, 0.5, 0.5, 0, 0, 0, 0, 0, 0])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000


@pytest.mark.slow
def test_substructure_task_puts_attribution_on_the_nitro_group(tmp_path):
    """Issue 13's sanity check: a model trained to detect nitro groups on RDKit's NCI sample puts its
    attribution on the nitro atoms for at least 80 % of the positive test molecules."""
    from theraflow.chem import featurize
    from theraflow.dti.data import build_pairset
    from theraflow.dti.train import train_model
    from theraflow.explain import explain_pairs, nci_smiles, substructure_overlap, substructure_pairs
    from theraflow.pairs.splits import make_split

    pairs = substructure_pairs(nci_smiles(), "nitro", seed=0)
    assert pairs["label"].sum() >= 100
    res = featurize(pairs["smiles"].tolist(), "default")
    assert not res.errors
    ps = build_pairset(pairs, {d: i for i, d in enumerate(pairs["drug_id"])}, res.graphs)
    part = make_split(pairs, "random", seed=0).to_numpy()
    cfg = {"name": "nitro", "drug_encoder": {"type": "gin", "hidden": 64, "layers": 3, "dropout": 0.0,
                                             "pool": "add+max"},
           "target_encoder": {"type": "id", "id_dim": 4}, "head": {"hidden": [64], "dropout": 0.0, "proj": 32},
           "training": {"max_epochs": 30, "batch_mode": "random", "batch_size": 64, "threads": 2,
                        "patience": 30, "max_minutes": 3, "lr": 2e-3}}
    train_model(ps, part, cfg, tmp_path / "m", seed=0, progress=False)
    test = pairs[(part == "test") & (pairs["label"] == 1)]
    assert len(test) >= 20
    attrs = explain_pairs(test.rename(columns={"drug_id": "id"}), [tmp_path / "m"], progress=False)
    result = substructure_overlap(attrs, "nitro")
    print(result)
    assert result["overlap"] >= 0.8, result


def test_a_steep_score_is_integrated_until_the_weights_add_up(monkeypatch):
    """A score that jumps along the path (a sigmoid of slope 50) leaves a large gap at 4 points; the
    integration is refined until the weights add up to score - baseline within the tolerance."""
    from types import SimpleNamespace

    import torch

    from theraflow.explain import attributions as at

    encoder = SimpleNamespace(graph=None, morgan=object())  # a Morgan-only drug encoder

    def score(drugs, b):
        return torch.sigmoid(50 * (drugs["morgan"].mean(-1) - 0.37))

    bits = torch.ones(16)
    _, attr, value, base, gap = at.integrated_gradients(encoder, score, None, bits, 4)
    assert value - base > 0.9
    assert gap <= at.GAP_TOLERANCE
    assert attr.sum() == pytest.approx(value - base, abs=at.GAP_TOLERANCE)
    monkeypatch.setattr(at, "MAX_STEPS", 4)  # no refinement: the same 4 points miss by far
    _, attr, value, base, gap = at.integrated_gradients(encoder, score, None, bits, 4)
    assert gap > 0.1 and abs(attr.sum() - (value - base)) > 0.1
