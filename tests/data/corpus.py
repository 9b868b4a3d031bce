"""The bad-input corpus: small broken inputs and what the public entry points must make of them.

Every case writes its input file(s) into an empty folder and names the command line to run
(``theraflow ...``, or ``snakemake -n`` for a few workflow configs). What must happen:

- ``reject``: the command succeeds (exit 0) and its rejects table has a row for the bad
  record whose reason contains ``match``; the records kept plus the records rejected are
  all the records of the input (``records_in``): nothing is dropped silently;
- ``error``: the command fails (non-zero exit) with a message on stderr that names the file
  (``file``, a basename) and, where there is one, the record (``record``: an id, a line
  or row number), contains ``match``, and holds no traceback.

Categories: ``molecules`` (standardize / featurize), ``pairs`` (``dti dataset``),
``configs`` (model configs, featurizer options, the workflow config) and ``scans``
(``seg datalist``). :data:`CASES` lists them all; tests/test_bad_input_corpus.py runs them.
"""

from __future__ import annotations

import gzip
import json
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CATEGORIES = ("molecules", "pairs", "configs", "scans")


@dataclass(frozen=True)
class Case:
    category: str
    name: str
    build: Callable[[Path], list[str]]  # writes the inputs into the folder; returns the command's arguments
    expect: str                         # "reject" or "error"
    match: str                          # expected in the reject reason / in the error message
    record: str | None = None           # reject: id of the rejects row; error: the record the message names
    file: str | None = None             # error: the file (basename) the message names
    records_in: int | None = None       # reject: records in the input (= kept + rejected)
    output: str = "out.tsv"             # reject: the table of kept records the command writes
    rejects: str = "rejects.tsv"        # reject: the rejects table the command writes
    runner: str = "cli"                 # "cli": theraflow in-process; "snakemake": snakemake -n in a subprocess
    record_column: str = "id"           # reject: the rejects-table column that names the record

    @property
    def id(self) -> str:
        return f"{self.category}/{self.name}"

    def __post_init__(self) -> None:
        assert self.category in CATEGORIES, self.category
        assert self.expect in ("reject", "error"), self.expect
        assert self.expect == "error" or (self.record and self.records_in), self.name
        assert self.expect == "reject" or self.file or (self.runner == "snakemake" and self.record), self.name


CASES: list[Case] = []


def case(category: str, name: str, build, expect: str, match: str, **kw) -> None:
    CASES.append(Case(category, name, build, expect, match, **kw))


