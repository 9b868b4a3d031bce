"""Atom attributions for any pair task: completeness (the weights add up to the score minus its all-zero baseline),
the bit-to-atom mapping, ensembles and branches, drawings, bad input, the known-answer substructure tasks (a nitro
detector; the drug–drug demo's acid with amine rule), and drug–drug pairs' two maps."""

import numpy as np
import pandas as pd
import pytest


def test_morgan_atom_map_covers_the_environments():
    from rdkit import Chem

    from theraflow.descriptors import morgan_bits
    from theraflow.explain.attributions import morgan_atom_map

    mol = Chem.MolFromSmiles("CC(=O)Nc1ccc(O)cc1")
    info = morgan_atom_map(mol, radius=2, bits=2048)
    on = set(np.flatnonzero(morgan_bits(["CC(=O)Nc1ccc(O)cc1"])[0]))
    assert set(info) == on  # the same generator: the same bits
    assert all(a.min() >= 0 and a.max() < mol.GetNumAtoms() for a in info.values())
    # a radius-0 bit is one atom; some radius-2 environment covers the amide N with its neighbours
    assert min(len(a) for a in info.values()) == 1 and max(len(a) for a in info.values()) >= 5


def test_attributions_are_complete_and_shaped(demo_model, dti_demo):
    """Integrated gradients add up: the atom weights sum to score - baseline (up to the path's error), and the
    score is the one the screen gives."""
    from rdkit import Chem

    from theraflow.explain import attributions_table, explain_pairs
    from theraflow.pairs.scoring import load_ensemble, score_pairs

    mols = pd.read_parquet(dti_demo.molecules).head(3)  # standardized: what scoring reads too
    want = pd.DataFrame({"id": mols["id"], "smiles": mols["smiles"], "target_id": "CHEMBL2321810"})
    ens = load_ensemble([demo_model])
    attrs = explain_pairs(want, ens, steps=48, progress=False)
    scores, _ = score_pairs(want[["id", "smiles"]], ens)
    scores = scores[scores["partner"] == "CHEMBL2321810"].set_index("molecule")
    for a in attrs:
        assert len(a.atom_weights) == Chem.MolFromSmiles(a.smiles).GetNumAtoms()
        assert a.score == pytest.approx(scores.loc[a.id, "score"], abs=1e-4)  # the function the screen scores with
        assert a.atom_weights.sum() == pytest.approx(a.score - a.baseline_score, abs=0.02 + 0.02 * abs(a.score))
        assert a.delta <= 0.011 and np.isfinite(a.atom_weights).all() and np.abs(a.atom_weights).sum() > 0
        assert a.partner_weights is None and a.cls == ""
    table = attributions_table(attrs)
    assert list(table["id"]) == list(want["id"]) and "completeness_gap" in table and "partner_weights" not in table


def test_ensemble_average_and_morgan_branch(tmp_path, demo_data):
    """A gin+morgan+id model: both atom-level branches carry mass, and an ensemble averages its models."""
    from theraflow.explain import explain_pairs
    from theraflow.pairs.train import train_model

    _, pairs, data, part = demo_data
    cfg = {"name": "tiny-hybrid", "drug_encoder": {"type": "gin+morgan+id", "hidden": 16, "layers": 2,
                                                   "morgan": {"radius": 2, "bits": 256, "hidden": 16}},
           "target_encoder": {"type": "id", "id": {"dim": 8}}, "head": {"hidden": [16], "proj": 8},
           "training": {"max_epochs": 1, "batch_mode": "random", "batch_size": 256, "threads": 1}}
    dirs = []
    for seed in (0, 1):
        train_model(data, part, cfg, tmp_path / f"seed{seed}", seed=seed, progress=False)
        dirs.append(tmp_path / f"seed{seed}")
    one = pairs.drop_duplicates("drug_id").head(1)
    want = pd.DataFrame({"id": one["drug_id"], "smiles": one["smiles"], "target_id": "MET"})
    (a,) = explain_pairs(want, dirs, steps=16, progress=False)
    assert set(a.branches) == {"graph", "morgan"}
    assert a.per_model.shape[0] == 2
    assert np.allclose(a.atom_weights, a.per_model.mean(0))


