"""Readers of two published file layouts: DeepDTA (Davis, KIBA) and DrugBank drug–drug interactions.

:func:`load_deepdta` returns the task ``dti``'s columns (drug_id, smiles, target_id, sequence, label)
and ``pair_index``: the position of the pair among the measured (non-NaN) entries of the affinity
matrix in row-major order, which is what the DeepDTA fold files list. :func:`load_drugbank_ddi` returns
the task ``ddi``'s columns (drug1, smiles1, drug2, smiles2, label). Users' own tables are read by the
``table`` source (:mod:`theraflow.pairs.sources.table`).

DeepDTA ships its affinity matrix ``Y`` as a Python pickle. A pickle can run code
while it loads, so :func:`load_numpy_pickle` admits only the three globals a pickled
numpy array needs and refuses everything else with an error naming the file.
"""

from __future__ import annotations

import io
import json
import logging
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from theraflow.errors import InputError
from theraflow.io import read_table

log = logging.getLogger(__name__)

PAIR_COLUMNS = ["drug_id", "smiles", "target_id", "sequence", "label"]
_MAX_PICKLE_BYTES = 2 << 30

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # how Python 3 writes the bytes of a protocol-2 array pickle
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def __init__(self, fh, path: Path) -> None:
        super().__init__(fh, encoding="latin1")
        self._path = path

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise InputError(
                f"{self._path}: refusing to unpickle {module}.{name}; only a plain numpy array "
                "is accepted here (the file may be corrupt or malicious)"
            )
        if module == "_codecs":
            import codecs

            return codecs.encode
        if name == "_reconstruct":
            from numpy.core import multiarray  # numpy 2 keeps this alias for old pickles

            return multiarray._reconstruct
        return getattr(np, name)

    def persistent_load(self, pid: Any) -> Any:
        raise InputError(f"{self._path}: refusing a pickle with persistent references")


