"""Drug–target interactions: pair data, splits, training, evaluation and scoring of libraries.

Notebook use::

    from theraflow import chem, dti
    pairs = dti.rdkit_demo_pairs()                       # or dti.load_deepdta(...), dti.load_pair_table(...)
    part = dti.make_split(pairs, "random", seed=0)
    graphs = chem.featurize(pairs["smiles"].unique().tolist(), "default")
    ...
    meta = dti.train_model(pairset, part.to_numpy(), model_cfg, "model/seed0")
    scores, rejects = dti.score_smiles(library, ["model/seed0"])
"""

from theraflow.dti.baselines import ConstantPredictor, FingerprintGBT
from theraflow.dti.data import PairBatches, PairSet, build_pairset
from theraflow.dti.metrics import concordance_index, evaluate_predictions, regression_metrics
from theraflow.dti.scoring import load_ensemble, read_targets, score_smiles
from theraflow.dti.stages import (
    evaluate_stage,
    load_model_config,
    metrics_table,
    prepare_dataset,
    rdkit_demo_pairs,
    split_stage,
    train_stage,
)
from theraflow.dti.train import calibrate, load_model, predict, train_model
from theraflow.pairs.loaders import load_deepdta, load_deepdta_folds, load_pair_table
from theraflow.pairs.splits import audit_split, load_split, make_split, save_split

__all__ = [
    "ConstantPredictor", "FingerprintGBT", "PairBatches", "PairSet", "audit_split", "build_pairset", "calibrate",
    "concordance_index", "evaluate_predictions", "evaluate_stage", "load_deepdta", "load_deepdta_folds",
    "load_ensemble", "load_model", "load_model_config", "load_pair_table", "load_split", "make_split",
    "metrics_table", "predict", "prepare_dataset", "rdkit_demo_pairs", "read_targets", "regression_metrics",
    "save_split", "score_smiles", "split_stage", "train_model", "train_stage",
]
