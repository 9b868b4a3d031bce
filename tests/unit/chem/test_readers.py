"""Molecule readers: formats, ids, gzip, SD tags."""

import gzip

import pandas as pd
import pytest

from theraflow.chem import read_molecules
from theraflow.io import InputError


def test_smi_with_ids(nci_smi):
    recs, rej = read_molecules(nci_smi)
    assert len(recs) + len(rej) == 4999
    assert recs["id"].iloc[0] == "1" and recs["kind"].iloc[0] == "smiles"
    assert recs["record"].tolist()[:3] == [1, 2, 3]


def test_smi_header_and_generated_ids(tmp_path):
    p = tmp_path / "lib.smi"
    p.write_text("SMILES Name\nCCO\nCCN amine\n\nc1ccccc1\n")
    recs, rej = read_molecules(p)
    assert rej.empty
    assert recs["id"].tolist() == ["lib-000001", "amine", "lib-000003"]
    assert recs["input"].tolist() == ["CCO", "CCN", "c1ccccc1"]
    again, _ = read_molecules(p)
    assert again["id"].tolist() == recs["id"].tolist()  # deterministic


@pytest.mark.parametrize("suffix,sep", [(".csv", ","), (".tsv", "\t")])
def test_tables(tmp_path, suffix, sep):
    p = tmp_path / f"t{suffix}"
    p.write_text(sep.join(["Compound_ID", "SMILES", "extra"]) + "\n" + sep.join(["a", "CCO", "1"]) + "\n")
    recs, _ = read_molecules(p, smiles_column="smiles")  # column names match case-insensitively
    assert recs.loc[0, "id"] == "a" and recs.loc[0, "input"] == "CCO"


def test_parquet_and_gzip(tmp_path):
    pd.DataFrame({"id": ["x", None], "smiles": ["CCO", "CCN"]}).to_parquet(tmp_path / "m.parquet")
    recs, _ = read_molecules(tmp_path / "m.parquet")
    assert recs["id"].tolist() == ["x", "m-000002"]
    (tmp_path / "m.smi.gz").write_bytes(gzip.compress(b"CCO one\nCCN two\n"))
    recs, _ = read_molecules(tmp_path / "m.smi.gz")
    assert recs["id"].tolist() == ["one", "two"]


def test_sdf_title_and_property(rdkit_data, tmp_path):
    recs, rej = read_molecules(rdkit_data / "NCI" / "first_200.props.sdf")
    assert len(recs) == 200 and rej.empty
    assert recs["kind"].iloc[0] == "molblock" and "M  END" in recs["input"].iloc[0]
    by_prop, _ = read_molecules(rdkit_data / "NCI" / "first_200.props.sdf", sdf_id_property="AMW")
    assert by_prop["id"].iloc[0] != recs["id"].iloc[0]
    gz = tmp_path / "x.sdf.gz"
    gz.write_bytes(gzip.compress((rdkit_data / "NCI" / "first_200.props.sdf").read_bytes()))
    assert len(read_molecules(gz)[0]) == 200


def test_unknown_suffix(tmp_path):
    p = tmp_path / "m.xyz"
    p.write_text("C")
    with pytest.raises(InputError, match="cannot tell the molecule format"):
        read_molecules(p)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_molecules(tmp_path / "nope.smi")
