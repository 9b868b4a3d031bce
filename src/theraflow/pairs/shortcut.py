"""The shortcut audit of a split: can its labels be predicted from *which* entities a pair names?

Beside the leakage audit (what the parts share) every split is measured with the entity-frequency
baseline (:class:`~theraflow.pairs.baselines.EntityFrequency`): each entity's training labels (its share
of positives, its mean label, its class frequencies), combined over the pair's two entities, with no
structure at all. It is fitted on the training part and measured on the validation and test parts with
the label kind's own metric (``LabelKind.shortcut_metric``: AUROC for binary labels, the concordance
index for a regression, accuracy for classes).

A split is **flagged** when, on its test part (its validation part where it has no test part),

- the baseline comes within :data:`SHORTCUT_MARGIN` of the model's figure (the evaluate stage, where the
  model's metrics are known; benchmarks compare it with their models the same way), or
- the baseline alone reaches :data:`NEAR_PERFECT` (the split stage can say this without a model).

A flagged split's figures say how well a model recognises entities it has seen labelled, not how well
it reads their structure: a table whose positives and negatives name disjoint drug sets is scored near
perfectly by such a rule on a random split, and on a split where one drug of each pair is new.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

BASELINE = "entity_frequency"
SHORTCUT_MARGIN = 0.02  # flag when baseline >= model - this (AUROC, CI, accuracy: higher is better)
NEAR_PERFECT = 0.95  # flag when the baseline alone reaches this, whatever the model
PARTS = ("valid", "test")


def _number(v) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def shortcut_flag(baseline: float | None, model: float | None = None, *, margin: float = SHORTCUT_MARGIN,
                  near_perfect: float = NEAR_PERFECT) -> bool:
    """True when the baseline's figure is near perfect, or within ``margin`` of the model's (or above it)."""
    baseline, model = _number(baseline), _number(model)
    if baseline is None:
        return False
    if baseline >= near_perfect:
        return True
    return model is not None and baseline >= model - margin


def _decisive(by_part: dict) -> str | None:
    """The part whose figures decide the flag: test, else validation."""
    return "test" if "test" in by_part else next(iter(by_part), None)


def _entities(spec) -> str:
    """How a reader calls the entities a pair names ("drug", "drug and target")."""
    task = spec.task
    if task.same_kind:
        return task.roles[0].title.split()[-1] if task.roles[0].title else task.entity(task.roles[0]).name
    return " and ".join(r.title or r.name for r in task.roles)


def _what(spec) -> str:
    return {"binary": "a positive label", "regression": "a high label"}.get(spec.label.name, "each class")


def measure_shortcut(spec, pairs: pd.DataFrame, part) -> dict:
    """The entity-frequency baseline fitted on the ``train`` pairs and measured on ``valid`` and ``test``
    (every metric of the label kind, no bootstrap); ``near_perfect`` and ``flag`` say whether it alone
    reaches :data:`NEAR_PERFECT` on the test part (the validation part where there is no test part)."""
    from theraflow.pairs.baselines import EntityFrequency

    part = np.asarray(part, dtype=object)
    label, metric = spec.label, spec.label.shortcut_metric
    out: dict = {"baseline": BASELINE, "metric": metric, "near_perfect_at": NEAR_PERFECT,
                 "what": (f"each pair scored by how often its {_entities(spec)} carried {_what(spec)} in the "
                          "training part (smoothed toward the base rate; an entity unseen in training gets it)"),
                 BASELINE: {}}
    train = pairs[part == "train"]
    if not len(train):
        out["flag"] = out["near_perfect"] = False
        out["sentence"] = "No training pairs: the entity-frequency baseline was not measured."
        return out
    model = EntityFrequency(spec=spec).fit(train)
    for p in PARTS:
        sel = pairs[part == p]
        if len(sel) < 2:
            continue
        y = label.encode(sel["label"], spec.classes)
        metrics = label.evaluate(y, model.predict(sel), classes=spec.classes, n_boot=0)["metrics"]
        out[BASELINE][p] = {k: (int(v) if k == "n" else _number(v)) for k, v in metrics.items()}
    decisive = _decisive(out[BASELINE])
    out["near_perfect"] = decisive is not None and shortcut_flag(out[BASELINE][decisive].get(metric), None)
    out["flag"] = out["near_perfect"]
    out["sentence"] = shortcut_sentence(spec, out)
    return out


def compare_shortcut(spec, shortcut: dict, model_parts: dict) -> dict:
    """The baseline beside a model's metrics per part (``{part: {"metrics": {...}}}`` as the evaluate
    stage writes them, or ``{part: {metric: value}}``): each part's flag, the split's flag (its test part's,
    else its validation part's) and the sentence a report shows."""
    metric = shortcut["metric"]
    out = {k: v for k, v in shortcut.items() if k not in ("flag", "sentence", "near_perfect")}
    out.update(margin=SHORTCUT_MARGIN, parts={})
    for p, base in shortcut.get(BASELINE, {}).items():
        res = model_parts.get(p) or {}
        model = (res.get("metrics", res) or {}).get(metric)
        out["parts"][p] = {BASELINE: base.get(metric), "model": _number(model),
                           "flag": shortcut_flag(base.get(metric), model)}
    decisive = _decisive(out["parts"])
    out["flag"] = decisive is not None and out["parts"][decisive]["flag"]
    out["sentence"] = shortcut_sentence(spec, out)
    return out


def shortcut_sentence(spec, result: dict) -> str:
    """What the baseline's figure means, in a sentence (the test part's figure where there is one)."""
    from theraflow.pairs.metrics import metric_name

    metric = result["metric"]
    measured = result.get(BASELINE, {})
    part = _decisive(measured)
    if part is None:
        return "The entity-frequency baseline has no validation or test part to be measured on."
    value = _number(measured[part].get(metric))
    if value is None:
        return f"The entity-frequency baseline's {metric_name(metric)} is undefined on this split's {part} part."
    model = _number((result.get("parts", {}).get(part) or {}).get("model"))
    figure = f"scores {metric_name(metric)} {value:.3f} on this split's {part} part"
    if model is not None:
        figure += f" (the model: {model:.3f})"
    rule = (f"A rule that only counts how often each {_entities(spec)} carried {_what(spec)} in training "
            f"{figure}")
    if result.get("flag"):
        return (f"{rule}: the labels can be predicted from which entities appear, not from their structure; "
                "figures on this split say little about new chemistry.")
    if model is not None:
        return f"{rule}: the model's figures are not explained by which entities appear."
    return f"{rule}; a model's figures on this split mean something only as far as they exceed it."


def split_shortcut(spec, pairs_path: str | Path, split_path: str | Path, model_parts: dict, load_parts) -> dict:
    """The evaluate stage's shortcut check: the split audit's baseline figures (measured here when the
    audit beside the split has none, or another metric) compared with the model's ``model_parts``.
    ``load_parts(split_path, pairs)`` gives each pair's part (the splits module's ``load_split``: passed in,
    as the splits module calls this one)."""
    from theraflow.io import read_json

    split_path = Path(split_path)
    audit = split_path.with_name(split_path.name.replace(".parquet", ".audit.json"))
    shortcut = (read_json(audit).get("shortcut") if audit.exists() else None) or {}
    if shortcut.get("metric") != spec.label.shortcut_metric or BASELINE not in shortcut:
        pairs = pd.read_parquet(pairs_path)
        shortcut = measure_shortcut(spec, pairs, load_parts(split_path, pairs).to_numpy())
    result = compare_shortcut(spec, shortcut, model_parts)
    (log.warning if result["flag"] else log.info)("shortcut audit: %s", result["sentence"])
    return result