def test_bad_input_names_the_record(demo_model, ddi_demo_model):
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
    row = {"id": "a", "smiles": "CC(=O)O", "target_id": "b", "class": "99"}
    with pytest.raises(InputError, match="class '99' is not one of the models' classes"):
        explain_pairs(pd.DataFrame([row]), [ddi_demo_model], targets=pd.DataFrame({"target_id": ["b"],
                                                                                   "smiles": ["CCN"]}))


def test_attribution_png_draws():
    from theraflow.explain import attribution_png

    png = attribution_png("O=[N+]([O-])c1ccccc1", [1, 0.5, 0.5, 0, 0, 0, 0, 0, 0])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000


def test_substructure_task_puts_attribution_on_the_nitro_group(tmp_path):
    """Issue 13's sanity check: a binary model trained to detect nitro groups on RDKit's NCI sample puts its
    attribution on the nitro atoms for at least 80 % of the positive test molecules."""
    from theraflow.explain import explain_pairs, nci_smiles, substructure_overlap, substructure_pairs
    from theraflow.pairs.data import build_pair_data
    from theraflow.pairs.splits import make_split
    from theraflow.pairs.task import task_spec
    from theraflow.pairs.train import train_model

    from ..pairs.helpers import molecules_of

    pairs = substructure_pairs(nci_smiles(), "nitro", seed=0)
    assert pairs["label"].sum() >= 100
    pairs["label"] = pairs["label"].astype(int).astype(str)
    spec = task_spec("dti", "binary")
    data = build_pair_data(spec, pairs, molecules_of(pairs["drug_id"], pairs["smiles"]))
    part = make_split(pairs, "random", spec.task, seed=0).to_numpy()
    cfg = {"name": "nitro", "drug_encoder": {"type": "gin", "hidden": 64, "layers": 3, "dropout": 0.0,
                                             "pool": "add+max"},
           "target_encoder": {"type": "id", "id": {"dim": 4}}, "head": {"hidden": [64], "dropout": 0.0, "proj": 32},
           "training": {"max_epochs": 10, "batch_mode": "random", "batch_size": 64, "threads": 1,
                        "patience": 30, "max_minutes": 3, "lr": 2e-3}}
    train_model(data, part, cfg, tmp_path / "m", seed=0, progress=False)
    test = pairs[(part == "test") & (pairs["label"] == "1")]
    assert len(test) >= 20
    attrs = explain_pairs(test.rename(columns={"drug_id": "id"}), [tmp_path / "m"], progress=False)
    assert all(0 <= a.score <= 1 for a in attrs)  # a probability of label 1
    result = substructure_overlap(attrs, "nitro")
    assert result["overlap"] >= 0.8, result


def test_a_steep_score_is_integrated_until_the_weights_add_up(monkeypatch):
    """A score that jumps along the path (a sigmoid of slope 50) leaves a large gap at 4 points; the
    integration is refined until the weights add up to score - baseline within the tolerance."""
    from types import SimpleNamespace

    import torch

    from theraflow.explain import attributions as at

    encoder = SimpleNamespace(graph=None, morgan=object())  # a Morgan-only molecule encoder

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


# ------------------------------------------------------------------ drug–drug pairs: two maps
def _ddi_pairs(ddi_demo, which: str, n: int, label: str | None = None):
    """Test pairs of the drug–drug demo as explain_pairs takes them (the second drug is the partner)."""
    from theraflow.pairs.splits import pairs_with_parts

    pairs = pairs_with_parts(ddi_demo.pairs, ddi_demo.split)
    pairs = pairs[pairs["part"] == which]
    if label is not None:
        pairs = pairs[pairs["label"] == label]
    pairs = pairs.head(n)
    want = pd.DataFrame({"id": pairs["drug1"], "smiles": pairs["smiles1"], "target_id": pairs["drug2"],
                         "class": pairs["label"]})
    partners = pairs[["drug2", "smiles2"]].drop_duplicates("drug2").rename(columns={"drug2": "target_id",
                                                                                     "smiles2": "smiles"})
    return want, partners


