"""Drug–drug interaction stages on files: dataset → split → train → evaluate → metrics table.

One function per stage; the Snakemake rules reach them through ``theraflow ddi ...`` and
notebooks call them directly (or through :mod:`theraflow.ddi`).

Formulation: one row per (ordered drug pair, interaction type). An ordered pair with two types
is two rows — both kept, each scored as its own row by the metrics (so a model can be right on
at most one of them: the ceiling of accuracy on such pairs is 1/2) — and the split keeps every
row of an unordered pair (both orders, every type) in one part (``group``).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from theraflow.errors import InputError
from theraflow.io import read_json, write_json, write_table
from theraflow.pairs.loaders import DDI_COLUMNS, load_ddi_table, load_drugbank_ddi, unordered_key
from theraflow.pairs.tables import REJECT_COLUMNS

log = logging.getLogger(__name__)

SOURCES = ("drugbank", "table", "demo")
KINDS = ("random", "one_unseen", "both_unseen")


# ------------------------------------------------------------------ dataset
def prepare_dataset(cfg: dict, outdir: str | Path) -> dict:
    """Stage: a configured source → pairs.parquet, drugs.csv, types.tsv, rejects.tsv, dataset.json."""
    outdir = Path(outdir)
    source = cfg.get("source", "drugbank")
    on_error = cfg.get("on_error", "reject")
    if source == "drugbank":
        pairs, rejects, types = load_drugbank_ddi(cfg["path"], on_error=on_error)
    elif source == "table":
        classes = [str(c) for c in cfg["classes"]] if cfg.get("classes") else None
        pairs, rejects = load_ddi_table(cfg["path"], classes=classes, on_error=on_error, drugs=cfg.get("drugs"),
                                        **(cfg.get("columns") or {}))
        names = classes or ["0", "1"]
        types = pd.DataFrame({"type": names, "sentence": [cfg.get("sentences", {}).get(c, "") for c in names],
                              "subject": "", "ddi_type": ""})
    elif source == "demo":
        from theraflow.ddi.demo import demo_pairs

        pairs, types = demo_pairs()
        rejects = pd.DataFrame(columns=REJECT_COLUMNS)
    else:
        raise ValueError(f"unknown DDI data source {source!r}; expected one of {', '.join(SOURCES)}")
    pairs = pairs[DDI_COLUMNS].reset_index(drop=True)
    pairs.insert(0, "pair_id", np.arange(len(pairs), dtype=np.int64))
    pairs["group"] = unordered_key(pairs["drug1"], pairs["drug2"])
    drugs = pd.concat([pairs[["drug1", "smiles1"]].set_axis(["id", "smiles"], axis=1),
                       pairs[["drug2", "smiles2"]].set_axis(["id", "smiles"], axis=1)]).drop_duplicates("id")
    write_table(pairs, outdir / "pairs.parquet")
    write_table(drugs, outdir / "drugs.csv")
    write_table(types, outdir / "types.tsv")
    write_table(rejects, outdir / "rejects.tsv")
    per_ordered = pairs.groupby(["drug1", "drug2"])["label"].nunique()
    orders = pairs.groupby("group")[["drug1", "drug2"]].apply(lambda g: len(g.drop_duplicates()) > 1)
    info = {"source": source, "pairs": len(pairs), "drugs": int(len(drugs)), "types": int(pairs["label"].nunique()),
            "classes": types["type"].astype(str).tolist(), "binary": types["type"].astype(str).tolist() == ["0", "1"],
            "ordered_pairs_with_two_or_more_types": int((per_ordered > 1).sum()),
            "unordered_pairs_in_both_orders": int(orders.sum()), "rejected_rows": int(len(rejects)),
            "type_counts": {str(k): int(v) for k, v in pairs["label"].value_counts().items()}}
    write_json(outdir / "dataset.json", info)
    log.info("%s: %d pairs, %d drugs, %d types; %d rejected", source, len(pairs), len(drugs), info["types"],
             len(rejects))
    return info


# ------------------------------------------------------------------- splits
def split_stage(pairs_path: str | Path, kind: str, outdir: str | Path, name: str | None = None, *,
                seed: int = 0, test_frac: float = 0.1, valid_frac: float = 0.1) -> dict:
    """Stage: one split of a DDI pair table, saved with its manifest and audit (no group straddles parts)."""
    from theraflow.pairs.splits import DDI, make_split, save_split

    if kind not in KINDS:
        raise ValueError(f"unknown DDI split kind {kind!r}; expected one of {', '.join(KINDS)}")
    pairs = pd.read_parquet(pairs_path)
    part = make_split(pairs, kind, schema=DDI, group="group" if kind == "random" else None, seed=seed,
                      test_frac=test_frac, valid_frac=valid_frac)
    params = {"seed": seed, "test_frac": test_frac, "valid_frac": valid_frac}
    return save_split(pairs, part, outdir, name or kind, kind=kind, params=params, schema=DDI, group="group")


# -------------------------------------------------------------------- models
def load_model_config(path: str | Path) -> dict:
    from theraflow.configs import load_validated_yaml
    from theraflow.ddi.train import MODEL_SCHEMA

    return load_validated_yaml(path, MODEL_SCHEMA)


def _classes(pairs_path: str | Path) -> list[str]:
    info = Path(pairs_path).with_name("dataset.json")
    if not info.exists():
        raise InputError(f"{info}: not found (written by `theraflow ddi dataset` beside the pairs)")
    return read_json(info)["classes"]


def _ddiset(pairs: pd.DataFrame, molecules_path, store, featurizer: dict, classes: list[str],
            drug_vocab: list[str] | None = None):
    """The pairs whose drugs have graphs (standardized, featurized), as a DDISet; and how many were dropped."""
    from theraflow.chem.featurize import graphs_of_table
    from theraflow.ddi.data import build_ddiset

    rows, graphs, _ = graphs_of_table(molecules_path, store, featurizer)
    keep = pairs["drug1"].astype(str).isin(rows) & pairs["drug2"].astype(str).isin(rows)
    dropped = int((~keep).sum())
    if dropped:
        log.warning("%d pairs dropped: a drug of theirs was rejected by standardization or featurization", dropped)
    pairs = pairs[keep].reset_index(drop=True)
    return pairs, build_ddiset(pairs, rows, graphs, classes, drug_vocab=drug_vocab), dropped


def train_stage(*, pairs_path, split_path, molecules_path, store, model_config, outdir, seed: int = 0,
                max_minutes: float | None = None, max_epochs: int | None = None, threads: int | None = None,
                progress: bool | None = None, resume: bool = True) -> dict:
    from theraflow.ddi.train import train_ddi
    from theraflow.pairs.splits import pairs_with_parts
    from theraflow.training.tasks import run_overrides

    cfg = load_model_config(model_config) if isinstance(model_config, (str, Path)) else model_config
    featurizer = cfg.get("featurizer", {"name": "default"})
    pairs, ds, dropped = _ddiset(pairs_with_parts(pairs_path, split_path), molecules_path, store, featurizer,
                                 _classes(pairs_path))
    training = run_overrides(max_minutes, max_epochs, threads)
    types = Path(pairs_path).with_name("types.tsv")
    sentences = {}
    if types.exists():
        t = pd.read_csv(types, sep="\t", dtype=str, keep_default_na=False)
        sentences = dict(zip(t["type"], t["sentence"]))
    return train_ddi(ds, pairs["part"].to_numpy(), cfg, outdir, seed=seed, training=training, featurizer=featurizer,
                     progress=progress, resume=resume,
                     extra_meta={"split": str(split_path), "pairs_dropped": dropped, "sentences": sentences})


# ----------------------------------------------------------------- evaluate
def evaluate_stage(*, model_dir, pairs_path, split_path, molecules_path, store, outdir,
                   parts: tuple[str, ...] = ("valid", "test"), n_boot: int = 1000) -> dict:
    """Stage: predictions of the valid/test pairs, metrics with bootstrap intervals, a confusion-matrix PNG."""
    from theraflow.ddi.metrics import evaluate
    from theraflow.ddi.plots import confusion_plot
    from theraflow.ddi.train import load_model, predict_proba
    from theraflow.pairs.splits import pairs_with_parts

    outdir = Path(outdir)
    model, meta = load_model(model_dir)
    pairs, ds, dropped = _ddiset(pairs_with_parts(pairs_path, split_path, parts), molecules_path, store,
                                 meta.get("featurizer") or {"name": "default"},
                                 meta["classes"], drug_vocab=meta.get("drug_vocab"))
    t0 = time.perf_counter()
    prob = predict_proba(model, ds)
    seconds = time.perf_counter() - t0
    classes = meta["classes"]
    preds = pairs[["pair_id", "drug1", "drug2", "part", "label"]].copy()
    preds["predicted"] = [classes[i] for i in prob.argmax(axis=1)]
    preds["probability"] = prob.max(axis=1)
    write_table(preds, outdir / "predictions.parquet")
    np.save(outdir / "probabilities.npy", prob.astype(np.float16))  # rows of predictions.parquet, classes of model.json
    binary = len(classes) == 2 and classes == ["0", "1"]
    result: dict = {"model_dir": str(model_dir), "split": str(split_path), "seed": meta.get("seed"),
                    "pairs_dropped": dropped, "predict_seconds": round(seconds, 3),
                    "train_seconds": meta.get("train_seconds"), "epochs_trained": meta.get("epochs_trained"),
                    "device": meta.get("device"), "formulation": _formulation(binary), "parts": {}}
    for p in parts:
        sel = (preds["part"] == p).to_numpy()
        if sel.sum() < 2:
            continue
        result["parts"][p] = evaluate(ds.label[sel], prob[sel], binary=binary, classes=classes, n_boot=n_boot)
    write_json(outdir / "metrics.json", result)
    shown = "test" if "test" in result["parts"] else next(iter(result["parts"]), None)
    if shown and not binary:
        sel = (preds["part"] == shown).to_numpy()
        confusion_plot(ds.label[sel], prob[sel].argmax(axis=1), classes, outdir / "confusion.png",
                       title=f"{Path(model_dir).name} — {shown} ({int(sel.sum())} pairs)")
    elif shown:
        from theraflow.ddi.plots import binary_plot

        sel = (preds["part"] == shown).to_numpy()
        binary_plot(ds.label[sel], prob[sel, 1], outdir / "confusion.png", title=f"{Path(model_dir).name} — {shown}")
    return result


def _formulation(binary: bool) -> str:
    if binary:
        return "binary: does the ordered pair interact (labels 0/1), one row per pair"
    return ("multi-class softmax over the interaction types, one row per (ordered pair, type); an ordered pair "
            "with two types is two rows, each counted")


# -------------------------------------------------------------------- table
def metrics_table(metrics_files: list[str | Path], out_tsv: str | Path, out_png: str | Path | None = None) -> pd.DataFrame:
    """Stage: per-run metrics.json (results/ddi/<dataset>/<split>/<model>/seed<N>/) → one table + summary."""
    rows = []
    for f in map(Path, metrics_files):
        m = json.loads(f.read_text())
        seed_dir, model, split, dataset = f.parent.name, f.parent.parent.name, f.parent.parent.parent.name, \
            f.parent.parent.parent.parent.name
        for part, res in m["parts"].items():
            row = {"dataset": dataset, "split": split, "model": model, "seed": seed_dir.removeprefix("seed"),
                   "part": part, **res["metrics"], "train_seconds": m.get("train_seconds"),
                   "epochs": m.get("epochs_trained")}
            for k, (lo, hi) in res.get("ci95", {}).items():
                row[f"{k}_lo"], row[f"{k}_hi"] = lo, hi
            rows.append(row)
    df = pd.DataFrame(rows)
    cols = [c for c in ("accuracy", "macro_f1", "kappa", "micro_auprc", "macro_auprc", "auroc", "auprc") if c in df]
    summary = df.groupby(["dataset", "split", "model", "part"])[cols].agg(["mean", "std", "count"])
    summary.columns = [f"{a}_{b}" for a, b in summary.columns]
    summary = summary.reset_index()
    write_table(df, out_tsv)
    write_table(summary, Path(out_tsv).with_name(Path(out_tsv).stem + ".summary.tsv"))
    if out_png:
        from theraflow.ddi.plots import metrics_plot

        metrics_plot(df[df["part"] == "test"], cols[:3], out_png)
    return summary
