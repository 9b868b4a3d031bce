"""Drug–drug interactions: DrugBank and generic pair tables, splits, training, evaluation, scoring.

Notebook use::

    from theraflow import chem, ddi
    pairs, types = ddi.demo_pairs()                      # or ddi.load_drugbank_ddi("../shared/data/drugbank_ddi")
    part = ddi.split_pairs(pairs, "random", seed=0)      # no unordered pair straddles train and test
    ...
    meta = ddi.train_ddi(ddiset, part.to_numpy(), model_cfg, "model/seed0")
    scores, rejects = ddi.score_pairs(candidates, panel, ["model/seed0"])
"""

from theraflow.ddi.data import DDIBatches, DDISet, build_ddiset
from theraflow.ddi.demo import demo_pairs
from theraflow.ddi.metrics import binary_metrics, evaluate, multiclass_metrics
from theraflow.ddi.scoring import fill_sentence, load_ensemble, score_pairs
from theraflow.ddi.stages import (
    evaluate_stage,
    load_model_config,
    metrics_table,
    prepare_dataset,
    split_stage,
    train_stage,
)
from theraflow.ddi.train import load_model, predict_proba, train_ddi
from theraflow.pairs.loaders import load_ddi_table, load_drugbank_ddi, unordered_key


def split_pairs(pairs, kind: str, *, seed: int = 0, test_frac: float = 0.1, valid_frac: float = 0.1):
    """The part of every row of a DDI pair table: ``random`` (whole unordered pairs), ``one_unseen``
    or ``both_unseen`` (drugs held out of training)."""
    from theraflow.pairs.splits import DDI, make_split

    group = None
    if kind == "random":
        pairs = pairs.assign(group=unordered_key(pairs["drug1"], pairs["drug2"]))
        group = "group"
    return make_split(pairs, kind, schema=DDI, group=group, seed=seed, test_frac=test_frac, valid_frac=valid_frac)


__all__ = [
    "DDIBatches", "DDISet", "binary_metrics", "build_ddiset", "demo_pairs", "evaluate", "evaluate_stage",
    "fill_sentence", "load_ddi_table", "load_drugbank_ddi", "load_ensemble", "load_model", "load_model_config",
    "metrics_table", "multiclass_metrics", "predict_proba", "prepare_dataset", "score_pairs", "split_pairs",
    "split_stage", "train_ddi", "train_stage", "unordered_key",
]
