"""Interaction-model stages on files: dataset → splits → train → evaluate → metrics table.

One function per stage; the Snakemake rules reach them through ``theraflow dti ...``
and notebooks call them directly.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from theraflow.errors import InputError
from theraflow.io import read_json, write_json, write_table
from theraflow.pairs.loaders import (
    PAIR_COLUMNS,
    deepdta_fold_files,
    load_deepdta,
    load_deepdta_folds,
    load_pair_table,
)

log = logging.getLogger(__name__)

SOURCES = ("deepdta", "table", "rdkit_demo")
MODEL_SCHEMA = Path(__file__).with_name("model_schema.yaml")


# ------------------------------------------------------------------ dataset
def rdkit_demo_pairs() -> pd.DataFrame:
    """A small two-target activity set built from files that ship inside RDKit.

    - CHEMBL2321810 (rdkit/Contrib/FreeWilson/data): 1,017 aryl sulfonamides with pIC50;
    - c-Met (cmet_ligands.sdf): 24 ligands with experimental ΔG (kcal/mol), converted
      to pKd = -ΔG / (RT ln 10) at 298.15 K.
    Targets are given as ids only (no sequences).
    """
    from rdkit import Chem, RDConfig, rdBase

    base = Path(RDConfig.RDContribDir) / "FreeWilson" / "data"
    smi = pd.read_csv(base / "CHEMBL2321810.smi", sep=r"\s+", header=None, names=["smiles", "drug_id"],
                      dtype=str)
    act = pd.read_csv(base / "CHEMBL2321810_act.csv", dtype={"Name": str})
    a = smi.merge(act, left_on="drug_id", right_on="Name")
    a = pd.DataFrame({"drug_id": "CHEMBL-" + a["drug_id"], "smiles": a["smiles"], "target_id": "CHEMBL2321810",
                      "sequence": "", "label": a["Act"].astype(float)})
    rows = []
    rt_ln10 = 0.0019872036 * 298.15 * math.log(10)
    with rdBase.BlockLogs():
        for mol in Chem.SDMolSupplier(str(base / "cmet_ligands.sdf")):
            if mol is None or not mol.HasProp("r_exp_dg"):
                continue
            rows.append({"drug_id": mol.GetProp("_Name"), "smiles": Chem.MolToSmiles(mol), "target_id": "MET",
                         "sequence": "", "label": -float(mol.GetProp("r_exp_dg")) / rt_ln10})
    b = pd.DataFrame(rows).drop_duplicates("drug_id")
    return pd.concat([a, b], ignore_index=True)[PAIR_COLUMNS]


def prepare_dataset(cfg: dict, outdir: str | Path) -> dict:
    """Stage: a configured source → pairs.parquet, drugs.csv, folds.json (DeepDTA), rejects.tsv, dataset.json."""
    from theraflow.pairs.tables import REJECT_COLUMNS

    outdir = Path(outdir)
    source = cfg.get("source", "deepdta")
    folds = None
    rejects = pd.DataFrame(columns=REJECT_COLUMNS)
    if source == "deepdta":
        pairs = load_deepdta(cfg["path"], dataset=cfg.get("dataset", "davis"), ligands=cfg.get("ligands", "can"))
        if any(f.exists() for f in deepdta_fold_files(cfg["path"])):  # fold files that are there must be usable
            train_folds, test_fold = load_deepdta_folds(cfg["path"], setting=1, n_pairs=len(pairs))
            folds = {"train": train_folds, "test": test_fold}
        else:
            log.info("%s: no setting-1 fold files; the setting1 split is unavailable", cfg["path"])
    elif source == "table":
        cols = cfg.get("columns", {})
        pairs, rejects = load_pair_table(cfg["path"], **cols, on_error=cfg.get("on_error", "stop"))
    elif source == "rdkit_demo":
        pairs = rdkit_demo_pairs()
    else:
        raise ValueError(f"unknown dataset source {source!r}; expected one of {', '.join(SOURCES)}")
    pairs = pairs.reset_index(drop=True)
    pairs.insert(0, "pair_id", np.arange(len(pairs), dtype=np.int64))
    dup = pairs.duplicated(["drug_id", "target_id"], keep=False)
    if dup.any():
        n = int(dup.sum())
        log.warning("%d pairs measure the same drug and target more than once; their labels are averaged", n)
        agg = pairs.groupby(["drug_id", "target_id"], sort=False).agg(
            {c: "first" for c in pairs.columns if c not in ("label", "drug_id", "target_id")} | {"label": "mean"})
        pairs = agg.reset_index()[pairs.columns]
        pairs["pair_id"] = np.arange(len(pairs), dtype=np.int64)
    drugs = pairs[["drug_id", "smiles"]].drop_duplicates("drug_id").rename(columns={"drug_id": "id"})
    write_table(pairs, outdir / "pairs.parquet")
    write_table(drugs, outdir / "drugs.csv")
    write_json(outdir / "folds.json", folds or {})
    write_table(rejects, outdir / "rejects.tsv")
    info = {"source": source, "pairs": len(pairs), "drugs": int(drugs["id"].nunique()),
            "targets": int(pairs["target_id"].nunique()),
            "sequences": int(pairs.loc[pairs["sequence"] != "", "sequence"].nunique()),
            "label": {"min": float(pairs["label"].min()), "max": float(pairs["label"].max()),
                      "mean": float(pairs["label"].mean())},
            "has_setting1_folds": folds is not None, "rejected_rows": int(len(rejects))}
    write_json(outdir / "dataset.json", info)
    return info


# ------------------------------------------------------------------- splits
def split_stage(pairs_path: str | Path, folds_path: str | Path | None, kind: str, outdir: str | Path,
                name: str | None = None, **params: Any) -> dict:
    from theraflow.pairs.splits import make_split, save_split

    pairs = pd.read_parquet(pairs_path)
    folds = None
    if kind == "setting1":
        f = read_json(folds_path) if folds_path else {}
        if not f:
            raise InputError(f"{pairs_path}: the setting1 split needs DeepDTA fold files, and this data set has none")
        folds = (f["train"], f["test"])
    split_params = {k: v for k, v in params.items() if v is not None}
    part = make_split(pairs, kind, folds=folds, **split_params)
    return save_split(pairs, part, outdir, name or kind, kind=kind, params=split_params)


# -------------------------------------------------------------------- models
def load_model_config(path: str | Path) -> dict:
    """A model config (models/<name>/config.yaml), validated against the model schema."""
    from theraflow.configs import load_validated_yaml

    return load_validated_yaml(path, MODEL_SCHEMA)


def drug_graphs(molecules_path: str | Path, store: str | Path | None, featurizer: dict):
    """(drug id → row, GraphSet, standardized smiles by id) for the standardized drugs."""
    from theraflow.chem.featurize import graphs_of_table

    return graphs_of_table(molecules_path, store, featurizer)


def _pairs_with_graphs(pairs: pd.DataFrame, index: dict) -> tuple[pd.DataFrame, int]:
    keep = pairs["drug_id"].astype(str).isin(index)
    dropped = int((~keep).sum())
    if dropped:
        log.warning("%d pairs dropped: their drug was rejected by standardization or featurization", dropped)
    return pairs[keep].reset_index(drop=True), dropped


def train_stage(*, pairs_path, split_path, molecules_path, store, model_config, outdir, seed: int = 0,
                max_minutes: float | None = None, max_epochs: int | None = None, threads: int | None = None,
                progress: bool | None = None, resume: bool = True) -> dict:
    from theraflow.dti.data import build_pairset
    from theraflow.dti.train import train_model
    from theraflow.pairs.splits import pairs_with_parts
    from theraflow.training.tasks import run_overrides

    cfg = load_model_config(model_config) if isinstance(model_config, (str, Path)) else model_config
    featurizer = cfg.get("featurizer", {"name": "default"})
    index, graphs, _ = drug_graphs(molecules_path, store, featurizer)
    pairs, dropped = _pairs_with_graphs(pairs_with_parts(pairs_path, split_path), index)
    ps = build_pairset(pairs, index, graphs, max_len=cfg["target_encoder"].get("max_len", 1200))
    training = run_overrides(max_minutes, max_epochs, threads)
    meta = train_model(ps, pairs["part"].to_numpy(), cfg, outdir, seed=seed, training=training,
                       featurizer=featurizer, progress=progress, resume=resume,
                       extra_meta={"split": str(split_path), "pairs_dropped": dropped,
                                   "split_manifest": _manifest(split_path)})
    return meta


def _manifest(split_path) -> dict:
    p = Path(split_path)
    m = p.with_name(p.name.replace(".parquet", ".manifest.json"))
    return read_json(m) if m.exists() else {}


# ----------------------------------------------------------------- evaluate
def evaluate_stage(*, model_dir, pairs_path, split_path, molecules_path, store, outdir,
                   parts: tuple[str, ...] = ("valid", "test"), n_boot: int = 1000,
                   binary_threshold: float | None = None) -> dict:
    from theraflow.dti.data import build_pairset
    from theraflow.dti.metrics import evaluate_predictions
    from theraflow.dti.plots import scatter_plot
    from theraflow.dti.train import load_model, predict
    from theraflow.pairs.splits import pairs_with_parts

    outdir = Path(outdir)
    model, meta = load_model(model_dir)
    pairs = pairs_with_parts(pairs_path, split_path, parts)
    index, graphs, _ = drug_graphs(molecules_path, store, meta.get("featurizer") or {"name": "default"})
    pairs, dropped = _pairs_with_graphs(pairs, index)
    ps = build_pairset(pairs, index, graphs, target_ids=meta["target_ids"], drug_vocab=meta.get("drug_vocab"),
                       max_len=meta.get("max_len", 1200))
    t0 = time.perf_counter()
    pred = predict(model, ps)
    seconds = time.perf_counter() - t0
    preds = pairs[["pair_id", "drug_id", "target_id", "part", "label"]].copy()
    preds["prediction"] = pred
    write_table(preds, outdir / "predictions.parquet")
    result: dict = {"model_dir": str(model_dir), "split": str(split_path), "seed": meta.get("seed"),
                    "pairs_dropped": dropped, "predict_seconds": round(seconds, 3),
                    "train_seconds": meta.get("train_seconds"), "epochs_trained": meta.get("epochs_trained"),
                    "device": meta.get("device"), "parts": {}}
    for p in parts:
        sub = preds[preds["part"] == p]
        if len(sub) < 2:
            continue
        result["parts"][p] = evaluate_predictions(sub["label"].to_numpy(), sub["prediction"].to_numpy(),
                                                  binary_threshold=binary_threshold, n_boot=n_boot)
    write_json(outdir / "metrics.json", result)
    shown = "test" if "test" in result["parts"] else next(iter(result["parts"]), None)
    if shown:
        sub = preds[preds["part"] == shown]
        scatter_plot(sub["label"].to_numpy(), sub["prediction"].to_numpy(), outdir / "scatter.png",
                     title=f"{Path(model_dir).name} — {shown} ({len(sub)} pairs)",
                     metrics=result["parts"][shown]["metrics"])
    return result


# -------------------------------------------------------------------- table
def metrics_table(metrics_files: list[str | Path], out_tsv: str | Path, out_png: str | Path | None = None) -> pd.DataFrame:
    """Stage: per-run metrics.json files → one table (per run + mean ± sd over seeds) and a plot.

    Paths are expected as results/dti/<dataset>/<split>/<model>/seed<N>/metrics.json.
    """
    rows = []
    for f in metrics_files:
        f = Path(f)
        m = read_json(f)
        seed_dir, model, split, dataset = f.parent.name, f.parent.parent.name, f.parent.parent.parent.name, \
            f.parent.parent.parent.parent.name
        for part, res in m["parts"].items():
            row = {"dataset": dataset, "split": split, "model": model, "seed": seed_dir.removeprefix("seed"),
                   "part": part, **{k: v for k, v in res["metrics"].items()},
                   "train_seconds": m.get("train_seconds"), "epochs": m.get("epochs_trained")}
            for k, (lo, hi) in res.get("ci95", {}).items():
                row[f"{k}_lo"], row[f"{k}_hi"] = lo, hi
            rows.append(row)
    df = pd.DataFrame(rows)
    summary = (df.groupby(["dataset", "split", "model", "part"])[["ci", "mse", "pearson", "spearman"]]
               .agg(["mean", "std", "count"]))
    summary.columns = [f"{a}_{b}" for a, b in summary.columns]
    summary = summary.reset_index()
    write_table(df, out_tsv)
    write_table(summary, Path(out_tsv).with_name(Path(out_tsv).stem + ".summary.tsv"))
    if out_png:
        from theraflow.dti.plots import metrics_plot

        metrics_plot(df[df["part"] == "test"], out_png)
    return summary


def model_summary(model_dir: str | Path) -> dict:
    return json.loads((Path(model_dir) / "model.json").read_text())
