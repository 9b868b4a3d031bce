"""Pair data sources: the ``table`` source for any task (ids optional, label kind declared or inferred, a threshold,
given parts or a split column, a molecule table), every bad row a rejects row with its file, line, column and
reason (or, with on_error=stop, the first one stops the load naming it); the demo and DrugBank sources."""

import numpy as np
import pandas as pd
import pytest

from theraflow.errors import InputError
from theraflow.pairs.stages import load_dataset, prepare_dataset

SEQ_A, SEQ_B = "MKTAYIAKQRQISFVKSHFSRQ", "MSEQNNTEMTFQIQRIYTKDISFEAPNAPH"


def _csv(path, text: str):
    path.write_text(text)
    return path


def _table(tmp_path, rows, name="pairs.csv"):
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


# ------------------------------------------------------------------ ids
def test_ids_are_optional(tmp_path):
    """A table with only SMILES, sequence and label columns: molecules get their standardized InChIKey as id
    (one id for two spellings of one structure), targets "seq_" + a hash of the sequence."""
    from rdkit import Chem

    path = _table(tmp_path, {"smiles": ["OCC", "CCO", "c1ccccc1O"], "sequence": [SEQ_A, SEQ_B, SEQ_A.lower()],
                             "label": [5.0, 6.0, 7.5]})
    spec, pairs, rejects, facts = load_dataset("dti", {"source": "table", "path": str(path)})
    assert rejects.empty and spec.label.name == "regression"
    ethanol = Chem.MolToInchiKey(Chem.MolFromSmiles("CCO"))
    assert pairs["drug_id"].tolist()[:2] == [ethanol, ethanol]
    assert pairs["smiles"].tolist()[:2] == ["OCC", "OCC"]  # one entity, one value: what splits compare agrees
    assert pairs["sequence"].iat[2] == SEQ_A
    assert pairs["drug_id"].iat[2] == Chem.MolToInchiKey(Chem.MolFromSmiles("c1ccccc1O"))
    assert pairs["target_id"].str.startswith("seq_").all() and pairs["target_id"].str.len().eq(20).all()
    assert pairs["target_id"].iat[0] == pairs["target_id"].iat[2] != pairs["target_id"].iat[1]  # case aside
    assert set(facts["ids_defaulted"]) == {"drug", "target"}
    assert "InChIKey" in facts["ids_defaulted"]["drug"] and "hash of the sequence" in facts["ids_defaulted"]["target"]
    info = prepare_dataset("dti", {"source": "table", "path": str(path)}, tmp_path / "ds")
    assert info["entities"] == {"drug": 2, "target": 2} and info["ids_defaulted"] == facts["ids_defaulted"]
    mols = pd.read_csv(tmp_path / "ds" / "molecules.csv")
    assert mols["id"].tolist() == [ethanol, pairs["drug_id"].iat[2]]
    # a drug–drug table of SMILES only: both roles' molecules named by InChIKey
    path = _table(tmp_path, {"smiles1": ["CCO", "CCN"], "smiles2": ["CCN", "OCC"], "label": ["1", "2"]}, "ddi.csv")
    _, pairs, _, _ = load_dataset("ddi", {"source": "table", "path": str(path)})
    assert pairs["drug1"].iat[0] == pairs["drug2"].iat[1] == ethanol
    assert pairs["smiles2"].iat[1] == "CCO"  # across the roles of one kind too


def test_a_target_needs_an_id_or_a_sequence(tmp_path):
    path = _table(tmp_path, {"smiles": ["CCO"], "label": [5.0]})
    with pytest.raises(InputError, match=r"pairs\.csv: missing column\(s\) target_id or sequence"):
        load_dataset("dti", {"source": "table", "path": str(path)})


