"""Pair-table loaders; Davis facts; the restricted unpickler."""

import pickle

import numpy as np
import pandas as pd
import pytest

from theraflow.chem.datasets import load_deepdta, load_deepdta_folds, load_numpy_pickle, load_pair_table
from theraflow.errors import InputError


@pytest.mark.shared_data
def test_davis_facts(shared_data):
    pairs = load_deepdta(shared_data / "davis")
    assert len(pairs) == 30056
    assert pairs["drug_id"].nunique() == 68 and pairs["target_id"].nunique() == 442
    assert pairs["sequence"].nunique() == 379
    assert pairs["label"].min() == pytest.approx(5.0)
    assert pairs["label"].max() == pytest.approx(10.80, abs=0.01)
    assert pairs["label"].mean() == pytest.approx(5.45, abs=0.01)
    train, test = load_deepdta_folds(shared_data / "davis")
    assert [len(f) for f in train] == [5010, 5009, 5009, 5009, 5009]
    assert sum(map(len, train)) == 25046 and len(test) == 5010
    assert not set(test) & {i for f in train for i in f}
    assert set(test) | {i for f in train for i in f} == set(pairs["pair_index"])


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > /tmp/theraflow-pwned",))


def test_restricted_unpickler_refuses_code(tmp_path):
    bad = tmp_path / "Y"
    bad.write_bytes(pickle.dumps(_Evil(), protocol=2))
    with pytest.raises(InputError, match=r"refusing to unpickle (posix|os)\.system"):
        load_numpy_pickle(bad)
    import os

    assert not os.path.exists("/tmp/theraflow-pwned")


def test_restricted_unpickler_accepts_arrays_only(tmp_path):
    good = tmp_path / "ok"
    arr = np.array([[1.0, np.nan], [3.0, 4.0]])
    good.write_bytes(pickle.dumps(arr, protocol=2))
    assert np.array_equal(load_numpy_pickle(good), arr, equal_nan=True)
    obj = tmp_path / "obj"
    obj.write_bytes(pickle.dumps(np.array(["a", None], dtype=object), protocol=2))
    with pytest.raises(InputError):
        load_numpy_pickle(obj)
    (tmp_path / "junk").write_bytes(b"not a pickle")
    with pytest.raises(InputError, match="not a readable pickled numpy array"):
        load_numpy_pickle(tmp_path / "junk")


def test_pair_table(tmp_path):
    p = tmp_path / "pairs.csv"
    pd.DataFrame({"cid": ["a", "b"], "smi": ["CCO", "CCN"], "prot": ["T1", "T1"], "pkd": [5.0, 6.5]}).to_csv(p, index=False)
    pairs = load_pair_table(p, drug_id="cid", smiles="smi", target_id="prot", sequence=None, label="pkd")
    assert list(pairs.columns) == ["drug_id", "smiles", "target_id", "sequence", "label"]
    assert pairs["sequence"].tolist() == ["", ""]
    with pytest.raises(InputError, match="missing column"):
        load_pair_table(p)
    q = tmp_path / "bad.csv"
    pd.DataFrame({"drug_id": ["a", "b"], "smiles": ["C", "C"], "target_id": ["t", "t"],
                  "label": ["5", "strong"]}).to_csv(q, index=False)
    with pytest.raises(InputError, match="data rows 3"):
        load_pair_table(q)
