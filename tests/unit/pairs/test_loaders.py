"""Readers of published layouts: DeepDTA (Davis facts, folds, the source) and the restricted unpickler of its matrix.

Users' own tables are read by the table source (test_sources.py)."""

import pickle

import numpy as np
import pandas as pd
import pytest

from theraflow.errors import InputError
from theraflow.pairs.loaders import load_deepdta, load_deepdta_folds, load_numpy_pickle


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


def _deepdta(d, y, folds=True):
    """A tiny DeepDTA-format folder: 3 ligands, 2 proteins, the Kd matrix Y (a pickle) and setting-1 folds."""
    import json

    d.mkdir()
    (d / "ligands_can.txt").write_text(json.dumps({"L1": "CCO", "L2": "CCN", "L3": "c1ccccc1O"}))
    (d / "proteins.txt").write_text(json.dumps({"P1": "MKVLAT", "P2": "MSEQNN"}))
    (d / "Y").write_bytes(pickle.dumps(np.asarray(y, dtype=float), protocol=2))
    if folds:
        (d / "folds").mkdir()
        (d / "folds" / "train_fold_setting1.txt").write_text(json.dumps([[0, 1], [2, 3]]))
        (d / "folds" / "test_fold_setting1.txt").write_text(json.dumps([4]))
    return d


def test_the_deepdta_source_reads_pkd_and_folds(tmp_path):
    from theraflow.pairs.stages import prepare_dataset, split_stage

    d = _deepdta(tmp_path / "tiny", [[10.0, 1000.0], [np.nan, 100.0], [1.0, 10000.0]])
    info = prepare_dataset("dti", {"source": "deepdta", "path": str(d)}, tmp_path / "ds")
    assert info["label_kind"] == "regression" and info["pairs"] == 5 and info["has_setting1_folds"]
    pairs = pd.read_parquet(tmp_path / "ds" / "pairs.parquet")
    assert pairs["pair_index"].tolist() == [0, 1, 2, 3, 4]  # measured entries of Y, row-major
    assert pairs["label"].tolist() == pytest.approx([8.0, 6.0, 7.0, 9.0, 5.0])  # pKd = 9 - log10(Kd nM)
    assert pairs[["drug_id", "target_id"]].values.tolist()[2] == ["L2", "P2"]
    m = split_stage(tmp_path / "ds" / "pairs.parquet", "setting1", tmp_path / "ds" / "splits", valid_fold=1)
    assert m["counts"] == {"test": 1, "train": 2, "valid": 2}
    bad = _deepdta(tmp_path / "bad", [[10.0, -1.0], [np.nan, 100.0], [1.0, 10000.0]], folds=False)
    with pytest.raises(InputError, match=r"Y: 1 measured value\(s\) give no finite label; the first is -1 at row 1, "
                                         r"column 2 \(ligand 'L1', protein 'P2'\); Davis Kd values must be positive"):
        prepare_dataset("dti", {"source": "deepdta", "path": str(bad)}, tmp_path / "bad_ds")
