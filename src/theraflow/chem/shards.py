"""Stage functions that work on files: featurize a shard, gather shard outputs into one
table, one rejects table and a summary (standardizing a shard is
:func:`theraflow.chem.standardize.standardize_file`).

These are what the Snakemake rules run (through the CLI); notebooks can call them too.
Each returns a small dict of counts and seconds that the CLI writes as a stats file
and :func:`gather` adds up.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from theraflow.chem.readers import REJECT_COLUMNS
from theraflow.io import InputError, read_json, write_json, write_table

log = logging.getLogger(__name__)

INDEX_COLUMNS = ["id", "record", "smiles", "key", "n_atoms", "n_bonds"]


def shard_bounds(n_records: int, shard: int, n_shards: int) -> tuple[int, int]:
    """Records (1-based, inclusive start, exclusive stop) of ``shard`` out of ``n_shards``.

    Shards are contiguous runs of records of (nearly) equal size.
    """
    if not 0 <= shard < n_shards:
        raise ValueError(f"shard {shard} is outside 0..{n_shards - 1}")
    size = max(1, math.ceil(n_records / n_shards))
    return shard * size + 1, min(n_records, (shard + 1) * size) + 1


def featurize_file(input_path: str | Path, output: str | Path, rejects_path: str | Path, *,
                   store: str | Path | None, featurizer: str = "default",
                   params: dict | None = None) -> dict:
    """Stage function: standardized table → feature index (store keys) + rejects.

    Graphs go to the feature store; the index table lists, per molecule, the store
    key under which its graph lives, so training and scoring read graphs by key.
    """
    from theraflow.chem.featurize import featurize

    t0 = time.perf_counter()
    table = pd.read_parquet(input_path)
    missing = [c for c in ("id", "record", "smiles") if c not in table.columns]
    if missing:
        raise InputError(f"{input_path}: no column(s) {', '.join(missing)}; expected a standardized table "
                         f"(id, record, smiles, ...) from `theraflow standardize`")
    result = featurize(table["smiles"].tolist(), featurizer, store=store, params=params)
    ok = table.iloc[result.index]
    graphs = result.graphs
    index = pd.DataFrame({
        "id": ok["id"].to_numpy(),
        "record": ok["record"].to_numpy(),
        "smiles": ok["smiles"].to_numpy(),
        "key": [result.keys[i] for i in result.index],
        "n_atoms": graphs.num_nodes,
        "n_bonds": graphs.num_edges // 2,  # every featurizer stores a bond as two directed edges
    }, columns=INDEX_COLUMNS)
    rejects = pd.DataFrame(
        [(table["id"].iat[i], table["record"].iat[i], table["smiles"].iat[i], "featurize", reason)
         for i, reason in sorted(result.errors.items())],
        columns=REJECT_COLUMNS,
    )
    write_table(index, output)
    write_table(rejects, rejects_path)
    return {"stage": "featurize", "molecules": len(table), "featurized": len(index),
            "rejected": len(rejects), "hits": result.hits, "misses": result.misses,
            "fid": result.fid, "featurizer": featurizer, "seconds": time.perf_counter() - t0}


def gather(
    *,
    standardized: Sequence[str | Path],
    features: Sequence[str | Path],
    rejects: Sequence[str | Path],
    stats: Sequence[str | Path],
    molecules_out: str | Path,
    rejects_out: str | Path,
    summary_out: str | Path,
    name: str = "",
) -> dict:
    """Join shard outputs into one molecules table, one rejects table and a summary."""
    std = pd.concat([pd.read_parquet(p) for p in standardized], ignore_index=True)
    idx = pd.concat([pd.read_parquet(p) for p in features], ignore_index=True)
    rej = pd.concat([pd.read_parquet(p) for p in rejects], ignore_index=True)
    molecules = std.drop(columns=["input"]).merge(idx[["id", "key", "n_atoms", "n_bonds"]], on="id", how="inner")
    molecules = molecules.sort_values("record", kind="stable").reset_index(drop=True)
    rej = rej.sort_values(["record", "stage"], kind="stable").reset_index(drop=True)
    write_table(molecules, molecules_out)
    write_table(rej, rejects_out)

    st = [read_json(p) for p in stats]
    by_stage: dict[str, dict] = {}
    for s in st:
        agg = by_stage.setdefault(s["stage"], {"seconds": 0.0, "jobs": 0})
        agg["seconds"] += float(s.get("seconds", 0.0))
        agg["jobs"] += 1
    feat_stats = [s for s in st if s["stage"] == "featurize"]
    records = sum(s.get("records", 0) for s in st if s["stage"] == "standardize")
    summary = {
        "name": name,
        "records": int(records),
        "kept": int(len(molecules)),
        "rejected": int(len(rej)),
        "rejected_by_stage": {k: int(v) for k, v in rej["stage"].value_counts().sort_index().items()},
        "rejected_by_reason": _reason_counts(rej),
        # the standardization the molecules went through: what the Python API repeats for a model's input
        "standardize": next((s["options"] for s in st if s["stage"] == "standardize" and s.get("options")), None),
        "featurizer": feat_stats[0]["featurizer"] if feat_stats else None,
        "fid": feat_stats[0]["fid"] if feat_stats else None,
        "store_hits": int(sum(s["hits"] for s in feat_stats)),
        "store_misses": int(sum(s["misses"] for s in feat_stats)),
        "seconds_by_stage": {k: round(v["seconds"], 3) for k, v in by_stage.items()},
        "jobs_by_stage": {k: v["jobs"] for k, v in by_stage.items()},
    }
    if summary["records"] != summary["kept"] + summary["rejected"]:
        # every record must be accounted for: kept or rejected, never lost
        raise RuntimeError(
            f"{name}: {summary['records']} records in but {summary['kept']} kept + "
            f"{summary['rejected']} rejected; a record went missing"
        )
    write_json(summary_out, summary)
    return summary


def _reason_counts(rej: pd.DataFrame, top: int = 20) -> dict[str, int]:
    if rej.empty:
        return {}
    # Group reasons by their generic part (before the first ':' detail).
    generic = rej["stage"] + ": " + rej["reason"].str.split(":").str[0].str.strip()
    return {k: int(v) for k, v in generic.value_counts().head(top).items()}


def format_summary(summary: dict) -> str:
    lines = [f"theraflow chem summary — {summary.get('name') or 'molecules'}"]
    lines.append(f"  records in      {summary['records']:>8}")
    lines.append(f"  kept            {summary['kept']:>8}")
    lines.append(f"  rejected        {summary['rejected']:>8}")
    for stage, n in summary["rejected_by_stage"].items():
        lines.append(f"    {stage:<13} {n:>8}")
    lines.append(f"  featurizer      {summary.get('featurizer')} ({summary.get('fid')})")
    lines.append(f"  store hits      {summary['store_hits']:>8}")
    lines.append(f"  store misses    {summary['store_misses']:>8}")
    for stage, sec in summary["seconds_by_stage"].items():
        jobs = summary["jobs_by_stage"].get(stage, 1)
        lines.append(f"  time {stage:<10} {sec:>8.1f} s over {jobs} job(s)")
    return "\n".join(lines)


def load_summary(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())