def load_numpy_pickle(path: str | Path) -> np.ndarray:
    """A numeric numpy array from a pickle, loaded without running arbitrary code."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    size = path.stat().st_size
    if size > _MAX_PICKLE_BYTES:
        raise InputError(f"{path}: {size} bytes is larger than a pickled affinity matrix should be")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            obj = _NumpyOnlyUnpickler(io.BytesIO(path.read_bytes()), path).load()
        except InputError:
            raise
        except Exception as exc:
            raise InputError(f"{path}: not a readable pickled numpy array ({type(exc).__name__}: {exc})") from None
    if not isinstance(obj, np.ndarray) or obj.dtype.kind not in "fiu":
        raise InputError(f"{path}: expected a numeric numpy array, got {type(obj).__name__}"
                         + (f" of dtype {obj.dtype}" if isinstance(obj, np.ndarray) else ""))
    return obj


def _read_json_object(path: Path) -> dict[str, str]:
    if not path.exists():
        raise InputError(f"{path}: file not found")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_no_duplicates(path))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(obj, dict) or not all(isinstance(v, str) for v in obj.values()):
        raise InputError(f"{path}: expected a JSON object mapping ids to strings")
    return obj


def _no_duplicates(path: Path):
    def hook(pairs):
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)):
            dup = next(k for k in keys if keys.count(k) > 1)
            raise InputError(f"{path}: id {dup!r} appears twice")
        return dict(pairs)

    return hook


def davis_label(kd_nm: np.ndarray) -> np.ndarray:
    """pKd = -log10(Kd / 1e9), Kd in nM."""
    return -np.log10(np.asarray(kd_nm, dtype=np.float64) / 1e9)


def load_deepdta(directory: str | Path, dataset: str = "davis", ligands: str = "can") -> pd.DataFrame:
    """Pairs of a DeepDTA-format dataset directory (ligands_*.txt, proteins.txt, Y).

    ``dataset`` selects the label: "davis" converts Kd (nM) to pKd; "kiba" keeps the
    KIBA scores. Rows follow the measured entries of Y in row-major order.
    """
    d = Path(directory)
    if dataset not in ("davis", "kiba"):
        raise ValueError(f"dataset must be 'davis' or 'kiba', got {dataset!r}")
    ligand_map = _read_json_object(d / f"ligands_{ligands}.txt")
    protein_map = _read_json_object(d / "proteins.txt")
    y = load_numpy_pickle(d / "Y")
    if y.shape != (len(ligand_map), len(protein_map)):
        raise InputError(
            f"{d / 'Y'}: matrix is {y.shape[0]}x{y.shape[1]} but there are {len(ligand_map)} ligands "
            f"and {len(protein_map)} proteins"
        )
    rows, cols = np.where(~np.isnan(y))
    drug_ids = list(ligand_map)
    target_ids = list(protein_map)
    values = y[rows, cols]
    with np.errstate(divide="ignore", invalid="ignore"):
        label = davis_label(values) if dataset == "davis" else values.astype(np.float64)
    bad = ~np.isfinite(label)
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(
            f"{d / 'Y'}: {int(bad.sum())} measured value(s) give no finite label; the first is {float(values[i]):g} at "
            f"row {rows[i] + 1}, column {cols[i] + 1} (ligand {drug_ids[rows[i]]!r}, protein {target_ids[cols[i]]!r})"
            + ("; Davis Kd values must be positive (nM)" if dataset == "davis" else "")
        )
    pairs = pd.DataFrame({
        "pair_index": np.arange(len(rows), dtype=np.int64),
        "drug_id": [drug_ids[r] for r in rows],
        "smiles": [ligand_map[drug_ids[r]] for r in rows],
        "target_id": [target_ids[c] for c in cols],
        "sequence": [protein_map[target_ids[c]] for c in cols],
        "label": label,
    })
    log.info("%s: %d pairs, %d drugs, %d targets (%d distinct sequences)", d, len(pairs),
             pairs["drug_id"].nunique(), pairs["target_id"].nunique(), pairs["sequence"].nunique())
    return pairs


def deepdta_fold_files(directory: str | Path, setting: int = 1) -> tuple[Path, Path]:
    """The train-folds and test-fold files of a DeepDTA dataset directory."""
    d = Path(directory) / "folds"
    return d / f"train_fold_setting{setting}.txt", d / f"test_fold_setting{setting}.txt"


def load_deepdta_folds(directory: str | Path, setting: int = 1,
                       n_pairs: int | None = None) -> tuple[list[list[int]], list[int]]:
    """DeepDTA's train folds and test fold (lists of ``pair_index`` values); with ``n_pairs``,
    a position outside 0..n_pairs-1 stops the load naming the file."""
    files = deepdta_fold_files(directory, setting)
    d = files[0].parent
    out = []
    for path in files:
        if not path.exists():
            raise InputError(f"{path}: file not found")
        try:
            out.append(json.loads(path.read_text()))
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: not valid JSON ({exc})") from None
    train, test = out
    if not (isinstance(train, list) and all(isinstance(f, list) for f in train) and isinstance(test, list)):
        raise InputError(f"{d}: expected a list of lists (train) and a list (test) of pair positions")
    try:
        train, test = [[int(i) for i in f] for f in train], [int(i) for i in test]
    except (TypeError, ValueError) as exc:
        raise InputError(f"{d}: fold files must list integer pair positions ({exc})") from None
    if n_pairs is not None:
        for path, idx in zip(files, ([i for fold in train for i in fold], test)):
            outside = [i for i in idx if not 0 <= i < n_pairs]
            if outside:
                raise InputError(f"{path}: pair position {outside[0]} is outside 0..{n_pairs - 1} "
                                 f"(the {n_pairs} measured entries of Y)")
    return train, test


# ------------------------------------------------------------------ drug–drug interactions
DDI_COLUMNS = ["drug1", "smiles1", "drug2", "smiles2", "label", "line"]
DRUGBANK_FILES = ("ddi_pairs.tsv", "drug_smiles.csv", "interaction_types.csv")


def _ddi_checks(pairs: pd.DataFrame, rejects: pd.DataFrame, path: Path, smiles_of: dict | None,
                on_error: str, names: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows of a drug–drug table that cannot be used: a drug without a SMILES (unknown id), a drug
    paired with itself, an exact duplicate of an earlier row. Each becomes a rejects row."""
    from theraflow.pairs.tables import REJECT_COLUMNS

    extra: list[tuple] = []
    keep = np.ones(len(pairs), dtype=bool)

    def reject(i: int, column: str, reason: str) -> None:
        if keep[i]:  # one reason per row: the first found
            keep[i] = False
            extra.append((i, column, reason))

    if smiles_of is not None:
        for side in ("drug1", "drug2"):
            known = pairs[side].map(smiles_of)
            for i in np.flatnonzero(known.isna().to_numpy()):
                reject(int(i), names[side], f"drug {pairs[side].iat[i]!r} has no SMILES (not in the drug table)")
            pairs[f"smiles{side[-1]}"] = known.fillna("")
    for i in np.flatnonzero((pairs["drug1"] == pairs["drug2"]).to_numpy()):
        reject(int(i), names["drug2"], f"drug {pairs['drug1'].iat[i]!r} paired with itself")
    dup = pairs.duplicated(["drug1", "drug2", "label"], keep="first").to_numpy()
    if dup.any():
        first_line = pairs.groupby(["drug1", "drug2", "label"])["line"].transform("first")
        for i in np.flatnonzero(dup):
            reject(int(i), names["label"], f"exact duplicate of {first_line.iat[i]} "
                                           f"({pairs['drug1'].iat[i]}, {pairs['drug2'].iat[i]}, {pairs['label'].iat[i]})")
    more = pd.DataFrame([(str(path), pairs["line"].iat[i], c, r) for i, c, r in sorted(extra)], columns=REJECT_COLUMNS)
    rejects = pd.concat([rejects, more], ignore_index=True)
    if on_error == "stop" and len(rejects):  # the first bad row of the file, whatever the check, stops the load
        first = rejects.iloc[int(np.argmin(rejects["line"].str.split().str[-1].astype(int).to_numpy()))]
        raise InputError(f"{path}: {first['line']}, column {first['column']!r}: {first['reason']}")
    return pairs[keep].reset_index(drop=True), rejects


