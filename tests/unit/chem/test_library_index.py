"""The library index: a shard reads only its own records, and gets exactly what the whole-file reader gives.

Blocks are made small here (BLOCK_BYTES = 300) so that every test file holds many of them and shard borders
fall inside, at the start and at the end of blocks; the 10-million-molecule path is this one at small size.
"""

import gzip
import os

import pandas as pd
import pytest

from theraflow.chem import library_index as li
from theraflow.chem import readers
from theraflow.chem.library_index import library_index, read_molecule_shard
from theraflow.chem.readers import read_molecules
from theraflow.io import InputError
from theraflow.registry import READERS


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    monkeypatch.setattr(readers, "BLOCK_BYTES", 300)


def _nci_lines(rdkit_data, n=400):
    lines = [ln for ln in (rdkit_data / "NCI" / "first_5K.smi").read_text().splitlines() if ln.strip()]
    return lines[:n]


def _smi(rdkit_data, tmp_path):
    body = "smiles name\n" + "\n".join(_nci_lines(rdkit_data, 300))
    body += "\n\n   \nC\xffC bad-bytes\r\nCCO NSC-6\rCCN\n" + "\n".join(_nci_lines(rdkit_data, 360)[300:]) + "\nCC"
    p = tmp_path / "lib.smi"
    p.write_bytes(body.encode("utf-8", "surrogateescape").replace("\xff".encode(), b"\xff"))
    return p


def _csv(rdkit_data, tmp_path, sep=",", name="lib.csv", newline="\n"):
    rows = [f"id{sep}smiles"]
    for i, ln in enumerate(_nci_lines(rdkit_data, 300)):
        smi, mol_id = ln.split()[0], ln.split()[-1]
        if i % 11 == 3:
            rows.append(f'"{mol_id}{newline}part two"{sep}{smi}')  # a quoted field across lines
        elif i % 13 == 5:
            rows.append(f'"{mol_id} ""quoted"""{sep}"{smi}"')  # escaped quotes
        elif i % 17 == 7:
            rows.append(f"{mol_id}{sep}")  # an empty SMILES
        elif i % 19 == 2:
            rows.append(f'x"{i}{sep}{smi}')  # a quote inside an unquoted field: kept as a character
        else:
            rows.append(f"{mol_id}{sep}{smi}")
        if i % 23 == 0:
            rows.append("")  # blank lines are skipped
    rows.append(f"NSC-6{sep}CCO")  # an id seen before
    p = tmp_path / name
    p.write_bytes((newline.join(rows) + newline).encode())
    return p


def _sdf(rdkit_data, tmp_path):
    text = (rdkit_data / "NCI" / "first_200.props.sdf").read_bytes()
    blocks = text.split(b"$$$$\n")[:60]
    blocks[10] = blocks[10].replace(b"\n", b"\xe9\n", 1)  # one record that is not UTF-8
    blocks[20] = blocks[20].replace(b"\n", b"\r\n")  # CRLF inside one record
    p = tmp_path / "lib.sdf"
    p.write_bytes(b"$$$$\n".join(blocks).rstrip(b"\n") + b"\n")  # the last record has no terminator
    return p


def _parquet(rdkit_data, tmp_path):
    lines = _nci_lines(rdkit_data, 500)
    df = pd.DataFrame({"smiles": [ln.split()[0] for ln in lines], "id": [ln.split()[-1] for ln in lines]})
    df.loc[7, "smiles"] = None
    df.loc[400, "id"] = df.loc[3, "id"]
    p = tmp_path / "lib.parquet"
    df.to_parquet(p, row_group_size=64)
    return p


def _gz(p):
    out = p.with_name(p.name + ".gz")
    out.write_bytes(gzip.compress(p.read_bytes()))
    return out