def _write(path: Path, content: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


# ------------------------------------------------------------------ molecules
def standardize(name: str, content: bytes | str, *extra: str):
    """Build: write ``name`` and standardize it into out.tsv + rejects.tsv."""

    def build(d: Path) -> list[str]:
        _write(d / name, content)
        return ["standardize", str(d / name), "-o", str(d / "out.tsv"), "--rejects", str(d / "rejects.tsv"), *extra]

    return build


def standardize_written(name: str, writer: Callable[[Path], None], *extra: str):
    def build(d: Path) -> list[str]:
        writer(d / name)
        return ["standardize", str(d / name), "-o", str(d / "out.tsv"), "--rejects", str(d / "rejects.tsv"), *extra]

    return build


def smi_reject(name: str, line: bytes | str, match: str, *extra: str, mol_id: str = "bad") -> None:
    """A .smi file: a good record, the bad one (id ``bad``), another good one."""
    body = line if isinstance(line, bytes) else line.encode("utf-8")
    content = b"CCO ok\n" + body + b"\nc1ccccc1O fine\n"
    case("molecules", name, standardize("in.smi", content, *extra), "reject", match, record=mol_id, records_in=3)


smi_reject("unparsable-smiles", "C1CC( bad", "unparsable SMILES")
smi_reject("unclosed-ring", "C1CCCC bad", "unparsable SMILES")
smi_reject("unbalanced-brackets", "CC[N+ bad", "unparsable SMILES")
smi_reject("unknown-element", "C[Xx]C bad", "unparsable SMILES")
smi_reject("nul-byte-in-smiles", b"CC\x00C bad", "unparsable SMILES")
smi_reject("valence-error", "CN(C)(C)(C)C bad", "valence error")
smi_reject("pentavalent-carbon", "C(C)(C)(C)(C)C bad", "valence error")
smi_reject("kekulization-failure", "c1cccc1 bad", "kekulization failed")
smi_reject("aromatic-n-without-h", "c1ccnc1C bad", "kekulization failed")
smi_reject("very-large-molecule", "C" * 400 + " bad", "limit is 150")
smi_reject("inorganic-salt", "[Na+].[Cl-] bad", "no organic")
smi_reject("hydrogen-only", "[H][H] bad", "no organic")
smi_reject("non-utf8-bytes", b"C\xff\xfeC bad", "line 2: not valid UTF-8", mol_id="in-000002")
smi_reject("extremely-long-line", "C" * 30_000 + " bad", "limit 20000")
smi_reject("duplicate-id", "CCN ok", "duplicate id 'ok'", mol_id="ok")
smi_reject("mixture-without-largest-fragment", "CCO.CCN bad", "mixture of 2 fragments", "--no-largest-fragment")
smi_reject("below-min-heavy-atoms", "C bad", "minimum is 2", "--min-heavy-atoms", "2")

case("molecules", "csv-empty-smiles", standardize("in.csv", "id,smiles\na,CCO\nbad,\nc,CCN\n"),
     "reject", "empty SMILES", record="bad", records_in=3)
case("molecules", "csv-whitespace-smiles", standardize("in.csv", "id,smiles\na,CCO\nbad,   \nc,CCN\n"),
     "reject", "empty SMILES", record="bad", records_in=3)
case("molecules", "csv-non-utf8-row", standardize("in.csv", b"id,smiles\na,CCO\nbad,C\xe9C\n"),
     "reject", "row 3: not valid UTF-8", record="bad", records_in=2)
case("molecules", "tsv-duplicate-id", standardize("in.tsv", "id\tsmiles\na\tCCO\na\tCCN\n"),
     "reject", "duplicate id 'a' (first seen at record 1)", record="a", records_in=2)

# whitespace inside a SMILES field: RDKit would stop at it and keep only the first part
case("molecules", "csv-newline-in-smiles", standardize("in.csv", 'id,smiles\na,CCO\nbad,"C\nC"\nc,CCN\n'),
     "reject", "SMILES holds a newline at position 2", record="bad", records_in=3)
case("molecules", "csv-crlf-in-smiles", standardize("in.csv", 'id,smiles\r\na,CCO\r\nbad,"CC\r\nO"\r\nc,CCN\r\n'),
     "reject", "SMILES holds a carriage return at position 3", record="bad", records_in=3)
case("molecules", "csv-space-in-smiles", standardize("in.csv", "id,smiles\na,CCO\nbad,CC O\nc,CCN\n"),
     "reject", "SMILES holds a space at position 3; RDKit would read only 'CC'", record="bad", records_in=3)
case("molecules", "tsv-tab-in-smiles", standardize("in.tsv", 'id\tsmiles\na\tCCO\nbad\t"C\tC"\nc\tCCN\n'),
     "reject", "SMILES holds a tab at position 2", record="bad", records_in=3)


def _parquet_newline_smiles(path: Path) -> None:
    import pandas as pd

    pd.DataFrame({"id": ["a", "bad", "c"], "smiles": ["CCO", "c1ccccc1\nCCCl", "CCN"]}).to_parquet(path)


case("molecules", "parquet-newline-in-smiles", standardize_written("in.parquet", _parquet_newline_smiles),
     "reject", "SMILES holds a newline at position 9", record="bad", records_in=3)


def _parquet_null_smiles(path: Path) -> None:
    import pandas as pd

    pd.DataFrame({"id": ["a", "bad"], "smiles": ["CCO", None]}).to_parquet(path)


case("molecules", "parquet-null-smiles", standardize_written("in.parquet", _parquet_null_smiles),
     "reject", "empty SMILES", record="bad", records_in=2)

_MOLBLOCK = """{title}
  theraflow          2D

  2  1  0  0  0  0  0  0  0  0999 V2000
    0.0000    0.0000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0
    1.5000    0.0000    0.0000 O   0  0  0  0  0  0  0  0  0  0  0  0
  1  2  1  0
M  END
$$$$
"""
_BROKEN_BLOCK = """bad
  theraflow          2D

  3  2  0  0  0  0  0  0  0  0999 V2000
    0.0000    0.0000    0.0000 C   0  0
M  END
$$$$
"""
_NO_ATOMS = """bad
  theraflow          2D

  0  0  0  0  0  0  0  0  0  0999 V2000
M  END
$$$$
"""
_BAD_ELEMENT = _MOLBLOCK.replace(" O   0", " Qq  0").replace("{title}", "bad")

case("molecules", "sdf-broken-record", standardize("in.sdf", _MOLBLOCK.format(title="a") + _BROKEN_BLOCK
                                                   + _MOLBLOCK.format(title="c")),
     "reject", "broken molblock", record="bad", records_in=3)
case("molecules", "sdf-record-without-atoms", standardize("in.sdf", _MOLBLOCK.format(title="a") + _NO_ATOMS),
     "reject", "describes no atoms", record="bad", records_in=2)
case("molecules", "sdf-unknown-element", standardize("in.sdf", _MOLBLOCK.format(title="a") + _BAD_ELEMENT),
     "reject", "broken molblock", record="bad", records_in=2)
case("molecules", "sdf-non-utf8-record",
     standardize("in.sdf", _MOLBLOCK.format(title="a").encode() + _MOLBLOCK.format(title="b\xe9").encode("latin-1")),
     "reject", "SDF record 2: not valid UTF-8", record="in-000002", records_in=2)
case("molecules", "sdf-truncated-record",
     standardize("in.sdf", _MOLBLOCK.format(title="a") + _MOLBLOCK.format(title="bad")[:60]),
     "reject", "broken molblock", record="bad", records_in=2)

# whole files that cannot be used: an error naming the file
case("molecules", "empty-smi-file", standardize("in.smi", ""), "error", "the file is empty", file="in.smi")
case("molecules", "empty-csv-file", standardize("in.csv", ""), "error", "the file is empty", file="in.csv")
case("molecules", "empty-sdf-file", standardize("in.sdf", "\n\n"), "error", "the file is empty", file="in.sdf")
case("molecules", "header-only-csv", standardize("in.csv", "id,smiles\n"), "error", "has a header but no records",
     file="in.csv")
case("molecules", "header-only-smi", standardize("in.smi", "smiles name\n"), "error",
     "has a header line but no molecules", file="in.smi")
case("molecules", "csv-missing-smiles-column", standardize("in.csv", "id,structure\na,CCO\n"), "error",
     "no SMILES column 'smiles'", file="in.csv")
case("molecules", "tsv-missing-smiles-column", standardize("in.tsv", "id\tstructure\na\tCCO\n"), "error",
     "no SMILES column 'smiles'", file="in.tsv")


def _parquet_without_smiles(path: Path) -> None:
    import pandas as pd

    pd.DataFrame({"id": ["a"], "structure": ["CCO"]}).to_parquet(path)


case("molecules", "parquet-missing-smiles-column", standardize_written("in.parquet", _parquet_without_smiles),
     "error", "no SMILES column 'smiles'", file="in.parquet")
_SMI_GZ = gzip.compress(b"".join(b"CCO m%d\n" % i for i in range(200)))
case("molecules", "truncated-smi-gz", standardize("in.smi.gz", _SMI_GZ[: len(_SMI_GZ) // 2]), "error", "not a valid gzip file", file="in.smi.gz")
case("molecules", "truncated-sdf-gz",
     standardize("in.sdf.gz", gzip.compress(_MOLBLOCK.format(title="a").encode() * 20)[:50]),
     "error", "not a valid gzip file", file="in.sdf.gz")
case("molecules", "gz-suffix-not-gzip", standardize("in.smi.gz", "CCO a\n"), "error", "not a valid gzip file",
     file="in.smi.gz")
_CSV_GZ = gzip.compress(b"id,smiles\n" + b"".join(b"m%d,CCO\n" % i for i in range(200)))
case("molecules", "truncated-csv-gz", standardize("in.csv.gz", _CSV_GZ[: len(_CSV_GZ) // 2]), "error",
     "truncated or corrupt", file="in.csv.gz")
# nothing usable left: every record rejected is a failure (non-zero exit), the rejects still written
case("molecules", "every-record-rejected", standardize("in.smi", "C1CC( a\n[Na+].[Cl-] b\n"), "error",
     "nothing usable is left: all 2 record(s) were rejected", file="in.smi")
case("molecules", "wrong-extension", standardize("in.xyz", "CCO a\n"), "error",
     "cannot tell the molecule format", file="in.xyz")
case("molecules", "binary-garbage-parquet", standardize("in.parquet", bytes(range(256)) * 4), "error",
     "cannot be read as Parquet", file="in.parquet")
case("molecules", "missing-file", lambda d: ["standardize", str(d / "nothere.smi"), "-o", str(d / "o.tsv"),
                                             "--rejects", str(d / "r.tsv")],
     "error", "file not found", file="nothere.smi")
case("molecules", "directory-as-input",
     lambda d: (d / "in.smi").mkdir() or ["standardize", str(d / "in.smi"), "-o", str(d / "o.tsv"),
                                          "--rejects", str(d / "r.tsv")],
     "error", "is a directory", file="in.smi")


# featurize: a standardized table (e.g. edited by hand) with records the featurizer cannot take
def featurize(rows: list[tuple[str, str]] | None, *extra: str, table: Callable[[Path], None] | None = None,
              name: str = "std.parquet"):
    def build(d: Path) -> list[str]:
        import pandas as pd

        if table is not None:
            table(d / name)
        else:
            pd.DataFrame({"id": [r[0] for r in rows], "record": np.arange(1, len(rows) + 1, dtype=np.int64),
                          "smiles": [r[1] for r in rows]}).to_parquet(d / name)
        return ["featurize", str(d / name), "-o", str(d / "out.parquet"), "--rejects", str(d / "rejects.tsv"),
                "--store", str(d / "store"), *extra]

    return build


case("molecules", "featurize-unparsable-smiles", featurize([("a", "CCO"), ("bad", "C1CC(")]), "reject",
     "could not parse", record="bad", records_in=2, output="out.parquet")
case("molecules", "featurize-empty-smiles", featurize([("a", "CCO"), ("bad", "")]), "reject",
     "empty SMILES", record="bad", records_in=2, output="out.parquet")
case("molecules", "featurize-newline-in-smiles", featurize([("a", "CCO"), ("bad", "C\nC")]), "reject",
     "SMILES holds a newline", record="bad", records_in=2, output="out.parquet")
case("molecules", "featurize-pyg-out-of-vocabulary", featurize([("a", "CCO"), ("bad", "C[C-6]C")], "--featurizer",
                                                                "pyg"),
     "reject", "outside PyG's vocabulary", record="bad", records_in=2, output="out.parquet")
case("molecules", "featurize-table-without-smiles", featurize(None, table=_parquet_without_smiles), "error",
     "no column(s) record, smiles", file="std.parquet")
case("molecules", "featurize-csv-as-parquet", featurize(None, table=lambda p: _write(p, "id,smiles\na,CCO\n")),
     "error", "Parquet", file="std.parquet")


# ---------------------------------------------------------------------- pairs
PAIR_HEADER = "drug_id,smiles,target_id,sequence,label\n"
GOOD_PAIR = "d1,CCO,t1,MKVLAT,5.0\n"


def pair_table(content: bytes | str, name: str = "pairs.csv", *extra: str):
    """Build: `theraflow dti dataset --source table --label regression` of this pair table.

    The label kind is declared, as a config does for an affinity table: of two rows, one bad label is half
    the labels, and labels that are not (95 %) numbers are inferred as classes (theraflow.pairs.source).
    """

    def build(d: Path) -> list[str]:
        _write(d / name, content)
        return ["dti", "dataset", "--source", "table", "--path", str(d / name), "--label", "regression",
                "--outdir", str(d / "ds"), *extra]

    return build


def pair_error(name: str, content: bytes | str, match: str, record: str | None = None,
               file: str = "pairs.csv", *extra: str) -> None:
    case("pairs", name, pair_table(content, file, *extra), "error", match, file=file, record=record)


pair_error("missing-label-column", "drug_id,smiles,target_id,sequence\nd1,CCO,t1,MKV\n", "missing column(s) label")
pair_error("missing-smiles-column", "drug_id,target_id,sequence,label\nd1,t1,MKV,5\n", "missing column(s) smiles")
# a bad row stops the load naming the file's line and the column (with --on-error stop) ...
BAD_ROWS = [
    ("non-numeric-label", GOOD_PAIR + "d2,CCN,t1,MKVLAT,strong\n", "label", "not a finite number: 'strong'"),
    ("empty-label", GOOD_PAIR + "d2,CCN,t1,MKVLAT,\n", "label", "empty label"),
    ("nan-label", GOOD_PAIR + "d2,CCN,t1,MKVLAT,NaN\n", "label", "not a finite number: 'NaN'"),
    ("infinite-label", GOOD_PAIR + "d2,CCN,t1,MKVLAT,inf\n", "label", "not a finite number: 'inf'"),
    ("missing-smiles", GOOD_PAIR + "d2,,t1,MKVLAT,5.1\n", "smiles", "empty SMILES"),
    ("missing-target-id", GOOD_PAIR + "d2,CCN,,MKVLAT,5.1\n", "target_id", "empty target_id"),
    ("missing-drug-id", GOOD_PAIR + ",CCN,t1,MKVLAT,5.1\n", "drug_id", "empty drug_id"),
    ("invalid-amino-acids", GOOD_PAIR + "d2,CCN,t2,MKV1T*,5.1\n", "sequence", "the sequence holds '1' at position 4"),
    ("sequence-is-smiles", GOOD_PAIR + "d2,CCN,t2,CC(=O)Nc1ccccc1,5.1\n", "sequence", "the sequence holds '(' at position 3"),
    ("star-in-sequence", GOOD_PAIR + "d2,CCN,t2,MKV*LL,5.1\n", "sequence", "the sequence holds '*' at position 4"),
    ("empty-sequence-among-sequences", GOOD_PAIR + "d2,CCN,t2,,5.1\n", "sequence", "no sequence for target 't2'"),
    ("target-with-two-sequences", GOOD_PAIR + "d2,CCN,t1,MKVLATT,5.1\n", "sequence",
     "target 't1' has another sequence than on its first line"),
    ("drug-with-two-smiles", GOOD_PAIR + "d1,CCN,t2,MKVLAT,5.1\n", "smiles",
     "drug 'd1' has another smiles than on its first line"),
]
for _name, _rows, _column, _why in BAD_ROWS:
    pair_error(_name, PAIR_HEADER + _rows, f"line 3, column '{_column}': {_why}", "line 3", "pairs.csv",
               "--on-error", "stop")


# ... or, with --on-error reject (the default), is a rejects row (file, line, column, reason) and the rest loads
def pair_reject(name: str, content: str, match: str) -> None:
    def build(d: Path) -> list[str]:
        return pair_table(content)(d)

    case("pairs", name, build, "reject", match, record="line 3", records_in=2, output="ds/pairs.parquet",
         rejects="ds/rejects.tsv", record_column="line")


for _name, _rows, _column, _why in BAD_ROWS:
    pair_reject(f"{_name}-rejected", PAIR_HEADER + _rows, _why)


# binary tables: a label that is not 0/1 (declared binary), a label a threshold cannot compare
def pair_reject_binary(name: str, rows: str, match: str, *options: str) -> None:
    def build(d: Path) -> list[str]:
        _write(d / "pairs.csv", PAIR_HEADER + rows)
        return ["dti", "dataset", "--source", "table", "--path", str(d / "pairs.csv"), "--outdir", str(d / "ds"),
                *options]

    case("pairs", name, build, "reject", match, record="line 3", records_in=2, output="ds/pairs.parquet",
         rejects="ds/rejects.tsv", record_column="line")


pair_reject_binary("binary-label-not-0-or-1", "d1,CCO,t1,MKVLAT,1\nd2,CCN,t1,MKVLAT,2\n",
                   "label '2' is not one of the classes (0, 1)", "--label", "binary")
pair_reject_binary("threshold-label-not-a-number", GOOD_PAIR + "d2,CCN,t1,MKVLAT,strong\n",
                   "not a number to compare with the threshold 6.0: 'strong'", "--threshold", "6")
pair_error("header-only-table", PAIR_HEADER, "no pairs")
pair_error("empty-file", "", "cannot be read as a table")
pair_error("non-utf8-table", PAIR_HEADER.encode() + b"d2,CC\xe9N,t1,MKVLAT,5.1\n", "cannot be read as a table")
_PAIRS_GZ = gzip.compress((PAIR_HEADER + "".join(f"d{i},CCO,t1,MKVLAT,5.0\n" for i in range(300))).encode())
pair_error("truncated-pair-table-gz", _PAIRS_GZ[: len(_PAIRS_GZ) // 2], "is truncated or corrupt", None,
           "pairs.csv.gz")
# a quoted field holding line breaks (and a blank line) before the bad row: the file's own line is named
_MULTILINE = ("drug_id,smiles,target_id,sequence,label,note\nd1,CCO,t1,MKVLAT,5.0,\n"
              'd2,CCN,t1,MKVLAT,5.1,"measured twice:\nsee the lab book"\n\nd3,CCC,t1,MKVLAT,strong,\n')
pair_error("bad-row-after-multiline-field", _MULTILINE, "line 6, column 'label': not a finite number: 'strong'",
           "line 6", "pairs.csv", "--on-error", "stop")
case("pairs", "bad-row-after-multiline-field-rejected", pair_table(_MULTILINE), "reject",
     "not a finite number: 'strong'", record="line 6", records_in=3, output="ds/pairs.parquet",
     rejects="ds/rejects.tsv", record_column="line")
case("pairs", "missing-pair-table",
     lambda d: ["dti", "dataset", "--source", "table", "--path", str(d / "nothere.csv"), "--outdir", str(d / "ds")],
     "error", "file not found", file="nothere.csv")


def _parquet_pairs(path: Path) -> None:
    import pandas as pd

    pd.DataFrame({"drug_id": ["d1"], "smiles": ["CCO"], "target_id": ["t1"], "affinity": [5.0]}).to_parquet(path)


case("pairs", "parquet-missing-label-column",
     lambda d: _parquet_pairs(d / "pairs.parquet") or ["dti", "dataset", "--source", "table", "--path",
                                                       str(d / "pairs.parquet"), "--outdir", str(d / "ds")],
     "error", "missing column(s) label", file="pairs.parquet")


def good_dataset(d: Path) -> None:
    """A good data set in ``d`` (pairs.parquet, dataset.json, ...: what `theraflow dti dataset` writes, which
    the later stages read their task and label kind from): 2 drugs x 2 targets known by id, affinities."""
    from theraflow.pairs.stages import prepare_dataset

    table = _write(d / "good.csv", "drug_id,smiles,target_id,label\nd1,CCO,t1,5.0\nd1,CCO,t2,6.0\n"
                                   "d2,CCN,t1,7.0\nd2,CCN,t2,8.0\n")
    prepare_dataset("dti", {"source": "table", "path": str(table), "label": "regression"}, d)


def split(pairs: bytes | str | None, folds: str | None, kind: str = "setting1"):
    """Build: `theraflow dti split` of a data set's pairs table (None: a good one) with a folds file."""

    def build(d: Path) -> list[str]:
        good_dataset(d)
        if pairs is not None:
            _write(d / "pairs.parquet", pairs)
        args = ["dti", "split", "--pairs", str(d / "pairs.parquet"), "--kind", kind, "--outdir", str(d / "split")]
        if folds is not None:
            _write(d / "folds.json", folds)
            args += ["--folds", str(d / "folds.json")]
        return args

    return build


case("pairs", "split-setting1-without-folds", split(None, "{}"), "error", "needs DeepDTA fold files",
     file="pairs.parquet")
case("pairs", "split-folds-not-json", split(None, "{train: [0]"), "error", "not valid JSON", file="folds.json")
case("pairs", "split-pairs-not-parquet", split(PAIR_HEADER + GOOD_PAIR, None, "random"), "error", "Parquet",
     file="pairs.parquet")


# DeepDTA-format directories (ligands_can.txt, proteins.txt, Y, folds/)
class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > pwned.txt",))


def deepdta(y: object = None, *, ligands: str | None = None, proteins: str | None = None, y_bytes: bytes | None = None,
            folds: dict[str, str] | None = None, dataset: str = "davis"):
    def build(d: Path) -> list[str]:
        root = d / "davis"
        root.mkdir()
        _write(root / "ligands_can.txt", ligands if ligands is not None else json.dumps({"L1": "CCO", "L2": "CCN"}))
        if proteins != "":
            _write(root / "proteins.txt", proteins or json.dumps({"P1": "MKVLAT", "P2": "MTTAAV"}))
        if y_bytes is not None:
            _write(root / "Y", y_bytes)
        else:
            arr = np.array([[10.0, 100.0], [1000.0, 10000.0]]) if y is None else y
            _write(root / "Y", pickle.dumps(arr, protocol=2))
        for name, text in (folds or {}).items():
            _write(root / "folds" / name, text)
        return ["dti", "dataset", "--source", "deepdta", "--path", str(root), "--dataset", dataset,
                "--outdir", str(d / "ds")]

    return build


def dta_error(name: str, build, match: str, file: str, record: str | None = None) -> None:
    case("pairs", name, build, "error", match, file=file, record=record)


dta_error("deepdta-malicious-pickle", deepdta(y_bytes=pickle.dumps(_Evil())), "refusing to unpickle", "Y")
dta_error("deepdta-y-not-a-pickle", deepdta(y_bytes=b"\x00\x01garbage" * 10), "not a readable pickled numpy array",
          "Y")
dta_error("deepdta-y-of-strings", deepdta(np.array([["a", "b"], ["c", "d"]])), "expected a numeric numpy array",
          "Y")
dta_error("deepdta-y-list-not-array", deepdta([[1.0, 2.0], [3.0, 4.0]]), "expected a numeric numpy array",
          "Y")
dta_error("deepdta-y-shape-mismatch", deepdta(np.ones((3, 2))), "matrix is 3x2", "Y")
dta_error("deepdta-negative-kd", deepdta(np.array([[10.0, -5.0], [1000.0, 10000.0]])), "finite", "Y", "row 1")
dta_error("deepdta-zero-kd", deepdta(np.array([[10.0, 100.0], [0.0, 10000.0]])), "finite", "Y", "row 2")
dta_error("deepdta-infinite-value", deepdta(np.array([[np.inf, 1.0], [2.0, 3.0]]), dataset="kiba"), "finite", "Y",
          "row 1")
dta_error("deepdta-ligands-not-json", deepdta(ligands="L1: CCO\n"), "not valid JSON", "ligands_can.txt")
dta_error("deepdta-duplicate-ligand-id", deepdta(ligands='{"L1": "CCO", "L1": "CCN"}'), "'L1' appears twice",
          "ligands_can.txt", "'L1'")
dta_error("deepdta-ligand-not-a-string", deepdta(ligands='{"L1": "CCO", "L2": 5}'),
          "expected a JSON object mapping ids to strings", "ligands_can.txt")
dta_error("deepdta-missing-proteins", deepdta(proteins=""), "file not found", "proteins.txt")
dta_error("deepdta-broken-folds", deepdta(folds={"train_fold_setting1.txt": "[[0, 1], [2",
                                                 "test_fold_setting1.txt": "[3]"}),
          "not valid JSON", "train_fold_setting1.txt")
dta_error("deepdta-fold-index-out-of-range", deepdta(folds={"train_fold_setting1.txt": "[[0], [1]]",
                                                            "test_fold_setting1.txt": "[7]"}),
          "outside", "test_fold_setting1.txt")


# -------------------------------------------------------------------- configs
def dti_model_config(text: bytes | str | None):
    """Build: `theraflow dti train` with this model config (it is read before the pairs, once the data set's
    dataset.json has said which task it trains)."""

    def build(d: Path) -> list[str]:
        good_dataset(d)
        if text is not None:
            _write(d / "model.yaml", text)
        return ["dti", "train", "--pairs", str(d / "pairs.parquet"), "--split", str(d / "split.parquet"),
                "--molecules", str(d / "molecules.parquet"), "--store", str(d / "store"),
                "--model-config", str(d / "model.yaml"), "--outdir", str(d / "run")]

    return build


GOOD_DTI = """name: m
drug_encoder: {type: gin, hidden: 16, layers: 2}
target_encoder: {type: id, id_dim: 4}
"""


def dti_config_error(name: str, text: bytes | str | None, match: str, record: str | None = None) -> None:
    case("configs", name, dti_model_config(text), "error", match, file="model.yaml", record=record)


# the model-config schema's messages: file, key path (dotted), problem
dti_config_error("dti-unknown-key", GOOD_DTI + "epochs: 3\n", "unknown key(s) 'epochs'; expected one of",
                 "(top level)")
dti_config_error("dti-unknown-nested-key", GOOD_DTI + "head: {hiden: [16]}\n", "unknown key(s) 'hiden'", "head")
dti_config_error("dti-wrong-type", GOOD_DTI.replace("hidden: 16", "hidden: big"), "is not of type 'integer'",
                 "drug_encoder.hidden")
dti_config_error("dti-negative-number", GOOD_DTI.replace("layers: 2", "layers: -2"), "less than the minimum",
                 "drug_encoder.layers")
dti_config_error("dti-bad-enum", GOOD_DTI.replace("type: gin", "type: transformer"), "is not one of",
                 "drug_encoder.type")
dti_config_error("dti-missing-required-key", "name: m\ndrug_encoder: {type: gin}\n",
                 "target_encoder missing: task dti joins molecule and protein")
dti_config_error("dti-unknown-featurizer", GOOD_DTI + "featurizer: {name: morgan}\n", "is not one of",
                 "featurizer.name")
dti_config_error("dti-non-utf8-file", GOOD_DTI.encode() + b"description: caf\xe9\n", "not valid YAML")
dti_config_error("dti-yaml-syntax-error", GOOD_DTI + "training: {max_epochs: 3\n", "not valid YAML")
dti_config_error("dti-top-level-list", "- name: m\n- drug_encoder: gin\n", "expected a mapping")
dti_config_error("dti-empty-file", "", "'name' is a required property")
dti_config_error("dti-missing-file", None, "model config not found")


def seg_model_config(text: bytes | str, *extra: str):
    """Build: `theraflow seg preprocess` with this model config (resolved before the datalist is read)."""

    def build(d: Path) -> list[str]:
        _write(d / "seg.yaml", text)
        return ["seg", "preprocess", str(d / "datalist.tsv"), "--model-config", str(d / "seg.yaml"),
                "--cache", str(d / "cache"), *extra]

    return build


def seg_config_error(name: str, text: bytes | str, match: str, record: str | None = None, *extra: str) -> None:
    case("configs", name, seg_model_config(text, *extra), "error", match, file="seg.yaml", record=record)


seg_config_error("seg-unknown-key", "train: {max_epoch: 3}\n", "unknown key(s) 'max_epoch'", "train")
seg_config_error("seg-bad-enum", "preprocess: {intensity: histogram}\n", "'histogram' is not one of",
                 "preprocess.intensity")
seg_config_error("seg-wrong-type", "train: {max_epochs: ten}\n", "train.max_epochs")
seg_config_error("seg-negative-number", "train: {batch_size: -2}\n", "train.batch_size")
seg_config_error("seg-bool-for-number", "augment: {flip_prob: yes}\n", "is not of type 'number'", "augment.flip_prob")
seg_config_error("seg-section-not-a-mapping", "train: 5\n", "is not of type 'object'", "train")
seg_config_error("seg-list-for-number", "infer: {overlap: [0.5]}\n", "is not of type 'number'", "infer.overlap")
seg_config_error("seg-yaml-syntax-error", "train: [1, 2\n", "not valid YAML")
seg_config_error("seg-non-utf8-file", b"name: caf\xe9\n", "not valid YAML")
seg_config_error("seg-top-level-list", "- train\n- infer\n", "expected a mapping at the top level")
seg_config_error("seg-labels-with-gap", "labels: {0: background, 2: b}\n", "without gaps")
seg_config_error("seg-patch-not-divisible", "train: {patch_size: [30, 30, 30]}\n", "multiples of")
seg_config_error("seg-unknown-network", "network: {name: transformer9000}\n", "transformer9000")
seg_config_error("seg-bad-override", "name: x\n", "unknown key(s) 'epochs'", "(override train.epochs): train",
                 "--set", "train.epochs=2")


# workflow configs (validated against pipelines/schemas/config.schema.yaml by `snakemake`; slow, so only three)
def workflow_config(text: str):
    def build(d: Path) -> list[str]:
        _write(d / "workflow.yaml", text)
        return ["-n", "--configfile", str(d / "workflow.yaml")]

    return build


# The workflow's own check (pipelines/rules/common.smk) names the config file, the key path and the problem.
case("configs", "workflow-unknown-key", workflow_config("results: r\nmolecule: {}\n"), "error",
     "unknown key(s) 'molecule'; expected one of", file="workflow.yaml", record="(top level)", runner="snakemake")
case("configs", "workflow-wrong-type",
     workflow_config("results: r\nmolecules: {lib: {path: x.smi, shards: two}}\n"), "error",
     "is not of type 'integer'", file="workflow.yaml", record="molecules.lib.shards", runner="snakemake")
case("configs", "workflow-bad-enum", workflow_config("results: r\nfeaturize: {featurizer: morgan}\n"), "error",
     "'morgan' is not one of", file="workflow.yaml", record="featurize.featurizer", runner="snakemake")


# ---------------------------------------------------------------------- scans
def _nifti(path: Path, array: np.ndarray, affine: np.ndarray | None = None) -> Path:
    import nibabel as nib

    affine = np.eye(4) if affine is None else affine
    img = nib.Nifti1Image(array, affine)
    img.set_sform(affine, 1)
    img.set_qform(affine, 1)
    data = img.to_bytes()
    return _write(path, gzip.compress(data) if path.name.endswith(".gz") else data)


SHAPE = (8, 8, 6)


def _image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 1, SHAPE).astype(np.float32)


def _label() -> np.ndarray:
    lab = np.zeros(SHAPE, np.uint8)
    lab[2:4, 2:4, 2:4] = 1
    lab[5:7, 5:7, 2:4] = 2
    return lab


def _dicom(folder: Path, array: np.ndarray, *, z: list[float] | None = None, sizes: dict[int, int] | None = None
           ) -> None:
    """A DICOM series of ``array`` (rows, cols, slices) at slice positions ``z``."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    series, study = generate_uid(), generate_uid()
    data = np.asarray(array, dtype=np.int16)
    z = z if z is not None else [2.0 * k for k in range(data.shape[2])]
    for k, pos in enumerate(z):
        plane = data[:, :, k]
        if sizes and k in sizes:
            plane = np.zeros((sizes[k], sizes[k]), np.int16)
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        name = folder / f"slice_{k:03d}.dcm"
        ds = FileDataset(str(name), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.PatientID = "MR", "TEST"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [0.0, 0.0, float(pos)]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [1.0, 1.0]
        ds.SliceThickness = 2.0
        ds.Rows, ds.Columns = plane.shape
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.PixelData = np.ascontiguousarray(plane).tobytes()
        ds.save_as(str(name), enforce_file_format=True)


def scans(bad: Callable[[Path, Path], None], *extra: str, on_error: str = "reject", good: bool = True):
    """Build: images/ + labels/ with one good case ``good`` and the bad case ``bad`` (written by ``bad``)."""

    def build(d: Path) -> list[str]:
        images, labels = d / "images", d / "labels"
        images.mkdir()
        labels.mkdir()
        if good:
            _nifti(images / "good.nii.gz", _image())
            _nifti(labels / "good.nii.gz", _label())
        bad(images, labels)
        return ["seg", "datalist", "--images", str(images), "--labels", str(labels), "--label-values", "0", "1", "2",
                "--on-error", on_error, "-o", str(d / "out.tsv"), "--rejects", str(d / "rejects.tsv"), *extra]

    return build


def scan_case(name: str, bad: Callable[[Path, Path], None], match: str, *extra: str) -> None:
    """With ``--on-error reject``: the bad case is a rejects row, the good one is kept."""
    case("scans", name, scans(bad, *extra), "reject", match, record="bad", records_in=2)


def scan_stop(name: str, bad: Callable[[Path, Path], None], match: str, file: str, *extra: str) -> None:
    """With ``--on-error stop``: the run stops with a message naming the case and its file."""
    case("scans", name, scans(bad, *extra, on_error="stop"), "error", match, file=file, record="case bad")


def _truncated(images: Path, labels: Path) -> None:
    p = _nifti(images / "bad.nii.gz", _image())
    p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])
    _nifti(labels / "bad.nii.gz", _label())


def _pair(image: np.ndarray, label: np.ndarray | None = None, label_affine: np.ndarray | None = None):
    def bad(images: Path, labels: Path) -> None:
        _nifti(images / "bad.nii.gz", image)
        if label is not None:
            _nifti(labels / "bad.nii.gz", label, label_affine)

    return bad


def _with(value, where=(1, 2, 3)) -> np.ndarray:
    img = _image(1)
    img[where] = value
    return img


def _label_with(value) -> np.ndarray:
    lab = _label().astype(np.float32)
    lab[0, 0, 0] = value
    return lab


_shifted = np.eye(4)
_shifted[:3, 3] = [5.0, 0.0, 0.0]

scan_case("truncated-nifti-gz", _truncated, "truncated or corrupt")
scan_case("2d-image", _pair(np.zeros((8, 8), np.float32)), "2D image")
scan_case("single-slice-volume", _pair(np.zeros((8, 8, 1), np.float32)), "2D image")
scan_case("4d-image", _pair(np.zeros((8, 8, 6, 2), np.float32)), "4D array")
scan_case("nan-voxels", _pair(_with(np.nan), _label()), "not finite")
scan_case("inf-voxels", _pair(_with(np.inf), _label()), "not finite")
scan_case("shape-mismatch", _pair(_image(1), _label()[:, :, :4]), "label shape")
scan_case("affine-mismatch", _pair(_image(1), _label(), _shifted), "label affine differs")
scan_case("label-values-outside-set", _pair(_image(1), _label_with(7)), "outside the declared set")
scan_case("non-integer-labels", _pair(_image(1), _label_with(0.5)), "non-integer values")
scan_case("nan-in-label", _pair(_image(1), _label_with(np.nan)), "label holds NaN")
scan_case("2d-label", _pair(_image(1), np.zeros((8, 8), np.uint8)), "2D image")
scan_case("missing-label-required", _pair(_image(1)), "no label for this case", "--require-labels")
scan_case("empty-nifti-file", lambda i, lab: _write(i / "bad.nii.gz", b"") and None, "not a readable NIfTI")
scan_case("not-a-nifti", lambda i, lab: _write(i / "bad.nii", "this is a text file\n" * 30) and None,
          "not a readable NIfTI")
scan_case("dicom-missing-slice", lambda i, lab: _dicom(i / "bad", _image(2) * 100, z=[0, 2, 4, 8, 10, 12]),
          "1 missing slice(s)")
scan_case("dicom-uneven-spacing", lambda i, lab: _dicom(i / "bad", _image(2) * 100, z=[0, 2, 4, 5, 7, 9]),
          "uneven slice spacing")
scan_case("dicom-duplicate-position", lambda i, lab: _dicom(i / "bad", _image(2) * 100, z=[0, 2, 4, 4, 6, 8]),
          "have the same position")
scan_case("dicom-slice-size-differs", lambda i, lab: _dicom(i / "bad", _image(2) * 100, sizes={3: 6}),
          "expected 8x8")
scan_case("dicom-single-slice", lambda i, lab: _dicom(i / "bad", (_image(2) * 100)[:, :, :1]),
          "a single DICOM slice")
scan_case("dicom-folder-without-dicom",
          lambda i, lab: _write(i / "bad" / "README.txt", "no slices here\n") and None, "no DICOM image slices")

scan_stop("stop-truncated-nifti-gz", _truncated, "truncated or corrupt", "bad.nii.gz")
scan_stop("stop-shape-mismatch", _pair(_image(1), _label()[:, :, :4]), "label shape", "bad.nii.gz")
scan_stop("stop-label-values-outside-set", _pair(_image(1), _label_with(9)), "outside the declared set",
          "bad.nii.gz")
scan_stop("stop-dicom-missing-slice", lambda i, lab: _dicom(i / "bad", _image(2) * 100, z=[0, 2, 4, 8, 10, 12]),
          "missing slice", "bad")


def _csv_cases(text: str):
    def build(d: Path) -> list[str]:
        _nifti(d / "good.nii.gz", _image())
        _write(d / "cases.csv", text)
        return ["seg", "datalist", "--csv", str(d / "cases.csv"), "--on-error", "reject", "-o", str(d / "out.tsv"),
                "--rejects", str(d / "rejects.tsv")]

    return build


case("scans", "csv-missing-image-column", _csv_cases("id,path\na,good.nii.gz\n"), "error",
     "expected columns id, image", file="cases.csv")
case("scans", "csv-duplicate-case-id", _csv_cases("id,image\na,good.nii.gz\na,good.nii.gz\n"), "error",
     "duplicate case id 'a'", file="cases.csv", record="line 3")
case("scans", "csv-empty-image-path", _csv_cases("id,image\na,good.nii.gz\nb,\n"), "error", "empty image path",
     file="cases.csv", record="line 3")
case("scans", "csv-image-not-found", _csv_cases("id,image\na,good.nii.gz\nbad,gone.nii.gz\n"), "reject",
     "file not found", record="bad", records_in=2)
case("scans", "csv-label-not-found", _csv_cases("id,image,label\na,good.nii.gz,\nbad,good.nii.gz,gone.nii.gz\n"),
     "reject", "file not found", record="bad", records_in=2)
case("scans", "csv-image-wrong-format", _csv_cases("id,image\na,good.nii.gz\nbad,scan.png\n"), "reject",
     "expected a NIfTI file", record="bad", records_in=2)
case("scans", "all-cases-bad", scans(_truncated, good=False), "error", "no usable cases", file="bad.nii.gz",
     record="case bad")
case("scans", "empty-images-folder", lambda d: (d / "images").mkdir() or [
    "seg", "datalist", "--images", str(d / "images"), "-o", str(d / "out.tsv")],
     "error", "no NIfTI files", file="images")
