import numpy as np
import pandas as pd
import pytest

from theraflow.errors import InputError
from theraflow.pairs.splits import audit_split, load_split, make_split, save_split


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


def _groups(pairs, part, key):
    return {p: set(pairs.loc[part == p, key]) for p in ("train", "valid", "test")}


def test_cold_splits_do_not_share_entities(pairs):
    g = _groups(pairs, make_split(pairs, "cold_drug", seed=1, test_frac=0.2), "smiles")
    assert not g["train"] & g["test"] and not g["train"] & g["valid"]
    part = make_split(pairs, "cold_target", seed=1, test_frac=0.2)
    g = _groups(pairs, part, "sequence")
    assert not g["train"] & g["test"]
    # identical sequences stay together even under different ids
    assert len(set(part[pairs["target_id"].isin(["T3", "T11"])])) == 1
    part = make_split(pairs, "cold_both", seed=2, test_frac=0.3, valid_frac=0.2)
    for key in ("smiles", "sequence"):
        g = _groups(pairs, part, key)
        assert not g["train"] & g["test"]
    assert (part == "unused").any()


def test_setting1_validation_comes_from_train_folds(pairs):
    idx = pairs["pair_index"].to_numpy()
    folds = ([list(idx[i::6]) for i in range(5)], list(idx[5::6]))
    part = make_split(pairs, "setting1", folds=folds, valid_frac=0.2, seed=0)
    assert set(np.nonzero(part.to_numpy() == "test")[0]) == set(folds[1])
    assert not set(np.nonzero(part.to_numpy() == "valid")[0]) & set(folds[1])
    by_fold = make_split(pairs, "setting1", folds=folds, valid_fold=2)
    assert set(np.nonzero(by_fold.to_numpy() == "valid")[0]) == set(folds[0][2])


def test_scaffold_split(pairs):
    part = make_split(pairs, "scaffold", test_frac=0.2, valid_frac=0.1)
    audit = audit_split(pairs, part)
    assert audit["scaffolds"]["shared"]["train&test"] == 0


def test_audit_reports_leakage(pairs):
    audit = audit_split(pairs, make_split(pairs, "random", seed=0))
    assert audit["drugs"]["shared"]["train&test"] > 0
    assert audit["nn_tanimoto_test_to_train"]["median"] == pytest.approx(1.0)
    cold = audit_split(pairs, make_split(pairs, "cold_drug", seed=0, test_frac=0.2))
    assert cold["nn_tanimoto_test_to_train"]["max"] < 1.0
    assert cold["nn_tanimoto_test_to_train"]["histogram"]["counts"]


def test_save_and_load_check_the_pair_table(tmp_path, pairs):
    part = make_split(pairs, "random", seed=3)
    manifest = save_split(pairs, part, tmp_path, "r", kind="random", params={"seed": 3})
    assert manifest["counts"]["test"] == (part == "test").sum()
    assert (tmp_path / "r.audit.json").exists()
    assert load_split(tmp_path / "r.parquet", pairs).equals(part)
    changed = pairs.assign(label=pairs["label"] + 1)
    with pytest.raises(InputError, match="different pair table"):
        load_split(tmp_path / "r.parquet", changed)


def test_unknown_kind_and_too_small(pairs):
    with pytest.raises(ValueError, match="unknown split kind"):
        make_split(pairs, "temporal")
    with pytest.raises(ValueError, match="needs DeepDTA folds"):
        make_split(pairs.drop(columns="pair_index"), "setting1")
