"""Splits over a task's roles: cold splits keep entities (by structure or sequence) apart, setting1 carves validation
from the train folds, ``given`` keeps the given parts, tasks of two molecules keep unordered pairs together; saved
splits are checked against their pair table; kinds a task cannot use are refused with the reason."""

import numpy as np
import pandas as pd
import pytest

from theraflow.errors import InputError
from theraflow.pairs.splits import audit_split, load_split, make_split, save_split
from theraflow.registry import TASKS

DTI, DDI = TASKS.get("dti"), TASKS.get("ddi")


@pytest.fixture(scope="module")
def pairs():
    rng = np.random.default_rng(0)
    drugs = ["CCO", "CCN", "c1ccccc1O", "c1ccccc1N", "CC(=O)O", "C1CCCCC1O", "c1ccncc1", "CCCCCC", "OCCO", "NCCN"]
    targets = {f"T{i}": ("MKV" * (i + 5)) for i in range(12)}
    targets["T11"] = targets["T3"]  # two ids, one sequence
    rows = [(f"D{i}", s, t, seq, float(rng.normal())) for i, s in enumerate(drugs) for t, seq in targets.items()]
    df = pd.DataFrame(rows, columns=["drug_id", "smiles", "target_id", "sequence", "label"])
    df["pair_id"] = np.arange(len(df))
    df["pair_index"] = np.arange(len(df))
    return df


@pytest.fixture(scope="module")
def ddi_pairs():
    """The drug–drug demo pairs, plus an ordered pair with a second type and a pair listed in both orders
    (as DrugBank has)."""
    from theraflow.pairs.sources.demo import demo_pairs

    pairs, _ = demo_pairs(n_drugs=80, n_pairs=600, seed=1)
    extra = pairs.iloc[:2].copy()
    extra["label"] = ["4", "4"]
    rev = pairs.iloc[[2]].rename(columns={"drug1": "drug2", "drug2": "drug1", "smiles1": "smiles2",
                                          "smiles2": "smiles1"})
    pairs = pd.concat([pairs, extra, rev], ignore_index=True)
    pairs["pair_id"] = np.arange(len(pairs))
    return pairs


def _groups(pairs, part, key):
    return {p: set(pairs.loc[np.asarray(part) == p, key]) for p in ("train", "valid", "test")}


def test_cold_splits_do_not_share_entities(pairs):
    g = _groups(pairs, make_split(pairs, "cold_drug", DTI, seed=1, test_frac=0.2), "smiles")
    assert not g["train"] & g["test"] and not g["train"] & g["valid"]
    part = make_split(pairs, "cold_target", DTI, seed=1, test_frac=0.2)
    g = _groups(pairs, part, "sequence")
    assert not g["train"] & g["test"]
    # identical sequences stay together even under different ids
    assert len(set(part[pairs["target_id"].isin(["T3", "T11"])])) == 1
    part = make_split(pairs, "cold_both", DTI, seed=2, test_frac=0.3, valid_frac=0.2)
    for key in ("smiles", "sequence"):
        g = _groups(pairs, part, key)
        assert not g["train"] & g["test"]
    assert (part == "unused").any()


def test_setting1_validation_comes_from_train_folds(pairs):
    idx = pairs["pair_index"].to_numpy()
    folds = ([list(idx[i::6]) for i in range(5)], list(idx[5::6]))
    part = make_split(pairs, "setting1", DTI, folds=folds, valid_frac=0.2, seed=0)
    assert set(np.nonzero(part.to_numpy() == "test")[0]) == set(folds[1])
    assert not set(np.nonzero(part.to_numpy() == "valid")[0]) & set(folds[1])
    by_fold = make_split(pairs, "setting1", DTI, folds=folds, valid_fold=2)
    assert set(np.nonzero(by_fold.to_numpy() == "valid")[0]) == set(folds[0][2])


def test_scaffold_split(pairs):
    part = make_split(pairs, "scaffold", DTI, test_frac=0.2, valid_frac=0.1)
    audit = audit_split(pairs, part, DTI)
    assert audit["scaffolds"]["shared"]["train&test"] == 0


def test_audit_reports_leakage(pairs):
    audit = audit_split(pairs, make_split(pairs, "random", DTI, seed=0), DTI)
    assert audit["drugs"]["shared"]["train&test"] > 0
    assert audit["nn_tanimoto_test_to_train"]["median"] == pytest.approx(1.0)
    cold = audit_split(pairs, make_split(pairs, "cold_drug", DTI, seed=0, test_frac=0.2), DTI)
    assert cold["nn_tanimoto_test_to_train"]["max"] < 1.0
    assert cold["nn_tanimoto_test_to_train"]["histogram"]["counts"]
    assert cold["drugs"]["shared"]["train&test"] == 0 and cold["drug_structures"]["shared"]["train&test"] == 0