FILES = {
    "smi": _smi,
    "csv": _csv,
    "tsv-crlf": lambda d, t: _csv(d, t, sep="\t", name="lib.tsv", newline="\r\n"),
    "sdf": _sdf,
    "parquet": _parquet,
    "smi.gz": lambda d, t: _gz(_smi(d, t)),
    "csv.gz": lambda d, t: _gz(_csv(d, t)),
    "sdf.gz": lambda d, t: _gz(_sdf(d, t)),
}


def _norm(df):
    return df.sort_values("record", kind="stable").reset_index(drop=True).astype({"record": "int64"})


def _sharded(path, size, **kw):
    idx = library_index(path, **kw)
    recs, rejs = [], []
    for lo in range(1, idx.records + 1, size):
        r, j, n = read_molecule_shard(path, lo, lo + size, index=idx)
        assert n == idx.records
        recs.append(r)
        rejs.append(j)
    return _norm(pd.concat(recs, ignore_index=True)), _norm(pd.concat(rejs, ignore_index=True)), idx


@pytest.mark.parametrize("kind", list(FILES))
def test_shards_hold_exactly_the_whole_file_readers_records_and_rejects(kind, rdkit_data, tmp_path):
    path = FILES[kind](rdkit_data, tmp_path)
    whole_recs, whole_rejs = read_molecules(path)
    assert len(whole_recs) > 50 and len(whole_rejs) >= 1  # each file has bad records too
    for size, cache in ((1, None), (7, tmp_path / "index"), (64, tmp_path / "index"), (10_000, None)):
        recs, rejs, idx = _sharded(path, size, cache_dir=cache)
        assert len(idx.blocks) > 5 or kind == "parquet"
        pd.testing.assert_frame_equal(recs, _norm(whole_recs), check_dtype=False)
        pd.testing.assert_frame_equal(rejs, _norm(whole_rejs), check_dtype=False)


def test_the_quoted_field_cut_is_repaired(rdkit_data, tmp_path, monkeypatch):
    """A quote inside an unquoted field (kept as a character by the CSV parser) makes the quote count odd: a
    cut placed inside a later quoted field is found (the block ends inside a string) and the block grows."""
    rows = ["id,smiles", 'x"1,CCO'] + [f"m{i},CC" for i in range(40)] + ['"two\nlines",CCN'] + \
        [f"n{i},CCC" for i in range(40)]
    p = tmp_path / "q.csv"
    p.write_text("\n".join(rows) + "\n")
    monkeypatch.setattr(readers, "BLOCK_BYTES", 64)
    whole, _ = read_molecules(p)
    assert "two\nlines" in whole["id"].tolist() and len(whole) == 82
    recs, _, _ = _sharded(p, 5)
    pd.testing.assert_frame_equal(recs, _norm(whole), check_dtype=False)


def test_a_duplicate_id_in_another_shard_is_still_caught(tmp_path):
    p = tmp_path / "d.smi"
    p.write_text("".join(f"C{'C' * (i % 5)} m{i}\n" for i in range(200)) + "CCO m3\n")
    recs, rejs, idx = _sharded(p, 50)
    assert len(recs) == 200 and rejs["reason"].tolist() == ["duplicate id 'm3' (first seen at record 4)"]
    assert rejs["record"].tolist() == [201]
    assert idx.duplicates.tolist() == [[201, 4]]


def test_a_shard_reads_only_the_blocks_that_hold_its_records(rdkit_data, tmp_path, monkeypatch):
    """Work linear in the library: a shard's bytes read are its own share plus at most two blocks."""
    path = _smi(rdkit_data, tmp_path)
    idx = library_index(path, cache_dir=tmp_path / "index")
    seen = []
    real = readers._read_range
    monkeypatch.setattr(readers, "_read_range", lambda p, off, n, shown: seen.append(n) or real(p, off, n, shown))
    size = 40
    for lo in range(1, idx.records + 1, size):
        seen.clear()
        read_molecule_shard(path, lo, lo + size, index=idx)
        share = path.stat().st_size * size / idx.records
        assert 0 < sum(seen) <= share * 1.6 + 2 * 600, (lo, sum(seen), share)


