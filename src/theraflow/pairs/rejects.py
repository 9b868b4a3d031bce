"""Where a pair data set's records go: given, scored, or rejected with a reason — counted per part.

Every stage that loses records counts them by reason, and the counts travel with the run:

- the **dataset** stage rejects rows while reading (an empty SMILES, a label that does not fit its kind, an
  exact repeat, contradicting replicates, ...): ``dataset.json`` holds ``rejected_reasons`` (every row) and,
  for a set shipped in parts, ``rejected_by_part`` (the rows of each part's file);
- the **chemistry** stages reject molecules (no carbon fragment, over 150 heavy atoms, unparsable, not
  featurizable): a pair whose molecule was rejected cannot be scored, and counts under its molecule's reason;
- the **evaluate** stage writes, per part (train, valid, test), ``n_given`` (the rows given for the part),
  ``n_scored`` (the pairs the model scores: every molecule standardized and featurized), ``n_merged`` (rows
  merged into another row of their pair: agreeing replicates) and ``n_rejected`` ({reason: count}; the counts
  add up to ``n_given - n_scored - n_merged``) into ``metrics.json``; the metrics table,
  the run summary and the reports show them as one line per part (:func:`counts_line`).

A reason is counted by its kind (:func:`reason_category`): "no carbon fragment", "over 150 heavy atoms",
"contradicting replicates", not each record's own message (that stays in the rejects tables).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pandas as pd

# the reasons of rows rejected while reading, by their kind (the rejects table keeps each row's own text)
_ROW_KINDS = [
    (re.compile(r"^contradicting replicates"), "contradicting replicates"),
    (re.compile(r"^an exact repeat"), "exact repeat"),
    (re.compile(r"^empty label$"), "empty label"),
    (re.compile(r"^empty "), None),  # "empty SMILES", "empty id": as written
    (re.compile(r"^not a finite number|^not a number"), "label not a number"),
    (re.compile(r"^label .* is not one of the"), "label not one of the classes"),
    (re.compile(r"has another .* than on its first line$"), "another value for an id seen before"),
    (re.compile(r"paired with itself$"), "paired with itself"),
    (re.compile(r"^the sequence holds"), "a sequence with a letter that is no amino acid"),
    (re.compile(r"^part .* is not train, valid or test$"), "unknown part name"),
    (re.compile(r"has no SMILES"), "molecule not in the molecule table"),
    (re.compile(r"^no \w+ for "), "no sequence where others have one"),
]
NOT_IN_CHEMISTRY = "molecule not standardized or featurized"


def reason_category(reason: str) -> str:
    """The kind of a pair row's rejection reason (see the module docstring)."""
    text = str(reason or "").strip()
    for pattern, kind in _ROW_KINDS:
        if pattern.search(text):
            return kind or text
    return re.sub(r"\s*\(.*\)$", "", text.split(":")[0]).strip() or "rejected"


def molecule_reasons(molecules_path: str | Path | None) -> dict[str, str]:
    """{molecule id: the kind of its rejection} from the chemistry stages' ``rejects.tsv`` beside their
    ``molecules.parquet`` (empty when there is none)."""
    from theraflow.chem.standardize import reject_category

    if molecules_path is None:
        return {}
    path = Path(molecules_path).with_name("rejects.tsv")
    if not path.exists():
        return {}
    rej = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    if not {"id", "stage", "reason"} <= set(rej.columns):
        return {}
    out: dict[str, str] = {}
    for i, stage, reason in zip(rej["id"], rej["stage"], rej["reason"]):
        out.setdefault(str(i), reject_category(stage, reason))
    return out


def dataset_rejects_by_part(rejects: pd.DataFrame, parts: pd.Series | None) -> dict[str, dict[str, int]]:
    """{part: {reason kind: rows}} of a data set's rejects whose part is known (``parts``, aligned with
    ``rejects``; None or NaN: no part, as in a set that is split later)."""
    if parts is None or not len(rejects):
        return {}
    out: dict[str, Counter] = {}
    for part, reason in zip(parts, rejects["reason"]):
        if isinstance(part, str) and part:
            out.setdefault(part, Counter())[reason_category(reason)] += 1
    return {p: dict(c.most_common()) for p, c in out.items()}


def reason_counts(rejects: pd.DataFrame) -> dict[str, int]:
    """{reason kind: rows} of a rejects table (file, line, column, reason)."""
    if not len(rejects):
        return {}
    return dict(Counter(reason_category(r) for r in rejects["reason"]).most_common())


def part_counts(spec, given: pd.DataFrame, scored_ids, molecule_why: dict[str, str] | None = None,
                read_rejects: dict[str, dict[str, int]] | None = None) -> dict[str, dict]:
    """Per part: ``{"n_given", "n_scored", "n_merged", "n_rejected": {reason: count}}``.

    ``given``: the data set's pairs with their ``part`` (and ``pair_id``); ``scored_ids``: the pair ids that
    are scored; ``molecule_why``: {molecule id: reason kind} of the chemistry stages' rejects; ``read_rejects``:
    {part: {reason: rows}} of rows rejected while reading a part's file (dataset.json's ``rejected_by_part``)."""
    molecule_why = molecule_why or {}
    roles = [r.id for r in spec.task.roles if spec.task.entity(r).featurized]
    scored = pd.Series(given["pair_id"]).isin(set(scored_ids)).to_numpy()
    out: dict[str, dict] = {}
    parts = [p for p in ("train", "valid", "test") if (given["part"] == p).any() or p in (read_rejects or {})]
    for p in parts:
        mine = (given["part"] == p).to_numpy()
        lost = given[mine & ~scored]
        reasons: Counter = Counter()
        for ids in zip(*(lost[c].astype(str) for c in roles)) if roles else [() for _ in range(len(lost))]:
            reasons[next((molecule_why[i] for i in ids if i in molecule_why), NOT_IN_CHEMISTRY)] += 1
        for reason, n in ((read_rejects or {}).get(p) or {}).items():
            reasons[reason] += int(n)
        n_read = sum(int(n) for n in ((read_rejects or {}).get(p) or {}).values())
        rows = given.loc[mine, "replicates"].fillna(1).astype(int) if "replicates" in given else None
        merged = int((rows - 1).sum()) if rows is not None else 0
        out[p] = {"n_given": int(mine.sum()) + merged + n_read, "n_scored": int((mine & scored).sum()),
                  "n_merged": merged, "n_rejected": dict(reasons.most_common())}
    return out