# ------------------------------------------------------------------ label kinds
@pytest.mark.parametrize("labels,kind,classes", [
    (["1", "0", "0", "1.0"], "binary", ("0", "1")),
    (["5.2", "6", "7.5", "-1"], "regression", ()),
    (["inhibitor", "agonist", "agonist", "3"], "multiclass", ("3", "agonist", "inhibitor")),
])
def test_the_label_kind_is_inferred_from_the_labels(tmp_path, caplog, labels, kind, classes):
    path = _table(tmp_path, {"drug_id": list("abcd"), "smiles": ["CCO", "CCN", "CCC", "CCCl"], "target_id": "T",
                             "label": labels})
    with caplog.at_level("INFO"):
        spec, pairs, _, facts = load_dataset("dti", {"source": "table", "path": str(path)})
    assert spec.label.name == kind and spec.classes == classes
    assert f"label kind inferred as {kind}" in caplog.text and "label: regression|binary|multiclass" in caplog.text
    if kind == "regression":
        assert pairs["label"].tolist() == [5.2, 6.0, 7.5, -1.0]
    else:
        assert pairs["label"].tolist() == [str(x) if x != "1.0" else "1" for x in labels]


def test_a_declared_label_kind_wins(tmp_path):
    path = _table(tmp_path, {"drug_id": list("abcd"), "smiles": ["CCO", "CCN", "CCC", "CCCl"], "target_id": "T",
                             "label": ["1", "0", "2", "0"]})
    spec, _, _, _ = load_dataset("dti", {"source": "table", "path": str(path)})
    assert spec.label.name == "regression"  # numbers beyond 0/1
    spec, pairs, _, facts = load_dataset("dti", {"source": "table", "path": str(path), "label": "multiclass"})
    assert spec.label.name == "multiclass" and spec.classes == ("0", "1", "2") and facts["label_kind_reason"] == \
        "declared"
    spec, pairs, rejects, _ = load_dataset("dti", {"source": "table", "path": str(path), "label": "binary"})
    assert spec.label.name == "binary" and len(pairs) == 3
    assert rejects[["line", "column"]].values.tolist() == [["line 4", "label"]]
    assert rejects["reason"].iat[0] == "label '2' is not one of the classes (0, 1)"
    # a source that knows its labels (DeepDTA, DrugBank, the demos) is not second-guessed
    spec, _, _, facts = load_dataset("ddi", {"source": "demo"})
    assert spec.label.name == "multiclass" and facts["label_kind_reason"] == "the demo source's labels"


def test_a_threshold_binarizes_numeric_labels(tmp_path):
    path = _table(tmp_path, {"drug_id": list("abcd"), "smiles": ["CCO", "CCN", "CCC", "CCCl"], "target_id": "T",
                             "label": ["6.5", "7", "n.d.", "8.25"]})
    spec, pairs, rejects, facts = load_dataset("dti", {"source": "table", "path": str(path), "threshold": 7})
    assert spec.label.name == "binary" and pairs["label"].tolist() == ["0", "1", "1"]  # at or above: 1
    assert facts["label_kind_reason"] == "labels at or above 7 are 1 (2 of 3)"
    assert rejects.iloc[0].tolist() == [str(path), "line 4", "label",
                                        "not a number to compare with the threshold 7: 'n.d.'"]
    with pytest.raises(InputError, match="threshold turns labels into 0/1, but label is 'regression'"):
        load_dataset("dti", {"source": "table", "path": str(path), "threshold": 7, "label": "regression"})


def test_the_rdkit_demo_thresholded_is_a_binary_data_set(tmp_path):
    info = prepare_dataset("dti", {"source": "rdkit_demo", "threshold": 7.0}, tmp_path)
    assert info["label_kind"] == "binary" and info["task"]["classes"] == ["0", "1"]
    counts = info["label"]["counts"]
    assert counts["1"] + counts["0"] == info["pairs"] and 0.25 < counts["1"] / info["pairs"] < 0.45
    assert pd.read_csv(tmp_path / "classes.tsv", sep="\t")["class"].tolist() == [0, 1]