def load_drugbank_ddi(directory: str | Path, *, on_error: str = "reject") -> tuple[pd.DataFrame, pd.DataFrame,
                                                                                  pd.DataFrame]:
    """The DrugBank DDI set as curated by DeepDDI (SumGNN's pairs, SSI-DDI's SMILES and type sentences).

    Returns (pairs, rejects, types): one row per (ordered drug pair, interaction type) with the
    columns of :data:`DDI_COLUMNS` (``label``: the type number as text, "1"-"86"); the rows the
    set cannot support (a drug without a SMILES, a self-pair, an exact duplicate) as rejects;
    and the types (``type``, ``sentence`` with #Drug1/#Drug2, ``subject``, ``ddi_type``).
    The order of a pair is kept: the sentence says which drug acts on which.
    """
    from theraflow.pairs.tables import Field, read_pairs

    d = Path(directory)
    for name in DRUGBANK_FILES:
        if not (d / name).exists():
            raise InputError(f"{d / name}: file not found (expected the DrugBank DDI files {', '.join(DRUGBANK_FILES)})")
    drugs = read_table(d / "drug_smiles.csv", dtype=str, keep_default_na=False)
    if not {"drug_id", "smiles"} <= set(drugs.columns):
        raise InputError(f"{d / 'drug_smiles.csv'}: expected columns drug_id, smiles; found {', '.join(drugs.columns)}")
    types = read_table(d / "interaction_types.csv", dtype=str, keep_default_na=False)
    need = {"Interaction type", "Description"}
    if not need <= set(types.columns):
        raise InputError(f"{d / 'interaction_types.csv'}: expected columns {', '.join(sorted(need))}")
    types = pd.DataFrame({"type": types["Interaction type"].str.strip(), "sentence": types["Description"],
                          "subject": types.get("Subject", ""), "ddi_type": types.get("DDI type", "")})
    fields = [Field("drug1", "id"), Field("drug2", "id"), Field("label", "class")]
    pairs, rejects = read_pairs(d / "ddi_pairs.tsv", fields, {"label": "Label"}, on_error="reject",
                                classes=types["type"].tolist())  # stop: on the first bad row of any check, below
    smiles_of = dict(zip(drugs["drug_id"].str.strip(), drugs["smiles"].str.strip()))
    pairs, rejects = _ddi_checks(pairs, rejects, d / "ddi_pairs.tsv", smiles_of, on_error,
                                 {"drug1": "drug1", "drug2": "drug2", "label": "Label"})
    log.info("%s: %d pairs over %d drugs, %d types; %d rows rejected", d, len(pairs),
             len(set(pairs["drug1"]) | set(pairs["drug2"])), pairs["label"].nunique(), len(rejects))
    return pairs[DDI_COLUMNS], rejects, types
