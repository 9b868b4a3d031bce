"""The foundation issue's bad-input list, through the public stage function.

Each case ends as a rejects row with a reason, or as an InputError whose message names
the file (and the record or column) and what was expected. Nothing is dropped silently.
"""

import pandas as pd
import pytest

from theraflow.chem import standardize_file
from theraflow.io import InputError


def run(tmp_path, name, content: bytes | str, **kw):
    p = tmp_path / name
    p.write_bytes(content if isinstance(content, bytes) else content.encode())
    out, rej = tmp_path / "out.parquet", tmp_path / "rej.parquet"
    counts = standardize_file(p, out, rej, **kw)
    kept, rejects = pd.read_parquet(out), pd.read_parquet(rej)
    assert counts["records"] == len(kept) + len(rejects), "a record was lost"
    return kept, rejects.set_index("id")


SMI_CASES = [
    # (id, smiles, expected stage, expected words in the reason)
    ("unparsable", "C1CC(", "parse", "unparsable SMILES"),
    ("valence", "CN(C)(C)(C)C", "sanitize", "valence error: Explicit valence for atom # 1 N"),
    ("kekulize", "c1cccc1", "sanitize", "kekulization failed: Can't kekulize mol"),
    ("giant", "C" * 400, "size", "heavy atoms; limit is 150"),
    ("inorganic", "[Na+].[Cl-]", "fragment", "no organic"),
]


def test_smiles_rejects(tmp_path):
    body = "\n".join(f"{smi} {mol_id}" for mol_id, smi, _, _ in SMI_CASES) + "\nCCO ok\n"
    kept, rej = run(tmp_path, "bad.smi", body)
    assert kept["id"].tolist() == ["ok"]
    for mol_id, smi, stage, words in SMI_CASES:
        assert rej.loc[mol_id, "stage"] == stage, mol_id
        assert words in rej.loc[mol_id, "reason"], (mol_id, rej.loc[mol_id, "reason"])
        assert rej.loc[mol_id, "input"] == smi


def test_empty_smiles_in_a_table(tmp_path):
    kept, rej = run(tmp_path, "t.csv", "id,smiles\na,\nb,CCO\nc,   \n")
    assert kept["id"].tolist() == ["b"]
    assert rej.loc["a", "reason"] == "empty SMILES" and rej.loc["c", "reason"] == "empty SMILES"
    assert (rej["stage"] == "read").all()


def test_salt_mixture_and_charged_species_are_kept_standardized(tmp_path):
    kept, rej = run(tmp_path, "s.smi", "CC(=O)[O-].[Na+] salt\nC[N+](C)(C)CC(=O)[O-] zwitterion\nCCC[NH3+] cation\n")
    assert rej.empty
    k = kept.set_index("id")
    assert k.loc["salt", "smiles"] == "CC(=O)O" and "largest organic fragment of 2" in k.loc["salt", "changes"]
    assert k.loc["zwitterion", "smiles"] == "C[N+](C)(C)CC(=O)[O-]"  # inner salt: net charge 0 already
    assert k.loc["cation", "smiles"] == "CCCN" and "neutralized" in k.loc["cation", "changes"]


def test_non_utf8_bytes(tmp_path):
    kept, rej = run(tmp_path, "b.smi", b"CCO good\nC\xff\xfeC bad\nCCN fine\n")
    assert kept["id"].tolist() == ["good", "fine"]
    (reason,) = rej["reason"].tolist()
    assert "line 2: not valid UTF-8 (byte 0xff at position 2)" == reason
    kept, rej = run(tmp_path, "b.csv", b"id,smiles\nx,CCO\ny,C\xe9C\n")
    assert rej.loc["y", "reason"].startswith("row 3: not valid UTF-8 (byte 0xe9")


def test_duplicate_ids(tmp_path):
    kept, rej = run(tmp_path, "d.smi", "CCO a\nCCN b\nCCC a\n")
    assert kept["id"].tolist() == ["a", "b"]
    assert rej.loc["a", "reason"] == "duplicate id 'a' (first seen at record 1)"
    assert rej.loc["a", "record"] == 3


def test_missing_smiles_column(tmp_path):
    with pytest.raises(InputError) as err:
        run(tmp_path, "m.csv", "id,structure\na,CCO\n")
    msg = str(err.value)
    assert "m.csv" in msg and "no SMILES column 'smiles'" in msg and "id, structure" in msg


@pytest.mark.parametrize("name", ["e.smi", "e.csv", "e.sdf"])
def test_empty_file(tmp_path, name):
    with pytest.raises(InputError, match=rf"{name}: the file is empty"):
        run(tmp_path, name, "")


@pytest.mark.parametrize("name,content,words", [
    ("h.csv", "id,smiles\n", "has a header but no records"),
    ("h.smi", "smiles name\n", "has a header line but no molecules"),
])
def test_header_only_file(tmp_path, name, content, words):
    with pytest.raises(InputError, match=rf"{name}: {words}"):
        run(tmp_path, name, content)


def test_sdf_with_a_broken_block(tmp_path, rdkit_data):
    good = (rdkit_data / "NCI" / "first_200.props.sdf").read_text().split("$$$$\n")
    broken = "broken-record\n  RDKit          2D\n\n  3  2  0  0  0  0  0  0  0  0999 V2000\n" \
             "    0.0000    0.0000    0.0000 C   0  0\nM  END\n"
    text = good[0] + "$$$$\n" + broken + "$$$$\n" + good[1] + "$$$$\n"
    kept, rej = run(tmp_path, "b.sdf", text)
    assert len(kept) == 2
    assert rej.loc["broken-record", "stage"] == "parse"
    assert rej.loc["broken-record", "reason"].startswith("broken molblock:")
    assert rej.loc["broken-record", "record"] == 2


def test_very_long_input_is_rejected_before_parsing(tmp_path):
    kept, rej = run(tmp_path, "l.smi", "C" * 30000 + " long\nCCO ok\n")
    assert rej.loc["long", "stage"] == "read" and "limit 20000" in rej.loc["long", "reason"]


def test_whitespace_inside_a_smiles_is_a_reject_not_a_truncated_molecule():
    """RDKit stops at whitespace: "C\\nC" would be methane. Every door (the table API, featurize) rejects it."""
    from theraflow.chem import featurize, standardize

    records = pd.DataFrame({"record": [1, 2, 3, 4], "id": ["nl", "sp", "tab", "edges"],
                            "input": ["C\nC", "c1ccccc1 O", "CC\tN", "  CCO\n"], "kind": ["smiles"] * 4})
    kept, rejects = standardize(records)
    assert kept["id"].tolist() == ["edges"] and kept["smiles"].tolist() == ["CCO"]  # whitespace at the ends is fine
    rej = rejects.set_index("id")
    assert rej.loc["nl", "reason"].startswith("SMILES holds a newline at position 2; RDKit would read only 'C'")
    assert rej.loc["nl", "input"] == "C\\nC"  # shown escaped: one line per reject in a TSV
    assert "a space at position 9" in rej.loc["sp", "reason"]
    assert "a tab at position 3" in rej.loc["tab", "reason"]
    assert set(rej["stage"]) == {"parse"}
    res = featurize(["CCO", "C\nC"], "default")
    assert res.index.tolist() == [0] and "SMILES holds a newline" in res.errors[1]
