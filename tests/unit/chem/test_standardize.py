"""Standardization outcomes and options."""

import pandas as pd
import pytest

from theraflow.chem import StandardizeOptions, standardize


def _records(*smiles):
    return pd.DataFrame({"record": range(1, len(smiles) + 1), "id": [f"m{i}" for i in range(len(smiles))],
                         "input": list(smiles), "kind": "smiles"})


def test_standardizes_and_reports_changes():
    kept, rej = standardize(_records("OC(=O)c1ccccc1.[Na+]", "CC(=O)[O-]", "C[N+](C)(C)C", "c1ccccc1O"))
    assert rej.empty
    rows = kept.set_index("id")
    assert rows.loc["m0", "smiles"] == "O=C(O)c1ccccc1"
    assert "kept largest organic fragment of 2" in rows.loc["m0", "changes"]
    assert rows.loc["m1", "smiles"] == "CC(=O)O" and "neutralized" in rows.loc["m1", "changes"]
    assert rows.loc["m2", "changes"] == "net charge +1 kept"
    assert rows.loc["m3", "changes"] == ""
    assert rows.loc["m3", "inchikey"] == "ISWSIDIOOBJBQZ-UHFFFAOYSA-N"
    assert kept["heavy_atoms"].tolist() == [9, 4, 5, 7]


def test_options():
    kept, rej = standardize(_records("CCO.CCN"), StandardizeOptions(largest_fragment=False))
    assert kept.empty and rej["stage"].tolist() == ["fragment"]
    kept, _ = standardize(_records("Oc1ccccn1"), StandardizeOptions(canonical_tautomer=True))
    assert kept["smiles"].iloc[0] == "O=c1cccc[nH]1"
    kept, _ = standardize(_records("CCO"), StandardizeOptions(inchikey=False))
    assert kept["inchikey"].iloc[0] == ""
    kept, rej = standardize(_records("C", "CCCCCC"), StandardizeOptions(min_heavy_atoms=3))
    assert kept["id"].tolist() == ["m1"] and "minimum is 3" in rej["reason"].iloc[0]
    with pytest.raises(ValueError):
        StandardizeOptions(max_heavy_atoms=0)


def test_inorganic_records_are_rejected():
    kept, rej = standardize(_records("[Na+].[Cl-]", "O"))
    assert kept.empty
    assert set(rej["reason"]) == {"no organic (carbon-containing) fragment"}


def test_stereo_kept():
    kept, _ = standardize(_records("C[C@H](N)C(=O)O", "C/C=C/C"))
    assert kept["smiles"].tolist() == ["C[C@H](N)C(=O)O", "C/C=C/C"]