# ------------------------------------------------------------------ given parts
def test_parts_given_as_files_and_the_given_split(tmp_path):
    """parts: {train, test}: test pairs are exactly the test file's, validation is carved from train."""
    from theraflow.pairs.stages import split_stage

    rng = np.random.default_rng(0)
    smiles = [f"C{'C' * i}O" for i in range(40)]
    rows = pd.DataFrame({"drug_id": [f"d{i}" for i in range(40)], "smiles": smiles, "target_id": "T",
                         "label": rng.normal(6, 1, 40).round(2)})
    train, test = _table(tmp_path, rows.iloc[:30], "train.csv"), _table(tmp_path, rows.iloc[30:], "test.csv")
    cfg = {"source": "table", "parts": {"train": str(train), "test": str(test)}}
    info = prepare_dataset("dti", cfg, tmp_path / "ds")
    assert info["given_parts"] == {"train": 30, "test": 10} and info["files"] == [str(train), str(test)]
    manifest = split_stage(tmp_path / "ds" / "pairs.parquet", "given", tmp_path / "ds" / "splits", valid_frac=0.2)
    assert manifest["counts"] == {"test": 10, "train": 24, "valid": 6}
    pairs = pd.read_parquet(tmp_path / "ds" / "pairs.parquet")
    part = pd.read_parquet(tmp_path / "ds" / "splits" / "given.parquet").set_index("pair_id")["part"]
    assert sorted(pairs.loc[part[pairs["pair_id"]].to_numpy() == "test", "drug_id"]) == sorted(rows["drug_id"][30:])
    with pytest.raises(InputError, match="give at least the train and the test file"):
        load_dataset("dti", {"source": "table", "parts": {"train": str(train)}})
    with pytest.raises(InputError, match="unknown part"):
        load_dataset("dti", {"source": "table", "parts": {"train": str(train), "test": str(test), "holdout": "x"}})
    with pytest.raises(ValueError, match="given uses the parts a data set came with"):
        prepare_dataset("dti", {"source": "table", "path": str(train)}, tmp_path / "plain")
        split_stage(tmp_path / "plain" / "pairs.parquet", "given", tmp_path / "plain" / "splits")


def test_a_split_column_names_each_rows_part(tmp_path):
    path = _table(tmp_path, {"drug_id": list("abcdef"), "smiles": ["CCO", "CCN", "CCC", "CCCl", "CCBr", "CCS"],
                             "target_id": "T", "label": [5, 6, 7, 8, 9, 5.5],
                             "fold": ["Train", "train", "valid", "test", "holdout", "dev"]})
    spec, pairs, rejects, _ = load_dataset("dti", {"source": "table", "path": str(path), "split_column": "fold"})
    assert pairs["given_part"].tolist() == ["train", "train", "valid", "test", "valid"]  # dev is validation
    assert rejects.iloc[0].tolist() == [str(path), "line 6", "fold", "part 'holdout' is not train, valid or test"]
    with pytest.raises(InputError, match=r"missing column\(s\) the split column 'part'"):
        load_dataset("dti", {"source": "table", "path": str(path), "split_column": "part"})


# ------------------------------------------------------------------ missing columns, bad rows
def test_a_missing_column_is_one_error_naming_the_file_and_the_column(tmp_path):
    path = _table(tmp_path, {"drug_id": ["a"], "smiles": ["CCO"], "target_id": ["T"]}, "mine.csv")
    with pytest.raises(InputError) as err:
        load_dataset("dti", {"source": "table", "path": str(path)})
    assert str(err.value).startswith(f"{path}: missing column(s) label ('label')")
    path = _table(tmp_path, {"cid": ["a"], "target_id": ["T"], "y": [5]}, "mine2.csv")
    with pytest.raises(InputError, match=r"mine2\.csv: missing column\(s\) smiles \('SMILES'"):
        load_dataset("dti", {"source": "table", "path": str(path), "columns": {"smiles": "SMILES", "label": "y"}})
    with pytest.raises(InputError, match=r"columns: unknown field\(s\) pkd for task dti"):
        load_dataset("dti", {"source": "table", "path": str(path), "columns": {"pkd": "y"}})
    with pytest.raises(InputError, match="file not found"):
        load_dataset("dti", {"source": "table", "path": str(tmp_path / "nope.csv")})