def test_save_and_load_check_the_pair_table(tmp_path, pairs):
    part = make_split(pairs, "random", DTI, seed=3)
    manifest = save_split(pairs, part, tmp_path, "r", kind="random", params={"seed": 3}, task=DTI)
    assert manifest["counts"]["test"] == (part == "test").sum()
    assert (tmp_path / "r.audit.json").exists()
    assert load_split(tmp_path / "r.parquet", pairs).equals(part)
    changed = pairs.assign(label=pairs["label"] + 1)
    with pytest.raises(InputError, match="different pair table"):
        load_split(tmp_path / "r.parquet", changed)


def test_unknown_kind_and_kinds_a_task_cannot_use(pairs, ddi_pairs):
    with pytest.raises(Exception, match="temporal"):
        make_split(pairs, "temporal", DTI)
    with pytest.raises(ValueError, match="setting1 needs DeepDTA fold files, and this data set has none"):
        make_split(pairs, "setting1", DTI)
    with pytest.raises(ValueError, match="needs DeepDTA folds and a pair table with pair_index"):
        make_split(pairs.drop(columns="pair_index"), "setting1", DTI, folds=([[0]], [1]))
    with pytest.raises(ValueError, match="cold_target splits tasks that join two kinds of entity; ddi joins two "
                                         "molecules"):
        make_split(ddi_pairs, "cold_target", DDI)
    with pytest.raises(ValueError, match="one_unseen splits tasks of two entities of one kind"):
        make_split(pairs, "one_unseen", DTI)
    with pytest.raises(ValueError, match=r"given uses the parts a data set came with \(parts: or split_column:\)"):
        make_split(pairs, "given", DTI)
    with pytest.raises(ValueError, match="too small"):
        make_split(pairs.head(3), "random", DTI, test_frac=0.1, valid_frac=0.1)


def test_no_pair_or_its_reverse_straddles_parts(ddi_pairs):
    """Tasks of two molecules: both orders and every label of one unordered pair go to one part; the
    unseen-drug kinds hold drugs out in either role."""
    from theraflow.pairs.tables import unordered_key

    pairs = ddi_pairs
    key = unordered_key(pairs["drug1"], pairs["drug2"])
    part = make_split(pairs, "random", DDI, seed=1).to_numpy()
    g = _groups(pairs.assign(key=key), part, "key")
    assert not g["train"] & g["test"] and not g["train"] & g["valid"] and not g["valid"] & g["test"]
    assert len(set(part[key == key.iat[2]])) == 1 and (key == key.iat[2]).sum() == 2  # both orders together
    for kind in ("one_unseen", "both_unseen"):
        part = make_split(pairs, kind, DDI, seed=2, test_frac=0.2).to_numpy()
        train_drugs = set(pairs.loc[part == "train", "drug1"]) | set(pairs.loc[part == "train", "drug2"])
        test = pairs[part == "test"]
        unseen = (~test["drug1"].isin(train_drugs)).astype(int) + (~test["drug2"].isin(train_drugs)).astype(int)
        assert len(test) and (unseen == (1 if kind == "one_unseen" else 2)).all(), kind
        g = _groups(pairs.assign(key=key), part, "key")
        assert not g["train"] & g["test"]
    audit = audit_split(pairs, make_split(pairs, "random", DDI, seed=1), DDI)
    assert audit["groups"]["shared"] == {"train&valid": 0, "train&test": 0, "valid&test": 0}


def test_given_parts_are_kept_and_validation_is_carved_from_train(ddi_pairs):
    pairs = ddi_pairs.assign(given_part=np.where(np.arange(len(ddi_pairs)) % 5 == 0, "test", "train"))
    part = make_split(pairs, "given", DDI, seed=0, valid_frac=0.2)
    assert (part[pairs["given_part"] == "test"] == "test").all()  # the test part is exactly the given one
    assert set(part[pairs["given_part"] == "train"]) == {"train", "valid"}
    from theraflow.pairs.tables import unordered_key

    key = unordered_key(pairs["drug1"], pairs["drug2"])
    train_keys = set(key[part == "train"])
    assert not train_keys & set(key[part == "valid"])  # carved as whole unordered pairs
    n_valid = (part == "valid").sum() / (pairs["given_part"] == "train").sum()
    assert 0.15 < n_valid < 0.25
    given_valid = pairs.assign(given_part=np.array(["train", "valid", "test"])[np.arange(len(pairs)) % 3])
    assert make_split(given_valid, "given", DDI).tolist() == given_valid["given_part"].tolist()
