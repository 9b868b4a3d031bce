"""DDI data: the DrugBank loader's facts, bad rows as rejects, splits that never straddle, the pair head's order."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from theraflow import ddi
from theraflow.errors import InputError


@pytest.fixture(scope="module")
def drugbank(shared_data):
    return ddi.load_drugbank_ddi(shared_data / "drugbank_ddi")


@pytest.mark.shared_data
def test_drugbank_loader_facts(drugbank, shared_data):
    pairs, rejects, types = drugbank
    raw = pd.read_csv(shared_data / "drugbank_ddi" / "ddi_pairs.tsv", sep="\t", dtype=str)
    assert len(raw) == 192_284 and len(set(raw["drug1"]) | set(raw["drug2"])) == 1_710
    assert len(pairs) + len(rejects) == 192_284  # nothing dropped silently
    assert len(rejects) == 414 and rejects["reason"].str.contains("has no SMILES").all()
    assert pairs["label"].nunique() == 86 and len(types) == 86
    two = pairs.groupby(["drug1", "drug2"])["label"].nunique()
    assert int((two > 1).sum()) == 289  # ordered pairs with two types: kept, one row per type
    key = ddi.unordered_key(pairs["drug1"], pairs["drug2"])
    orientations = pairs.assign(k=key)[["k", "drug1", "drug2"]].drop_duplicates().groupby("k").size()
    assert int((orientations > 1).sum()) == 117  # unordered pairs listed in both orders
    assert types.set_index("type").loc["49", "sentence"].startswith("The risk or severity of adverse effects")


def test_bad_rows_of_a_pair_table_are_rejects(tmp_path):
    drugs = tmp_path / "drugs.csv"
    pd.DataFrame({"id": ["A", "B", "C"], "smiles": ["CCO", "c1ccccc1O", "CCN"]}).to_csv(drugs, index=False)
    table = tmp_path / "pairs.csv"
    table.write_text("drug1,drug2,label\n"
                     "A,B,1\n"       # good                       line 2
                     "A,A,1\n"       # self-pair                  line 3
                     "A,Z,2\n"       # unknown drug id            line 4
                     "B,C,7\n"       # label outside the classes  line 5
                     "A,B,1\n"       # exact duplicate of line 2  line 6
                     "C,A,2\n")      # good                       line 7
    pairs, rejects = ddi.load_ddi_table(table, smiles1=None, smiles2=None, drugs=drugs, classes=["1", "2"])
    assert pairs[["drug1", "drug2", "label"]].values.tolist() == [["A", "B", "1"], ["C", "A", "2"]]
    why = dict(zip(rejects["line"], rejects["reason"]))
    assert why["line 3"] == "drug 'A' paired with itself"
    assert why["line 4"] == "drug 'Z' has no SMILES (not in the drug table)"
    assert why["line 5"].startswith("label '7' is not one of the declared classes (1, 2)")
    assert why["line 6"].startswith("exact duplicate of line 2")
    assert set(rejects["file"]) == {str(table)}
    with pytest.raises(InputError, match="line 3, column 'drug2': drug 'A' paired with itself"):
        ddi.load_ddi_table(table, smiles1=None, smiles2=None, drugs=drugs, classes=["1", "2"], on_error="stop")


def test_binary_table_with_smiles_columns(tmp_path):
    table = tmp_path / "p.csv"
    table.write_text("smiles1,smiles2,label\nCCO,CCN,1\nCCN,CCO,0\nCCO,CCO,1\nCCO,CCN,yes\n")
    pairs, rejects = ddi.load_ddi_table(table)
    assert len(pairs) == 2 and pairs["drug1"].tolist() == ["CCO", "CCN"]  # ids are the SMILES
    assert sorted(rejects["line"]) == ["line 4", "line 5"]


def _groups(pairs, part, key):
    return {p: set(key[part == p]) for p in ("train", "valid", "test")}


def test_no_pair_or_its_reverse_straddles_train_and_test():
    pairs, _ = ddi.demo_pairs()
    # an ordered pair with two types and a pair in both orders, as DrugBank has
    extra = pairs.iloc[:2].copy()
    extra["label"] = ["4", "4"]
    rev = pairs.iloc[[2]].rename(columns={"drug1": "drug2", "drug2": "drug1", "smiles1": "smiles2",
                                          "smiles2": "smiles1"})
    pairs = pd.concat([pairs, extra, rev], ignore_index=True)
    key = ddi.unordered_key(pairs["drug1"], pairs["drug2"]).to_numpy()
    part = ddi.split_pairs(pairs, "random", seed=1).to_numpy()
    g = _groups(pairs, part, key)
    assert not g["train"] & g["test"] and not g["train"] & g["valid"] and not g["valid"] & g["test"]
    for kind in ("one_unseen", "both_unseen"):
        part = ddi.split_pairs(pairs, kind, seed=2, test_frac=0.2).to_numpy()
        train_drugs = set(pairs.loc[part == "train", "drug1"]) | set(pairs.loc[part == "train", "drug2"])
        test = pairs[part == "test"]
        unseen = (~test["drug1"].isin(train_drugs)).astype(int) + (~test["drug2"].isin(train_drugs)).astype(int)
        assert len(test) and (unseen == (1 if kind == "one_unseen" else 2)).all(), kind
        g = _groups(pairs, part, key)
        assert not g["train"] & g["test"]


def test_swapping_the_drugs_changes_the_heads_input():
    from theraflow.nn.ddi import DDIModel

    torch.manual_seed(0)
    model = DDIModel({"drug_encoder": {"type": "morgan", "morgan": {"bits": 64, "hidden": 16}},
                      "head": {"hidden": [32], "proj": 8, "dropout": 0.0}},
                     node_dim=47, edge_dim=14, num_drugs=0, n_classes=5).eval()
    p = torch.randn(3, 8)
    a, b = torch.tensor([0, 1]), torch.tensor([1, 2])
    x_ab, x_ba = model.head.inputs(p, a, b), model.head.inputs(p, b, a)
    assert not torch.equal(x_ab, x_ba)  # [p_a, p_b, ...] is not [p_b, p_a, ...]
    assert torch.equal(x_ab[:, 16:], x_ba[:, 16:])  # only the product term is symmetric
    assert not torch.allclose(model.head.pairs(p, a, b), model.head.pairs(p, b, a))
    reference = model.head.mlp(x_ab)  # the split first layer computes the same function
    assert torch.allclose(model.head.pairs(p, a, b), reference, atol=1e-5)


def test_batch_norm_options_keep_the_split_first_layer_exact(tmp_path):
    from theraflow.configs import load_validated_yaml
    from theraflow.ddi.train import MODEL_SCHEMA
    from theraflow.nn.ddi import DDIModel

    cfg = {"name": "bn", "drug_encoder": {"type": "morgan", "morgan": {"bits": 64, "hidden": 16, "batch_norm": True}},
           "head": {"hidden": [32, 16], "proj": 8, "dropout": 0.0, "batch_norm": True}}
    torch.manual_seed(0)
    model = DDIModel(cfg, node_dim=47, edge_dim=14, num_drugs=0, n_classes=5)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert [n.num_features for n in norms] == [16, 32, 16]  # the morgan MLP's first layer, both head layers
    model.train()
    bits = (torch.rand(6, 64) < 0.2).float()
    model.encode_drugs({"morgan": bits})  # a training pass moves the running statistics
    model.eval()
    p = model.encode_drugs({"morgan": bits})
    a, b = torch.tensor([0, 1, 2]), torch.tensor([1, 2, 0])
    assert torch.allclose(model.head.pairs(p, a, b), model.head.mlp(model.head.inputs(p, a, b)), atol=1e-5)
    import yaml

    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert load_validated_yaml(path, MODEL_SCHEMA)["head"]["batch_norm"] is True
    cfg["head"]["batch_norm"] = "yes"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(Exception, match="batch_norm"):
        load_validated_yaml(path, MODEL_SCHEMA)


def test_inverse_sqrt_class_weights():
    import numpy as np

    from theraflow.ddi.train import class_weights

    labels = np.array([0] * 100 + [1] * 25 + [2] * 4)
    w = class_weights(labels, 4, "inverse_sqrt").numpy()
    assert w[0] < w[1] < w[2]
    assert np.isclose(w[1] / w[0], 2.0) and np.isclose(w[2] / w[0], 5.0)  # 1/sqrt(count)
    assert np.isclose(w[3], w[2])  # a type absent from training: the rarest present type's weight
    assert np.isclose(w[labels].mean(), 1.0)  # the loss keeps its scale over training rows
    assert class_weights(labels, 4, "none") is None
    with pytest.raises(ValueError, match="inverse_sqrt"):
        class_weights(labels, 4, "balanced")


def test_input_dropout_of_the_bits_acts_in_training_only(tmp_path):
    from theraflow.configs import load_validated_yaml
    from theraflow.ddi.train import MODEL_SCHEMA
    from theraflow.nn.interaction import FeatureMLP

    torch.manual_seed(0)
    plain, dropped = FeatureMLP(64, hidden=16, dropout=0.0), FeatureMLP(64, hidden=16, dropout=0.0, input_dropout=0.5)
    assert list(plain.state_dict()) == list(dropped.state_dict())  # same weights' names: old bundles load
    dropped.load_state_dict(plain.state_dict())
    bits = (torch.rand(8, 64) < 0.3).float()
    dropped.eval()
    assert torch.equal(dropped(bits), plain.eval()(bits))
    dropped.train()
    assert not torch.allclose(dropped(bits), plain(bits))
    import yaml

    cfg = {"name": "d", "drug_encoder": {"type": "morgan", "morgan": {"bits": 64, "input_dropout": 0.2}}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert load_validated_yaml(path, MODEL_SCHEMA)["drug_encoder"]["morgan"]["input_dropout"] == 0.2
    cfg["drug_encoder"]["morgan"]["input_dropout"] = 1.5
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(Exception, match="input_dropout"):
        load_validated_yaml(path, MODEL_SCHEMA)
