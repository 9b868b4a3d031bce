"""Replicates (one pair on several rows) are merged by a documented rule — the median, within a spread of one
log unit — or, contradicting, every row goes to rejects.tsv with the values and the lines."""

import json

import pandas as pd
import pytest

from theraflow.errors import InputError
from theraflow.pairs.replicates import replicate_options
from theraflow.pairs.stages import load_dataset, prepare_dataset

from ...inprocess import cli

HEADER = "drug_id,smiles,target_id,sequence,label\n"


def _csv(path, rows: str):
    path.write_text(HEADER + rows)
    return path


def test_regression_replicates_merge_by_the_median_or_are_rejected_as_contradicting(tmp_path):
    table = _csv(tmp_path / "pairs.csv",
                 "D1,CCO,T1,MKVLA,5.0\n"     # line 2  } pKd 5.0 and 9.5: contradicting
                 "D1,CCO,T1,MKVLA,9.5\n"     # line 3  }
                 "D2,CCN,T1,MKVLA,6.0\n"     # line 4  } 6.0, 6.8, 6.2: agree (spread 0.8): median 6.2
                 "D2,CCN,T1,MKVLA,6.8\n"     # line 5  }
                 "D2,CCN,T1,MKVLA,6.2\n"     # line 6  }
                 "D3,CCC,T1,MKVLA,7.0\n"     # line 7: measured once
                 "D1,CCO,T2,MKVLE,8.0\n")    # line 8: D1 with another target: not a replicate
    spec, pairs, rejects, facts = load_dataset("dti", {"source": "table", "path": str(table)})
    assert spec.label.name == "regression"
    got = dict(zip(zip(pairs["drug_id"], pairs["target_id"]), pairs["label"]))
    assert got == {("D2", "T1"): pytest.approx(6.2), ("D3", "T1"): 7.0, ("D1", "T2"): 8.0}
    assert pairs.set_index("drug_id").loc["D2", "line"] == "line 4"  # the merged row keeps its first line
    assert list(rejects.columns) == ["file", "line", "column", "reason"]
    assert rejects["line"].tolist() == ["line 2", "line 3"] and set(rejects["column"]) == {"label"}
    assert set(rejects["reason"]) == {"contradicting replicates: 5.0, 9.5 (spread 4.5 > 1.0; line 2, line 3)"}
    assert facts["replicates"] == {"aggregate": "median", "max_spread": 1.0, "n_replicates_merged": 2,
                                   "pairs_merged": 1, "pairs_contradicting": 1, "rows_contradicting": 2}
    assert facts["rejected_reasons"] == {"contradicting replicates": 2}

    # the mean instead, and a wider spread allowed: both pairs merge
    _, pairs, rejects, facts = load_dataset("dti", {"source": "table", "path": str(table),
                                                    "replicates": {"aggregate": "mean", "max_spread": 5}})
    got = dict(zip(zip(pairs["drug_id"], pairs["target_id"]), pairs["label"]))
    assert got[("D1", "T1")] == pytest.approx(7.25) and got[("D2", "T1")] == pytest.approx(19 / 3)
    assert rejects.empty and facts["replicates"]["n_replicates_merged"] == 3
    # no limit at all
    _, _, rejects, _ = load_dataset("dti", {"source": "table", "path": str(table), "replicates": {"max_spread": None}})
    assert rejects.empty
    # on_error=stop names the first contradicting row
    with pytest.raises(InputError, match=r"pairs\.csv: line 2, column 'label': contradicting replicates: 5\.0, 9\.5"):
        load_dataset("dti", {"source": "table", "path": str(table), "on_error": "stop"})


def test_binary_replicates_that_disagree_are_rejected_and_those_that_agree_merged(tmp_path):
    table = _csv(tmp_path / "b.csv",
                 "D1,CCO,T1,MKVLA,1\n"   # line 2 } 1 and 0: contradicting
                 "D1,CCO,T1,MKVLA,0\n"   # line 3 }
                 "D2,CCN,T1,MKVLA,1\n"   # line 4 } 1 and 1: one row
                 "D2,CCN,T1,MKVLA,1\n"   # line 5 }
                 "D3,CCC,T1,MKVLA,0\n")
    spec, pairs, rejects, facts = load_dataset("dti", {"source": "table", "path": str(table)})
    assert spec.label.name == "binary"
    assert sorted(zip(pairs["drug_id"], pairs["label"])) == [("D2", "1"), ("D3", "0")]
    assert rejects["line"].tolist() == ["line 2", "line 3"]
    assert set(rejects["reason"]) == {"contradicting replicates: 1, 0 (classes disagree; line 2, line 3)"}
    assert facts["replicates"]["n_replicates_merged"] == 1 and facts["replicates"]["pairs_contradicting"] == 1


def test_replicates_of_a_given_part_are_counted_in_that_part(tmp_path):
    train = _csv(tmp_path / "train.csv", "D1,CCO,T1,MKVLA,5.0\nD2,CCN,T1,MKVLA,6.0\nD3,CCC,T1,MKVLA,6.5\n")
    test = _csv(tmp_path / "test.csv", "D4,CCCO,T1,MKVLA,5.0\nD4,CCCO,T1,MKVLA,8.0\nD5,CCCN,T1,MKVLA,6.0\n"
                                       "D1,CCO,T1,MKVLA,9.0\n")  # D1-T1 in train and test: not a replicate
    info = prepare_dataset("dti", {"source": "table", "parts": {"train": str(train), "test": str(test)}},
                           tmp_path / "ds")
    assert info["rejected_by_part"] == {"test": {"contradicting replicates": 2}}
    assert info["given_parts"] == {"train": 3, "test": 2} and info["n_replicates_merged"] == 0
    written = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    assert written["rejected_reasons"] == {"contradicting replicates": 2}
    rejects = pd.read_csv(tmp_path / "ds" / "rejects.tsv", sep="\t")
    assert rejects.columns.tolist() == ["file", "line", "column", "reason"] and set(rejects["file"]) == {str(test)}


def test_the_replicate_options_are_checked():
    assert replicate_options(None) == {"aggregate": "median", "max_spread": 1.0}
    with pytest.raises(InputError, match="replicates.aggregate: 'mode'"):
        replicate_options({"aggregate": "mode"})
    with pytest.raises(InputError, match="unknown option"):
        replicate_options({"spread": 1})
    with pytest.raises(InputError, match="negative"):
        replicate_options({"max_spread": -1})


def test_the_dataset_command_takes_the_replicate_options(tmp_path):
    table = _csv(tmp_path / "pairs.csv", "D1,CCO,T1,MKVLA,5.0\nD1,CCO,T1,MKVLA,9.5\nD2,CCN,T1,MKVLA,6.0\n")
    rc, out, err = cli(["dti", "dataset", "--path", table, "--outdir", tmp_path / "a"])
    assert rc == 0, err
    assert "2 row(s) rejected (rejects.tsv: contradicting replicates 2)" in out
    rc, out, err = cli(["dti", "dataset", "--path", table, "--max-replicate-spread", "5", "--replicates", "mean",
                        "--outdir", tmp_path / "b"])
    assert rc == 0, err
    info = json.loads((tmp_path / "b" / "dataset.json").read_text())
    assert info["rejected_rows"] == 0 and info["n_replicates_merged"] == 1
    assert info["replicates"]["aggregate"] == "mean" and info["label"]["max"] == pytest.approx(7.25)
    rc, out, err = cli(["dti", "dataset", "--path", table, "--max-replicate-spread", "wide", "--outdir", tmp_path / "c"])
    assert rc != 0 and "'wide' is not a number" in err