def test_index_is_reused_and_a_changed_file_is_indexed_again(tmp_path, monkeypatch):
    p = tmp_path / "lib.smi"
    p.write_text("".join(f"CCO m{i}\n" for i in range(100)))
    cache = tmp_path / "index"
    first = library_index(p, cache_dir=cache)
    assert first.records == 100 and (first.folder / "index.json").is_file()
    builds = []
    real = li.build_index
    monkeypatch.setattr(li, "build_index", lambda *a, **k: builds.append(a) or real(*a, **k))
    assert library_index(p, cache_dir=cache).records == 100 and builds == []  # read back, not built
    # the same size and modification time, other content: the head/tail hash tells them apart
    st = p.stat()
    p.write_text("".join(f"CCN m{i}\n" for i in range(100)))
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    again = library_index(p, cache_dir=cache)
    assert len(builds) == 1 and again.folder != first.folder and not first.folder.exists()
    recs, _, _ = read_molecule_shard(p, 1, 3, cache_dir=cache)
    assert recs["input"].tolist() == ["CCN", "CCN"]
    with p.open("a") as fh:  # grown
        fh.write("CCC m100\n")
    assert library_index(p, cache_dir=cache).records == 101 and len(builds) == 2
    assert [d.name for d in cache.iterdir() if not d.name.startswith(".")] == [again.folder.name] or \
        len([d for d in cache.iterdir() if d.is_dir()]) == 1


def test_a_gz_library_is_decompressed_once(rdkit_data, tmp_path, monkeypatch):
    path = _gz(_smi(rdkit_data, tmp_path))
    idx = library_index(path, cache_dir=tmp_path / "index")
    assert idx.source == idx.folder / "data" and idx.summary()["decompressed"]
    whole, _ = read_molecules(path)
    monkeypatch.setattr(gzip, "open", lambda *a, **k: pytest.fail("a shard decompressed the library again"))
    recs, _, _ = read_molecule_shard(path, 100, 140, index=idx)
    assert recs["id"].tolist() == whole[(whole["record"] >= 100) & (whole["record"] < 140)]["id"].tolist()


def test_a_file_cut_short_after_indexing_is_named(tmp_path):
    p = tmp_path / "lib.smi"
    p.write_text("".join(f"CCO m{i}\n" for i in range(500)))
    idx = library_index(p)
    p.write_text("CCO m0\n")
    with pytest.raises(InputError, match="lib.smi: .*changed after it was indexed"):
        read_molecule_shard(p, 400, 450, index=idx)


def test_bad_files_are_named_by_the_index_as_by_the_reader(tmp_path):
    for name, content, words in [("e.smi", "", "the file is empty"), ("h.csv", "id,smiles\n", "has a header but no"),
                                 ("m.csv", "id,structure\na,CCO\n", "no SMILES column 'smiles'")]:
        p = tmp_path / name
        p.write_text(content)
        with pytest.raises(InputError, match=f"{name}: .*{words}"):
            library_index(p, cache_dir=tmp_path / "index")
    with pytest.raises(InputError, match="nothere.smi: file not found"):
        library_index(tmp_path / "nothere.smi", cache_dir=tmp_path / "index")


def test_a_plugin_format_without_blocks_is_read_in_shards_too(tmp_path):
    def lines_records(path, *, smiles_column="smiles", id_column=None, sdf_id_property=None):
        for i, line in enumerate(path.read_text().splitlines(), start=1):
            yield i, f"p{i % 30}", line, "", None

    READERS.register("plain_lines", lines_records, suffixes=(".plain",), kind="smiles")
    try:
        p = tmp_path / "x.plain"
        p.write_text("CCO\n" * 45)
        recs, rejs, idx = _sharded(p, 10)
        whole, whole_rej = read_molecules(p)
        pd.testing.assert_frame_equal(recs, _norm(whole), check_dtype=False)
        assert len(rejs) == 15 and len(idx.duplicates) == 15
    finally:
        READERS.unregister("plain_lines")