def test_two_maps_per_drug_drug_pair_that_add_up(ddi_demo_model, ddi_demo, tmp_path):
    """Each drug's weights add up to p - p(that drug's inputs zeroed, the other held fixed)."""
    from rdkit import Chem

    from theraflow.explain import attribution_png, attributions_table, explain_pairs
    from theraflow.explain.attributions import explain_stage

    want, partners = _ddi_pairs(ddi_demo, "test", 4)
    attrs = explain_pairs(want, [ddi_demo_model], steps=48, targets=partners, progress=False)
    for a, (_, w) in zip(attrs, want.iterrows()):
        assert a.cls == w["class"] and 0 <= a.score <= 1  # the probability of the pair's own class
        assert len(a.atom_weights) == Chem.MolFromSmiles(a.smiles).GetNumAtoms()
        assert len(a.partner_weights) == Chem.MolFromSmiles(a.partner_smiles).GetNumAtoms()
        assert a.atom_weights.sum() == pytest.approx(a.score - a.baseline_score, abs=0.03)
        assert a.partner_weights.sum() == pytest.approx(a.score - a.partner_baseline, abs=0.03)
        assert a.baseline_score != a.partner_baseline  # two baselines: one drug zeroed at a time
    assert attribution_png(attrs[0].partner_smiles, attrs[0].partner_weights)[:4] == b"\x89PNG"
    table = attributions_table(attrs)
    assert len(table) == len(attrs) and {"partner_weights", "partner_baseline_score", "class"} <= set(table)
    # the stage: one table, and one drawing per drug of each pair
    src = tmp_path / "pairs.tsv"
    want.head(2).to_csv(src, sep="\t", index=False)
    partners_file = tmp_path / "panel.csv"
    partners.rename(columns={"target_id": "id"}).to_csv(partners_file, index=False)
    out = explain_stage(src, [ddi_demo_model], tmp_path / "explain", steps=16, targets=partners_file, progress=False)
    assert out["pairs"] == 2 and len(list((tmp_path / "explain" / "png").glob("*__partner.png"))) == 2


def test_type_1_is_attributed_to_the_acid_of_drug_1_and_the_amine_of_drug_2(ddi_demo_model, ddi_demo):
    """Demo rule 1 is 'a carboxylic acid in drug 1 with an amine in drug 2': on correctly predicted type-1 test
    pairs, drug 1's acid atoms carry more attribution per atom than its other atoms in most pairs, and drug 2's
    amine nitrogen more than its other atoms."""
    from rdkit import Chem

    from theraflow.explain import explain_pairs
    from theraflow.pairs.sources.demo import RULES

    want, partners = _ddi_pairs(ddi_demo, "test", 12, label="1")
    attrs = [a for a in explain_pairs(want, [ddi_demo_model], steps=24, targets=partners, progress=False)
             if a.score > 0.5]
    assert len(attrs) >= 5, "the model should predict most type-1 test pairs"
    acid, amine = (Chem.MolFromSmarts(s) for s in RULES[0][1:3])

    def hit(smiles, weights, pattern):
        on = {i for m in Chem.MolFromSmiles(smiles).GetSubstructMatches(pattern) for i in m}
        off = [i for i in range(len(weights)) if i not in on]
        return np.mean(weights[list(on)]) > (np.mean(weights[off]) if off else -np.inf)

    first = [hit(a.smiles, a.atom_weights, acid) for a in attrs]
    second = [hit(a.partner_smiles, a.partner_weights, amine) for a in attrs]
    assert np.mean(first) >= 0.6, first
    assert np.mean(second) >= 0.6, second
