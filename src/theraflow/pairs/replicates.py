"""Replicates: one pair measured more than once, aggregated by a documented rule or rejected as contradicting.

A pair's replicates are the rows with the same entities in each role (and, for a set shipped in parts, the
same given part: a pair in two parts is left to the split's leakage audit). The data-set option
``replicates: {aggregate: median, max_spread: 1.0}`` says what happens to them, by label kind:

- **regression**: the replicates of a pair agree when their spread (largest minus smallest label) is at most
  ``max_spread`` (one log unit by default; ``null``: no limit); they become one row whose label is their
  ``median`` (default) or ``mean``. A pair whose replicates spread more is a rejects row for each of its rows,
  with the reason ``contradicting replicates: 5.0, 9.5 (spread 4.5 > 1.0; line 2, line 3)``;
- **binary**: replicates agree when their labels are one class, and become one row; a pair measured 1 and 0
  is rejected, every row, as ``contradicting replicates: 1, 0 (classes disagree; ...)``;
- **multiclass**: a pair may carry several classes (an interaction of two types is two rows, each counted),
  so differing classes do not contradict; an exact repeat of a row (same pair, same class) is a rejects row
  (``an exact repeat of line N``).

The rows merged away are counted (``n_replicates_merged`` in ``dataset.json``; a ``replicates`` column of
``pairs.parquet`` holds the rows each pair stands for, so that a part's counts include them), as are the rows
rejected.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from theraflow.errors import InputError

log = logging.getLogger(__name__)

AGGREGATES = ("median", "mean")
DEFAULTS = {"aggregate": "median", "max_spread": 1.0}


def replicate_options(options: dict | None) -> dict:
    """The replicate options with their defaults, checked (an unknown key or value names itself)."""
    opts = {**DEFAULTS, **{k: v for k, v in (options or {}).items() if v is not None or k == "max_spread"}}
    unknown = set(opts) - set(DEFAULTS)
    if unknown:
        raise InputError(f"replicates: unknown option(s) {', '.join(sorted(unknown))}; use aggregate, max_spread")
    if opts["aggregate"] not in AGGREGATES:
        raise InputError(f"replicates.aggregate: {opts['aggregate']!r}; use one of {', '.join(AGGREGATES)}")
    if opts["max_spread"] is not None:
        try:
            opts["max_spread"] = float(opts["max_spread"])
        except (TypeError, ValueError):
            raise InputError(f"replicates.max_spread: {opts['max_spread']!r} is not a number") from None
        if not opts["max_spread"] >= 0:
            raise InputError(f"replicates.max_spread: {opts['max_spread']} is negative")
    return opts


def _number(v: float) -> str:
    return f"{v:.1f}" if float(v).is_integer() else f"{v:g}"


def merge_replicates(spec, pairs: pd.DataFrame, key: list[str], options: dict | None, on_error: str = "reject",
                     where: str = "") -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(pairs with each pair's replicates merged, rejects of contradicting replicates, facts); see the module
    docstring. The rejects table has the rejects columns (file, line, column, reason) and ``given_part``."""
    from theraflow.pairs.source import reject_rows
    from theraflow.pairs.tables import REJECT_COLUMNS

    opts = replicate_options(options)
    facts = {**opts, "n_replicates_merged": 0, "pairs_merged": 0, "pairs_contradicting": 0, "rows_contradicting": 0}
    empty = pd.DataFrame(columns=[*REJECT_COLUMNS, "given_part"])
    keys = [*key, *(["given_part"] if "given_part" in pairs else [])]
    if spec.label.name == "multiclass":
        return (*_exact_repeats(pairs, keys, on_error, where), facts)
    dup = pairs.duplicated(keys, keep=False).to_numpy()
    if not dup.any():
        return pairs, empty, facts
    group = pairs.groupby(keys, sort=False, dropna=False).ngroup().to_numpy()
    regression = spec.label.name == "regression"
    values = pairs["label"].astype(float) if regression else pairs["label"].astype(str)
    by_group = pd.Series(values.to_numpy()).groupby(group)
    if regression:
        spread = (by_group.transform("max") - by_group.transform("min")).to_numpy()
        limit = opts["max_spread"]
        bad = dup & (spread > limit) if limit is not None else np.zeros(len(pairs), bool)
    else:
        bad = dup & (by_group.transform("nunique").to_numpy() > 1)
    rejects = empty
    if bad.any():
        lines = pd.Series(pairs["line"].astype(str).to_numpy()).groupby(group).agg(", ".join)
        shown = by_group.agg(lambda v: ", ".join(_number(x) if regression else str(x) for x in v))
        reasons = []
        for g, s in zip(group, spread if regression else [0.0] * len(group)):
            why = f"spread {_number(s)} > {_number(opts['max_spread'])}" if regression else "classes disagree"
            reasons.append(f"contradicting replicates: {shown[g]} ({why}; {lines[g]})")
        parts = pairs.loc[bad, "given_part"].to_numpy() if "given_part" in pairs else None
        facts["pairs_contradicting"] = int(len(np.unique(group[bad])))
        facts["rows_contradicting"] = int(bad.sum())
        pairs, rejects = reject_rows(pairs, bad, "label", reasons, on_error, where)
        rejects["given_part"] = parts
        log.warning("%s: %d pair(s) measured more than once disagree (%s): their %d rows are rejects",
                    where, facts["pairs_contradicting"],
                    f"spread above {opts['max_spread']:g}" if regression else "classes differ", int(bad.sum()))
    dup = pairs.duplicated(keys, keep=False).to_numpy()
    if dup.any():
        n_rows, n_pairs = int(dup.sum()), int(pairs[dup].groupby(keys, dropna=False).ngroups)
        pairs = pairs.assign(replicates=pairs.groupby(keys, sort=False, dropna=False)["line"].transform("size"))
        if regression:
            agg = {c: "first" for c in pairs.columns if c not in (*keys, "label")} | {"label": opts["aggregate"]}
            pairs = pairs.groupby(keys, sort=False, dropna=False).agg(agg).reset_index()[list(pairs.columns)]
        else:
            pairs = pairs.drop_duplicates(keys, keep="first")
        pairs["replicates"] = pairs["replicates"].astype("int64")  # the rows each pair stands for
        facts["n_replicates_merged"], facts["pairs_merged"] = n_rows - n_pairs, n_pairs
        log.info("%s: %d pair(s) measured more than once agree; their %d rows became %d (%s)", where, n_pairs,
                 n_rows, n_pairs, f"the {opts['aggregate']} label" if regression else "one class")
    return pairs.reset_index(drop=True), rejects, facts


def _exact_repeats(pairs: pd.DataFrame, keys: list[str], on_error: str, where: str):
    """Multiclass: a repeat of a row (same pair, same class) is a rejects row naming the first."""
    from theraflow.pairs.source import reject_rows

    dup = pairs.duplicated([*keys, "label"], keep="first").to_numpy()
    if not dup.any():
        return pairs, pd.DataFrame(columns=["file", "line", "column", "reason", "given_part"])
    first = pairs.groupby([*keys, "label"], dropna=False)["line"].transform("first")
    parts = pairs.loc[dup, "given_part"].to_numpy() if "given_part" in pairs else None
    pairs, rej = reject_rows(pairs, dup, "label", [f"an exact repeat of {f}" for f in first], on_error, where)
    rej["given_part"] = parts
    return pairs, rej
