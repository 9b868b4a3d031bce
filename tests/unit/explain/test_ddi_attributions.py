"""Drug–drug attributions: two maps per ordered pair, complete, and on the groups the demo's rules name."""

import numpy as np
import pandas as pd
import pytest
import yaml


@pytest.fixture(scope="module")
def ddi_demo_model(tmp_path_factory, repo):
    """The demo DDI recipe trained briefly on the offline demo set (4 rule-based types)."""
    from theraflow import ddi
    from theraflow.chem import featurize
    from theraflow.ddi.data import build_ddiset

    pairs, _ = ddi.demo_pairs()
    drugs = pd.concat([pairs[["drug1", "smiles1"]].set_axis(["id", "smiles"], axis=1),
                       pairs[["drug2", "smiles2"]].set_axis(["id", "smiles"], axis=1)]).drop_duplicates("id")
    res = featurize(drugs["smiles"].tolist(), "default")
    assert not res.errors
    ds = build_ddiset(pairs, {d: i for i, d in enumerate(drugs["id"])}, res.graphs,
                      classes=sorted(pairs["label"].astype(str).unique()))
    part = ddi.split_pairs(pairs, "random", seed=0).to_numpy()
    cfg = yaml.safe_load((repo / "models" / "ddi_demo" / "config.yaml").read_text())
    cfg["training"].update(max_epochs=25, max_minutes=1.5, threads=2)
    out = tmp_path_factory.mktemp("ddi") / "seed0"
    ddi.train_ddi(ds, part, cfg, out, seed=0, progress=False)
    return out, pairs, part


def test_two_maps_per_pair_that_add_up(ddi_demo_model):
    from rdkit import Chem

    from theraflow.explain.ddi import ddi_attributions_table, explain_ddi_pairs, pair_png

    out, pairs, part = ddi_demo_model
    test = pairs[part == "test"].head(4).rename(columns={"drug1": "drug1_id", "drug2": "drug2_id", "label": "type"})
    attrs = explain_ddi_pairs(test, [out], steps=48)
    for a in attrs:
        assert len(a.weights1) == Chem.MolFromSmiles(a.smiles1).GetNumAtoms()
        assert len(a.weights2) == Chem.MolFromSmiles(a.smiles2).GetNumAtoms()
        assert 0 <= a.probability <= 1
        # integrated gradients are complete: each drug's weights add up to p - p(that drug's inputs zeroed)
        assert a.weights1.sum() == pytest.approx(a.probability - a.baseline1, abs=0.03)
        assert a.weights2.sum() == pytest.approx(a.probability - a.baseline2, abs=0.03)
    one, two = pair_png(attrs[0])
    assert one[:4] == two[:4] == b"\x89PNG"
    assert len(ddi_attributions_table(attrs)) == len(attrs)


def test_type_1_is_attributed_to_the_acid_of_drug_1(ddi_demo_model):
    """Demo rule 1 is 'a carboxylic acid in drug 1 with an amine in drug 2': on correctly predicted type-1 test
    pairs, drug 1's acid atoms carry more attribution per atom than its other atoms in most pairs."""
    from rdkit import Chem

    from theraflow.explain.ddi import explain_ddi_pairs

    out, pairs, part = ddi_demo_model
    test = pairs[(part == "test") & (pairs["label"].astype(str) == "1")].head(12)
    test = test.rename(columns={"drug1": "drug1_id", "drug2": "drug2_id", "label": "type"})
    attrs = [a for a in explain_ddi_pairs(test, [out], steps=24) if a.probability > 0.5]
    assert len(attrs) >= 5, "the model should predict most type-1 test pairs"
    acid = Chem.MolFromSmarts("[CX3](=O)[OX2H1]")
    hits = []
    for a in attrs:
        on = {i for m in Chem.MolFromSmiles(a.smiles1).GetSubstructMatches(acid) for i in m}
        off = [i for i in range(len(a.weights1)) if i not in on]
        hits.append(np.mean(a.weights1[list(on)]) > (np.mean(a.weights1[off]) if off else -np.inf))
    assert np.mean(hits) >= 0.6, hits


def test_bad_input(ddi_demo_model):
    from theraflow.errors import InputError
    from theraflow.explain.ddi import explain_ddi_pairs

    out, _, _ = ddi_demo_model
    row = {"drug1_id": "a", "smiles1": "CC(=O)O", "drug2_id": "b", "smiles2": "CCN", "type": "99"}
    with pytest.raises(InputError, match="'99'"):
        explain_ddi_pairs(pd.DataFrame([row]), [out])
    with pytest.raises(InputError, match="type"):
        explain_ddi_pairs(pd.DataFrame([row]).drop(columns="type"), [out])
