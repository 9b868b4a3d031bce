"""Pair-table loaders; Davis facts; the restricted unpickler."""

import pickle

import numpy as np
import pandas as pd
import pytest

from theraflow.errors import InputError
from theraflow.pairs.loaders import load_deepdta, load_deepdta_folds, load_numpy_pickle, load_pair_table


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
    pairs, rejects = load_pair_table(p, drug_id="cid", smiles="smi", target_id="prot", sequence=None, label="pkd")
    assert list(pairs.columns) == ["drug_id", "smiles", "target_id", "sequence", "label"]
    assert pairs["sequence"].tolist() == ["", ""] and rejects.empty
    with pytest.raises(InputError, match="missing column"):
        load_pair_table(p)
    q = tmp_path / "bad.csv"
    pd.DataFrame({"drug_id": ["a", "b"], "smiles": ["C", "C"], "target_id": ["t", "t"],
                  "label": ["5", "strong"]}).to_csv(q, index=False)
    with pytest.raises(InputError, match="line 3, column 'label': not a finite number: 'strong'"):
        load_pair_table(q)  # the file's line (header = line 1), not a "data row"


def test_a_users_pair_table_with_bad_rows_goes_on(tmp_path):
    """30,005 rows: one without a numeric label, one target sequence holding '*', one target without a
    sequence where the others have one. With on_error=reject those rows are rejects with the reason and
    the 30,002 others load; with on_error=stop the first stops the load, naming its line."""
    rng = np.random.default_rng(0)
    n = 30_005
    seqs = {f"T{i}": "MKV" + "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), 40)) for i in range(50)}
    t = rng.choice(list(seqs), n)
    df = pd.DataFrame({"drug_id": [f"D{i % 300}" for i in range(n)], "smiles": ["C" * (1 + i % 300 % 20) for i in range(n)],
                       "target_id": t, "sequence": [seqs[x] for x in t], "label": rng.normal(6, 1, n).round(3)})
    df["smiles"] = [f"C{'C' * (i % 300)}O" for i in range(n)]  # one SMILES per drug id
    df["label"] = df["label"].astype(str)
    df.loc[100, "label"] = "n.d."
    df = pd.concat([df, pd.DataFrame([{"drug_id": "D1", "smiles": df.loc[1, "smiles"], "target_id": "Tstar",
                                        "sequence": "MKV*LL", "label": "5.0"},
                                       {"drug_id": "D2", "smiles": df.loc[2, "smiles"], "target_id": "Tempty",
                                        "sequence": "", "label": "5.5"}])], ignore_index=True)
    p = tmp_path / "mine.csv"
    df.to_csv(p, index=False)
    pairs, rejects = load_pair_table(p, on_error="reject")
    assert len(pairs) == len(df) - 3 and len(rejects) == 3
    by_line = rejects.set_index("line")
    assert by_line.loc["line 102", "column"] == "label" and "'n.d.'" in by_line.loc["line 102", "reason"]
    star = by_line.loc[f"line {len(df)}"]
    assert star["column"] == "sequence" and "holds '*' at position 4" in star["reason"]
    empty = by_line.loc[f"line {len(df) + 1}"]
    assert "no sequence for target 'Tempty'" in empty["reason"]
    assert set(rejects["file"]) == {str(p)}
    with pytest.raises(InputError, match="line 102, column 'label'"):
        load_pair_table(p, on_error="stop")
