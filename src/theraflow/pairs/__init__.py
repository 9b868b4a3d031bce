"""The pair-task engine: one code path for every interaction task — drug–target, drug–drug, and any a
plugin registers — and every label kind (regression, binary, multiclass).

Notebook use::

    from theraflow import pairs
    info = pairs.prepare_dataset("dti", {"source": "table", "path": "my_pairs.csv"}, "work/my")  # label kind inferred
    pairs.split_stage("work/my/pairs.parquet", "random", "work/my/splits")
    meta = pairs.train_stage(pairs_path="work/my/pairs.parquet", split_path="work/my/splits/random.parquet",
                             molecules_path=..., store="resources/feature_store",
                             model_config="models/dti_hybrid/config.yaml", outdir="work/my/model/seed0")
    scores, rejects = pairs.score_pairs(molecules, ["work/my/model/seed0"])
    pairs.score_library("library.smi", ["work/my/model/seed0"], "work/screen")       # sharded, resumable
    pairs.distill("work/screen", "work/first_pass")                                  # a fast first pass
    pairs.score_library("big.smi", ["work/my/model/seed0"], "work/big", first_pass="work/first_pass")

A task is declared in one module (:mod:`theraflow.pairs.task`), a label kind in another
(:mod:`theraflow.pairs.label`); the names come from :mod:`theraflow.registry`. Nothing heavy is imported
here: the names below load on first use (the CLI lists the registries without torch).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_API = {
    "prepare_dataset": "stages", "load_dataset": "stages", "split_stage": "stages", "train_stage": "stages",
    "evaluate_stage": "stages", "calibrate_stage": "stages", "metrics_table": "stages",
    "load_model_config": "stages", "spec_of": "stages",
    "train_model": "train", "load_model": "train", "predict": "train",
    "PairData": "data", "EntityTable": "data", "Molecules": "data", "build_pair_data": "data", "PairBatches": "data",
    "PairTask": "task", "Role": "task", "TaskSpec": "task", "task_spec": "task",
    "make_split": "splits", "save_split": "splits", "load_split": "splits", "audit_split": "splits",
    "load_ensemble": "scoring", "score_pairs": "scoring", "read_targets": "scoring", "read_partners": "scoring",
    "score_library": "screen", "distill": "distill", "load_first_pass": "distill",
    "ConstantPredictor": "baselines", "FingerprintGBT": "baselines", "FingerprintMLP": "baselines",
    "concordance_index": "metrics", "regression_metrics": "metrics",
}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(import_module(f"theraflow.pairs.{_API[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
