"""Drug–target pair datasets: the DeepDTA format (Davis, KIBA) and generic pair tables.

Every loader returns one pair table with the columns

    drug_id, smiles, target_id, sequence, label

(``sequence`` may be empty for data that has target ids only). DeepDTA data adds
``pair_index``: the position of the pair among the measured (non-NaN) entries of the
affinity matrix in row-major order, which is what the DeepDTA fold files list.

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


def load_pair_table(path: str | Path, *, drug_id: str = "drug_id", smiles: str = "smiles",
                    target_id: str = "target_id", sequence: str | None = "sequence",
                    label: str = "label") -> pd.DataFrame:
    """A generic CSV/TSV/Parquet pair table mapped to the standard columns.

    ``sequence=None`` (or a missing sequence column) means targets are ids only.
    Rows with a missing drug, target or label stop the load with the row numbers.
    """
    path = Path(path)
    df = read_table(path)
    wanted = {"drug_id": drug_id, "smiles": smiles, "target_id": target_id, "label": label}
    if sequence:
        wanted["sequence"] = sequence
    missing = [f"{k} ({v!r})" for k, v in wanted.items() if v not in df.columns and k != "sequence"]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}; the columns are "
                         f"{', '.join(map(str, df.columns))}")
    if df.empty:
        raise InputError(f"{path}: has a header but no pairs")
    out = pd.DataFrame({k: df[v] for k, v in wanted.items() if v in df.columns})
    if "sequence" not in out:
        out["sequence"] = ""
    blank = {k: out[k].isna() | (out[k].astype(str).str.strip() == "") for k in ("drug_id", "target_id", "smiles")}
    out["drug_id"] = out["drug_id"].astype(str)
    out["target_id"] = out["target_id"].astype(str)
    out["sequence"] = out["sequence"].fillna("").astype(str)
    out["label"] = pd.to_numeric(out["label"], errors="coerce")
    bad = out[out["label"].isna() | blank["smiles"] | blank["drug_id"] | blank["target_id"]]
    if len(bad):
        rows = ", ".join(str(i + 2) for i in bad.index[:10])
        raise InputError(f"{path}: {len(bad)} row(s) lack a drug, target, SMILES or numeric label "
                         f"(data rows {rows}{', ...' if len(bad) > 10 else ''})")
    inf = out[~np.isfinite(out["label"].to_numpy(dtype=np.float64))]
    if len(inf):
        rows = ", ".join(str(i + 2) for i in inf.index[:10])
        raise InputError(f"{path}: {len(inf)} label(s) are not finite numbers (data rows {rows})")
    odd = out["sequence"].str.contains(r"[^A-Za-z]", regex=True)
    if odd.any():
        i = int(np.argmax(odd.to_numpy()))
        seq = out["sequence"].iat[i]
        ch = next(c for c in seq if not c.isascii() or not c.isalpha())
        raise InputError(f"{path}: data row {out.index[i] + 2}: the sequence of target {out['target_id'].iat[i]!r} "
                         f"holds {ch!r}, which is not an amino acid letter")
    for key, value, what in (("drug_id", "smiles", "SMILES"), ("target_id", "sequence", "sequence")):
        conflict = out.groupby(key)[value].nunique()
        if (conflict > 1).any():
            raise InputError(f"{path}: {key.split('_')[0]} id {conflict[conflict > 1].index[0]!r} has more than "
                             f"one {what}")
    return out[PAIR_COLUMNS].reset_index(drop=True)


def entity_tables(pairs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Unique drugs (drug_id, smiles) and targets (target_id, sequence) of a pair table."""
    drugs = pairs[["drug_id", "smiles"]].drop_duplicates("drug_id").reset_index(drop=True)
    targets = pairs[["target_id", "sequence"]].drop_duplicates("target_id").reset_index(drop=True)
    return drugs, targets
