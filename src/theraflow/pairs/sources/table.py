"""``table``: your own pair table — CSV, TSV or Parquet — for any task, with or without ids.

One file (``path``), or the train/valid/test files a public set ships as (``parts: {train: ..., valid:
..., test: ...}``; valid may be left out and is then carved from train), or one file with a column
naming each row's part (``split_column``). Columns are the task's (``drug_id, smiles, target_id,
sequence, label`` for dti; ``drug1, smiles1, drug2, smiles2, label`` for ddi), or yours mapped with
``columns: {smiles: SMILES, sequence: Protein, label: Y}``. Ids are optional (see
:mod:`theraflow.pairs.source`); molecules named by id only take their SMILES from a molecule table
(``drugs:``, columns id and smiles).

Every row is kept or becomes a rejects row with its file, line, column and reason: an empty id or
SMILES, a sequence with a character that is no amino-acid letter, no sequence where other targets have
one, another SMILES or sequence for an id seen before, a molecule the molecule table does not know, a
molecule paired with itself (tasks of two molecules), a part name that is not train/valid/test, a label
that does not fit its kind. Replicates (one pair on several rows) are merged or rejected as contradicting by
:mod:`theraflow.pairs.replicates`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from theraflow.errors import InputError
from theraflow.pairs.source import PART_ALIASES, Loaded, PairSource, reject_rows

log = logging.getLogger(__name__)


def _files(cfg: dict) -> list[tuple[str | None, Path]]:
    parts = cfg.get("parts")
    if parts:
        unknown = set(parts) - {"train", "valid", "test"}
        if unknown:
            raise InputError(f"parts: unknown part(s) {', '.join(sorted(unknown))}; use train, valid, test")
        if "train" not in parts or "test" not in parts:
            raise InputError("parts: give at least the train and the test file (valid is carved from train if absent)")
        if cfg.get("path"):
            raise InputError("give either path (one table) or parts (train/valid/test files), not both")
        return [(p, Path(parts[p])) for p in ("train", "valid", "test") if parts.get(p)]
    if not cfg.get("path"):
        raise InputError("source table needs path (a pair table) or parts (train/valid/test files)")
    return [(None, Path(cfg["path"]))]


def columns_needed(task, cfg: dict, header: list[str], path) -> dict[str, str]:
    """{field: table column} of the fields this table has; names what is missing (the dry run calls this)."""
    cols = dict(cfg.get("columns") or {})
    unknown = set(cols) - set(task.fields())
    if unknown:
        raise InputError(f"columns: unknown field(s) {', '.join(sorted(unknown))} for task {task.name} "
                         f"(its fields: {', '.join(task.fields())})")
    have = {f: cols.get(f, f) for f in task.fields() if cols.get(f, f) in header}
    missing = []
    for r in task.roles:
        kind = task.entity(r)
        if kind.featurized and r.value not in have and not (r.id in have and cfg.get("drugs")):
            missing.append(f"{r.value} ({cols.get(r.value, r.value)!r}; or {r.id} with a molecule table `drugs`)")
        if not kind.featurized and r.id not in have and r.value not in have:
            missing.append(f"{r.id} or {r.value} ({cols.get(r.id, r.id)!r} / {cols.get(r.value, r.value)!r})")
        if r.id in cols and r.id not in have:
            missing.append(f"{r.id} ({cols[r.id]!r})")
    if "label" not in have:
        missing.append(f"label ({cols.get('label', 'label')!r})")
    split_col = cfg.get("split_column")
    if split_col and split_col not in header:
        missing.append(f"the split column {split_col!r}")
    if missing:
        raise InputError(f"{path}: missing column(s) {'; '.join(missing)}; the columns are {', '.join(header)}")
    return have


def load(task, cfg: dict) -> Loaded:
    import numpy as np
    import pandas as pd

    from theraflow.pairs.tables import (
        REJECT_COLUMNS,
        Field,
        line_labels,
        read_pairs,
        read_raw,
        reject_conflicts,
    )

    on_error = cfg.get("on_error") or "reject"
    frames, rejects = [], []
    line_parts: dict[tuple[str, str], str] = {}  # (file, line) -> the part a split column names
    for part, path in _files(cfg):
        if not path.exists():
            raise InputError(f"{path}: file not found")
        raw = read_raw(path)
        have = columns_needed(task, cfg, [str(c) for c in raw.columns], path)
        fields = []
        for r in task.roles:
            kind = task.entity(r)
            if r.id in have:
                fields.append(Field(r.id, "id"))
            if r.value in have:
                fields.append(Field(r.value, kind.value, required=False))
        fields.append(Field("label", "text"))
        pairs, rej = read_pairs(path, fields, have, on_error=on_error, raw=raw)
        if cfg.get("split_column"):
            col = cfg["split_column"]
            names = raw[col].astype(str).str.strip().str.lower()
            lines = pd.Series(line_labels(path, len(raw)))
            part_of = dict(zip(lines, names.map(PART_ALIASES)))
            shown = dict(zip(lines, raw[col].astype(str)))
            pairs["given_part"] = pairs["line"].map(part_of)
            line_parts.update({(str(path), ln): p for ln, p in part_of.items() if isinstance(p, str)})
            pairs["file"] = str(path)
            bad = pairs["given_part"].isna().to_numpy()
            pairs, more = reject_rows(pairs, bad, col, [f"part {shown[ln]!r} is not train, valid or test"
                                                        for ln in pairs["line"]], on_error)
            rej = pd.concat([rej, more], ignore_index=True)
        elif part is not None:
            pairs["given_part"] = part
        pairs["file"] = str(path)
        frames.append(pairs)
        rejects.append(rej)
    pairs = pd.concat(frames, ignore_index=True)
    rejects_df = pd.concat(rejects, ignore_index=True) if rejects else pd.DataFrame(columns=REJECT_COLUMNS)
    where = ", ".join(str(p) for _, p in _files(cfg))
    cols = {f: (cfg.get("columns") or {}).get(f, f) for f in task.fields()}

    def more(result) -> None:
        nonlocal pairs, rejects_df
        pairs, extra = result
        rejects_df = pd.concat([rejects_df, extra], ignore_index=True)

    molecule_table = _molecule_table(cfg.get("drugs")) if cfg.get("drugs") else None
    for r in task.roles:
        kind = task.entity(r)
        if r.value not in pairs:
            pairs[r.value] = ""
        if kind.featurized and molecule_table is not None:
            blank = pairs[r.value].fillna("").astype(str) == ""
            known = pairs[r.id].map(molecule_table) if r.id in pairs else pd.Series(np.nan, index=pairs.index)
            pairs.loc[blank, r.value] = known[blank]
            missing = (pairs[r.value].isna() | (pairs[r.value].astype(str) == "")).to_numpy()
            more(reject_rows(pairs, missing, cols[r.id], [f"{r.title or r.name} {i!r} has no SMILES (not in the "
                                                          f"molecule table {cfg['drugs']})" for i in pairs.get(r.id, "")],
                             on_error))
        if not kind.value_required:
            has = pairs[r.value].astype(str) != ""
            if has.any() and not has.all():
                n_with = pairs.loc[has, r.id].nunique() if r.id in pairs else int(has.sum())
                more(reject_rows(pairs, ~has.to_numpy(), cols[r.value],
                                 [f"no {kind.value} for {r.title or r.name} {t!r}, while {n_with} other(s) have one"
                                  for t in pairs.get(r.id, pairs[r.value])], on_error))
    from theraflow.pairs.source import default_ids

    pairs, said = default_ids(task, pairs, {r.id for r in task.roles if r.id in pairs and r.id in _given_ids(task, cfg, pairs)})
    # ids made from the values: one id, one entity (two spellings of one structure, a sequence in lower case),
    # written with its first value wherever it appears, so that what splits and audits compare agrees with the id
    first: dict = {}
    for r in task.roles:
        if r.name in said:
            for i, v in zip(pairs[r.id], pairs[r.value]):
                first.setdefault((r.entity, i), v)
    for r in task.roles:
        if r.name in said:
            pairs[r.value] = [first[(r.entity, i)] for i in pairs[r.id]]
            continue
        pairs, extra = reject_conflicts(pairs, pd.DataFrame(columns=REJECT_COLUMNS), Path(where), r.id, r.value,
                                        task.entity(r).value, on_error, cols[r.value])
        rejects_df = pd.concat([rejects_df, extra], ignore_index=True)
    if task.same_kind:
        a, b = task.roles
        self_pair = (pairs[a.id].astype(str) == pairs[b.id].astype(str)).to_numpy()
        more(reject_rows(pairs, self_pair, cols[b.id], [f"{i!r} paired with itself" for i in pairs[a.id]], on_error))
    if pairs.empty:
        first = rejects_df.iloc[0] if len(rejects_df) else None
        raise InputError(f"{where}: every pair was rejected ({len(rejects_df)})"
                         + (f"; the first: {first['line']}, column {first['column']!r}: {first['reason']}"
                            if first is not None else ""))
    if len(rejects_df):
        log.warning("%s: %d row(s) rejected (the first: %s, column %r: %s)", where, len(rejects_df),
                    rejects_df["line"].iat[0], rejects_df["column"].iat[0], rejects_df["reason"].iat[0])
    loaded = Loaded(pairs, rejects_df, files=[str(p) for _, p in _files(cfg)])
    loaded.ids_defaulted = said
    loaded.line_parts = line_parts
    return loaded


def _given_ids(task, cfg: dict, pairs) -> set[str]:
    """The id fields the table itself holds (a molecule id filled from nothing is not 'given')."""
    return {r.id for r in task.roles if r.id in pairs and pairs[r.id].astype(str).str.len().gt(0).all()}


def _molecule_table(path) -> dict[str, str]:
    from theraflow.io import read_table

    table = read_table(path, dtype=str, keep_default_na=False)
    if "id" not in table and "drug_id" in table:
        table = table.rename(columns={"drug_id": "id"})
    if not {"id", "smiles"} <= set(table.columns):
        raise InputError(f"{path}: expected a molecule table with columns id, smiles; found {', '.join(table.columns)}")
    return dict(zip(table["id"].str.strip(), table["smiles"].str.strip()))


SOURCE = PairSource(
    name="table",
    description="your own CSV/TSV/Parquet pair table(s): one file, train/valid/test files, or a split column",
    load=load, tasks=None, options=("parts", "split_column", "columns", "drugs", "classes"), needs_path=False)