def test_columns_map_a_users_table(tmp_path):
    p = _table(tmp_path, {"cid": ["a", "b"], "smi": ["CCO", "CCN"], "prot": ["T1", "T1"], "pkd": [5.0, 6.5]})
    cfg = {"source": "table", "path": str(p), "columns": {"drug_id": "cid", "smiles": "smi", "target_id": "prot",
                                                          "label": "pkd"}}
    spec, pairs, rejects, _ = load_dataset("dti", cfg)
    assert pairs[["drug_id", "smiles", "target_id", "sequence", "label"]].values.tolist() == [
        ["a", "CCO", "T1", "", 5.0], ["b", "CCN", "T1", "", 6.5]]
    assert rejects.empty and spec.label.name == "regression"
    q = _csv(tmp_path / "bad.csv", "drug_id,smiles,target_id,label\na,C,t,5\nb,C,t,strong\n")
    with pytest.raises(InputError, match=r"bad\.csv: line 3, column 'label': not a finite number: 'strong'"):
        load_dataset("dti", {"source": "table", "path": str(q), "label": "regression", "on_error": "stop"})


def test_a_users_pair_table_with_bad_rows_goes_on(tmp_path):
    """30,005 rows: one without a numeric label, one target sequence holding '*', one target without a
    sequence where the others have one. With on_error=reject those rows are rejects with the file, line, column
    and reason and the 30,002 others load; with on_error=stop the first bad row stops the load, naming its line."""
    rng = np.random.default_rng(0)
    n = 30_005
    seqs = {f"T{i}": "MKV" + "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), 40)) for i in range(50)}
    t = [f"T{i // 601 % 50}" for i in range(n)]  # 601 drugs x 50 targets: each pair once (repeats are averaged)
    df = pd.DataFrame({"drug_id": [f"D{i % 601}" for i in range(n)], "smiles": [f"C{'C' * (i % 601)}O" for i in range(n)],
                       "target_id": t, "sequence": [seqs[x] for x in t], "label": rng.normal(6, 1, n).round(3)})
    df["label"] = df["label"].astype(str)
    df.loc[100, "label"] = "n.d."
    df = pd.concat([df, pd.DataFrame([{"drug_id": "D1", "smiles": df.loc[1, "smiles"], "target_id": "Tstar",
                                        "sequence": "MKV*LL", "label": "5.0"},
                                       {"drug_id": "D2", "smiles": df.loc[2, "smiles"], "target_id": "Tempty",
                                        "sequence": "", "label": "5.5"}])], ignore_index=True)
    p = tmp_path / "mine.csv"
    df.to_csv(p, index=False)
    spec, pairs, rejects, facts = load_dataset("dti", {"source": "table", "path": str(p)})
    assert spec.label.name == "regression" and facts["rows_given"] == len(df)
    assert len(pairs) == len(df) - 3 and len(rejects) == 3
    assert list(rejects.columns) == ["file", "line", "column", "reason"] and set(rejects["file"]) == {str(p)}
    by_line = rejects.set_index("line")
    assert by_line.loc["line 102", "column"] == "label" and "'n.d.'" in by_line.loc["line 102", "reason"]
    star = by_line.loc[f"line {len(df)}"]
    assert star["column"] == "sequence" and "holds '*' at position 4" in star["reason"]
    empty = by_line.loc[f"line {len(df) + 1}"]
    assert empty["column"] == "sequence" and "no sequence for target 'Tempty'" in empty["reason"]
    with pytest.raises(InputError, match=r"mine\.csv: line 102, column 'label'"):
        load_dataset("dti", {"source": "table", "path": str(p), "on_error": "stop"})


def test_bad_rows_of_a_drug_drug_table_are_rejects(tmp_path):
    drugs = _table(tmp_path, {"id": ["A", "B", "C"], "smiles": ["CCO", "c1ccccc1O", "CCN"]}, "drugs.csv")
    table = _csv(tmp_path / "pairs.csv", "drug1,drug2,label\n"
                 "A,B,1\n"       # good                       line 2
                 "A,A,1\n"       # self-pair                  line 3
                 "A,Z,2\n"       # unknown drug id            line 4
                 "B,C,7\n"       # label outside the classes  line 5
                 "A,B,1\n"       # exact repeat of line 2     line 6
                 "C,A,2\n")      # good                       line 7
    cfg = {"source": "table", "path": str(table), "drugs": str(drugs), "classes": ["1", "2"]}
    spec, pairs, rejects, _ = load_dataset("ddi", cfg)
    assert spec.label.name == "multiclass" and spec.classes == ("1", "2")
    assert pairs[["drug1", "smiles1", "drug2", "label"]].values.tolist() == [["A", "CCO", "B", "1"],
                                                                             ["C", "CCN", "A", "2"]]
    why = dict(zip(rejects["line"], zip(rejects["column"], rejects["reason"])))
    assert why["line 3"] == ("drug2", "'A' paired with itself")
    assert why["line 4"][0] == "drug2" and why["line 4"][1].startswith("second drug 'Z' has no SMILES")
    assert why["line 5"] == ("label", "label '7' is not one of the classes (1, 2)")
    assert why["line 6"] == ("label", "an exact repeat of line 2")
    assert set(rejects["file"]) == {str(table)} and len(rejects) == 4
    with pytest.raises(InputError, match=r"pairs\.csv: line 3, column 'drug2': 'A' paired with itself"):
        load_dataset("ddi", {**cfg, "on_error": "stop"})


def test_a_binary_drug_drug_table_of_smiles(tmp_path):
    table = _csv(tmp_path / "p.csv", "smiles1,smiles2,label\nCCO,CCN,1\nCCN,CCO,0\nCCO,OCC,1\nCCO,CCN,yes\n")
    spec, pairs, rejects, _ = load_dataset("ddi", {"source": "table", "path": str(table), "label": "binary"})
    assert spec.label.name == "binary" and len(pairs) == 2 and pairs["label"].tolist() == ["1", "0"]
    assert sorted(rejects["line"]) == ["line 4", "line 5"]  # one structure twice (two spellings); not 0/1
    assert "paired with itself" in rejects.set_index("line").loc["line 4", "reason"]


# ------------------------------------------------------------------ DrugBank
@pytest.mark.shared_data
def test_drugbank_loader_facts(shared_data):
    from theraflow.pairs.loaders import load_drugbank_ddi
    from theraflow.pairs.tables import unordered_key

    pairs, rejects, types = load_drugbank_ddi(shared_data / "drugbank_ddi")
    raw = pd.read_csv(shared_data / "drugbank_ddi" / "ddi_pairs.tsv", sep="\t", dtype=str)
    assert len(raw) == 192_284 and len(set(raw["drug1"]) | set(raw["drug2"])) == 1_710
    assert len(pairs) + len(rejects) == 192_284  # nothing dropped silently
    assert len(rejects) == 414 and rejects["reason"].str.contains("has no SMILES").all()
    assert pairs["label"].nunique() == 86 and len(types) == 86
    two = pairs.groupby(["drug1", "drug2"])["label"].nunique()
    assert int((two > 1).sum()) == 289  # ordered pairs with two types: kept, one row per type
    key = unordered_key(pairs["drug1"], pairs["drug2"])
    orientations = pairs.assign(k=key)[["k", "drug1", "drug2"]].drop_duplicates().groupby("k").size()
    assert int((orientations > 1).sum()) == 117  # unordered pairs listed in both orders
    assert types.set_index("type").loc["49", "sentence"].startswith("The risk or severity of adverse effects")


def test_the_offline_demo_sets():
    spec, pairs, rejects, _ = load_dataset("ddi", {"source": "demo"})
    assert spec.classes == ("1", "3", "4", "2") and len(pairs) == 2400 and rejects.empty
    # synthetic: every sentence says so at its start, where a shortened table cell still shows it
    assert spec.descriptions["1"].startswith("[synthetic demo data] #Drug1 can cause a decrease in the absorption of")
    assert all(d.startswith("[synthetic demo data] ") for d in spec.descriptions.values())
    assert not (pairs["drug1"] == pairs["drug2"]).any()
    spec, pairs, _, _ = load_dataset("dti", {"source": "rdkit_demo"})
    assert spec.label.name == "regression" and set(pairs["target_id"]) == {"CHEMBL2321810", "MET"}
    with pytest.raises(InputError, match="source demo reads ddi data, not dti"):
        load_dataset("dti", {"source": "demo"})