def counts_line(part: str, n_given: int, n_scored: int, n_rejected: dict[str, int] | int, n_merged: int = 0) -> str:
    """'test: 5,010 given, 4,321 scored, 689 rejected (no carbon fragment 650, over 150 heavy atoms 39)': the
    reasons by count, then by name (the same line whichever way the counts were stored)."""
    if isinstance(n_rejected, dict):
        total = sum(int(v) for v in n_rejected.values())
        why = ", ".join(f"{k} {int(v):,}" for k, v in sorted(n_rejected.items(), key=lambda kv: (-int(kv[1]), kv[0])))
    else:
        total, why = int(n_rejected), ""
    merged = f", {int(n_merged):,} merged into a replicate" if n_merged else ""
    return (f"{part}: {int(n_given):,} given, {int(n_scored):,} scored{merged}, {total:,} rejected"
            + (f" ({why})" if why else ""))


def reasons_text(n_rejected: dict[str, int]) -> str:
    """'no carbon fragment 650; over 150 heavy atoms 39' (a table cell; '' when nothing was rejected)."""
    return "; ".join(f"{k} {int(v)}" for k, v in sorted(n_rejected.items(), key=lambda kv: (-int(kv[1]), kv[0])))


def parse_reasons(text) -> dict[str, int]:
    """The inverse of :func:`reasons_text`."""
    out: dict[str, int] = {}
    if not isinstance(text, str) or not text.strip():
        return out
    for item in text.split("; "):
        reason, _, n = item.rpartition(" ")
        if reason and n.isdigit():
            out[reason] = out.get(reason, 0) + int(n)
    return out


def metrics_counts(metrics: dict) -> dict[str, dict]:
    """{part: {"n_given", "n_scored", "n_rejected"}} of a ``metrics.json``."""
    given, scored, merged, rejected = (metrics.get(k) or {} for k in ("n_given", "n_scored", "n_merged", "n_rejected"))
    return {p: {"n_given": given[p], "n_scored": scored.get(p, 0), "n_merged": merged.get(p, 0),
                "n_rejected": rejected.get(p) or {}} for p in ("train", "valid", "test") if p in given}


def split_counts(spec, pairs_path: str | Path, split_path: str | Path, molecules_path: str | Path | None, *,
                 scored: dict[str, set] | None = None) -> dict:
    """Everything a run's counts need, from the files of the workflow: the data set (``pairs.parquet`` and
    its ``dataset.json``), a split, the chemistry stages' ``molecules.parquet`` (and ``rejects.tsv`` beside it).

    Returns ``{"n_given": {part: n}, "n_scored": {part: n}, "n_rejected": {part: {reason: n}},
    "n_merged": {part: n}, "n_rejected_before_split": {reason: n}, "n_replicates_merged": n}``: a part's
    ``n_given`` counts its rows — its pairs, the replicate rows merged into them (``n_merged``) and the rows
    rejected in it — so that ``n_given = n_scored + n_merged + sum(n_rejected)``. A pair of a part is scored when each of its molecules is in
    ``molecules.parquet`` (standardized and featurized), unless ``scored`` ({part: pair ids}) says which pairs
    of a part a model did score; rows the dataset stage rejected count in their part when the set was shipped
    in parts, else before the split."""
    from theraflow.io import read_json
    from theraflow.pairs.splits import pairs_with_parts

    every = pairs_with_parts(pairs_path, split_path)
    roles = [r.id for r in spec.task.roles if spec.task.entity(r).featurized]
    keep = pd.Series(True, index=every.index)
    if roles:
        known = set(pd.read_parquet(molecules_path, columns=["id"])["id"].astype(str)) if molecules_path else set()
        for c in roles:
            keep &= every[c].astype(str).isin(known)
    ids = set(every.loc[keep, "pair_id"])
    for part, mine in (scored or {}).items():
        ids = (ids - set(every.loc[every["part"] == part, "pair_id"])) | set(mine)
    info_path = Path(pairs_path).with_name("dataset.json")
    info = read_json(info_path) if info_path.exists() else {}
    by_part = info.get("rejected_by_part") or {}
    counts = part_counts(spec, every, ids, molecule_reasons(molecules_path), by_part)
    before = Counter(info.get("rejected_reasons") or {})
    for reasons in by_part.values():
        before.subtract(reasons)
    return {"n_given": {p: c["n_given"] for p, c in counts.items()},
            "n_scored": {p: c["n_scored"] for p, c in counts.items()},
            "n_merged": {p: c["n_merged"] for p, c in counts.items()},
            "n_rejected": {p: c["n_rejected"] for p, c in counts.items()},
            "n_rejected_before_split": {k: int(v) for k, v in before.most_common() if v > 0},
            "n_replicates_merged": int(info.get("n_replicates_merged") or 0)}
