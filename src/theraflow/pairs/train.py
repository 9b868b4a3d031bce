"""Training, saving, loading and prediction of pair models — one code path for every task and label kind.

:func:`train_model` fits a :class:`~theraflow.nn.pair.PairModel` on the ``train`` part of a split and
selects on ``valid`` (never ``test``) through :func:`theraflow.training.fit`: checkpoints every epoch,
SIGTERM → checkpoint → exit 143, resume only under the same recipe fingerprint, wall-time budget,
history, seeds, mixed precision on a GPU. The batches' position travels in the checkpoints, so a job
stopped mid-epoch resumes at the next batch and ends with exactly the weights of an uninterrupted run.

A trained model is a directory: ``model.safetensors`` (weights, no pickle), ``model.json`` (the task and
label kind, the model config, dimensions, vocabularies and how their keys were made — ``vocab_keys``: a
molecule by its standardized SMILES, a target by a hash of its sequence, so that its name is a label; bundles
without it know targets by id and still load, with a warning — the training record), ``history.csv`` and
``train_drugs.smi`` (the training molecules: what scoring measures the applicability domain against).
Bundles written by the earlier drug–target and drug–drug packages load too.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from theraflow.errors import InputError
from theraflow.pairs.data import PairBatches, PairData, vocabularies
from theraflow.pairs.task import TaskSpec

log = logging.getLogger(__name__)

FORMAT = "theraflow-pair-1"

# The recipe keys and their defaults; a task overrides some (theraflow.pairs.tasks), a model config's
# ``training`` others, a run (CLI, rule) the budget, epochs and threads.
BASE_TRAINING: dict[str, Any] = {
    "max_epochs": 100,
    "max_minutes": 15.0,
    "batch_mode": "random",  # random | blocks (targets x drugs; see theraflow.pairs.data)
    "batch_size": 512,
    "target_group": 32,
    "drug_group": 1_000_000,
    "lr": 1e-3,
    "weight_decay": 1e-4,
    "scheduler": "onecycle",
    "warmup_frac": 0.1,
    "patience": 20,
    "eval_every": 1,
    "grad_clip": 5.0,
    "threads": 2,
    "ema": None,
    "calibrate": False,  # regression: shrink toward the training fallback by a weight fitted on validation
    "label_smoothing": 0.0,  # classification
    "class_weights": "none",  # multiclass: none | inverse_sqrt
}
ONLY_FOR = {"calibrate": ("regression",), "label_smoothing": ("binary", "multiclass"),
            "class_weights": ("multiclass",)}


def training_defaults(spec: TaskSpec) -> dict:
    return {**BASE_TRAINING, **spec.task.training}


def recipe(spec: TaskSpec, model_cfg: dict, overrides: dict | None = None) -> dict:
    """The training recipe: the engine's defaults, the task's, the model config's, then the run's."""
    from theraflow.training.tasks import training_options

    t = training_options(training_defaults(spec), model_cfg, overrides)
    for key, kinds in ONLY_FOR.items():  # a recipe serves every label kind: what does not apply is left out
        if t.get(key) != BASE_TRAINING[key] and spec.label.name not in kinds:
            log.info("model %s: training.%s applies to %s labels; not used for these %s labels",
                     model_cfg.get("name", "?"), key, " and ".join(kinds), spec.label.name)
            t[key] = BASE_TRAINING[key]
    return t


def build_model(spec: TaskSpec, model_cfg: dict, dims: dict):
    from theraflow.nn.pair import PairModel
    from theraflow.pairs.model_config import normalized

    return PairModel(spec.task, normalized(spec.task, model_cfg), dims, n_out=spec.n_out, head_defaults=spec.task.head)


def model_dims(data: PairData, vocab_sizes: dict[str, int]) -> dict:
    return {k: {**t.kind.dims(t), "vocab": int(vocab_sizes.get(k, 0))} for k, t in data.tables.items()}


def train_model(data: PairData, parts: np.ndarray, model_cfg: dict, outdir: str | Path, *, seed: int = 0,
                training: dict | None = None, featurizer: dict | None = None, resume: bool = True,
                progress: bool | None = None, extra_meta: dict | None = None, callbacks: list | None = None) -> dict:
    """Train on ``parts == "train"``, select on ``parts == "valid"``; see the module docstring."""
    from theraflow.pairs.module import PairModule
    from theraflow.training import seed_everything
    from theraflow.training.bundle import write_train_drugs
    from theraflow.training.tasks import fit_task, recipe_fingerprint, split_parts

    spec, label = data.spec, data.spec.label
    t = recipe(spec, model_cfg, training)
    torch.set_num_threads(max(1, int(t["threads"])))
    seed_everything(seed)
    train_idx, valid_idx = split_parts(parts)
    label.check_training(data.label[train_idx], data.label[valid_idx], spec.classes)
    outdir = Path(outdir)
    # an entity is known to the model (id embeddings, fallback offsets) only when it trains on it
    vocab = trained_vocabulary(data, train_idx)
    data = data.with_vocabulary(vocab)
    dims = model_dims(data, {k: len(v) for k, v in vocab.items()})
    model = build_model(spec, model_cfg, dims)
    from theraflow.pairs.model_config import normalized
    from theraflow.pretrain import apply_pretrained

    pretrained = apply_pretrained(model, normalized(spec.task, model_cfg), featurizer)
    needs = model.needs()
    context = label.prepare(model, data.label[train_idx], t, spec.classes)
    train_data = PairBatches(data, train_idx, mode=t["batch_mode"], batch_size=t["batch_size"],
                             target_group=t["target_group"], drug_group=t["drug_group"], seed=seed, needs=needs)
    valid_data = PairBatches(data, valid_idx, mode=t["batch_mode"], batch_size=max(2048, t["batch_size"]),
                             target_group=max(64, t["target_group"]), shuffle=False, seed=seed, needs=needs)
    module = PairModule(model, label, t, steps_per_epoch=len(train_data),
                        context={k: v for k, v in context.items() if isinstance(v, torch.Tensor) or v is None})
    fingerprint = recipe_fingerprint(model_cfg, t, seed, dims, train_idx, valid_idx, task=spec.to_json())
    result = fit_task(module, train_data, valid_data, outdir, t, seed=seed, monitor=label.monitor, mode=label.mode,
                      fingerprint=fingerprint, resume=resume, progress=progress, callbacks=callbacks)
    module.load_state_dict(result.state_dict)
    model = module.model
    model.vocab = vocab
    finished = label.finish(model, data, train_idx, valid_idx, t, predict)
    partners = data.table(1)
    trained_b = np.unique(data.b[train_idx])
    meta = {
        "format": FORMAT,
        "task": spec.to_json(),
        "model_config": model_cfg,
        "training": t,
        "dims": dims,
        **{k: v for k, v in context.items() if not isinstance(v, torch.Tensor) and v is not None},
        "calibration": finished,
        "vocab": vocab,
        "vocab_keys": {k: t.kind.keying for k, t in data.tables.items()},
        "partners": {"ids": [partners.ids[i] for i in trained_b], "values": [partners.values[i] for i in trained_b]},
        "featurizer": featurizer or {},
        "seed": seed,
        "epochs_trained": result.epochs,
        "monitor": label.monitor,
        "best_val": result.best_score,
        "train_seconds": result.seconds,
        "device": result.device,
        "train_energy": result.energy,
        **({"pretrained": pretrained} if pretrained else {}),
        **(extra_meta or {}),
    }
    save_model(model, meta, outdir)
    mols = [t for t in data.tables.values() if t.kind.featurized]
    if mols:
        m = mols[0]
        trained = np.unique(np.concatenate([data.rows(i)[train_idx] for i, r in enumerate(spec.task.roles)
                                            if r.entity == m.kind.name]))
        write_train_drugs(m.keys(), m.ids, trained, outdir)
    return meta


def trained_vocabulary(data: PairData, train_idx: np.ndarray) -> dict[str, list[str]]:
    """{entity kind: keys of the entities in training pairs}, in table order, each once (entities of
    different ids with the same key, e.g. one sequence under two names, are one entity)."""
    out = {}
    for kind, table in data.tables.items():
        rows = np.unique(np.concatenate([data.rows(i)[train_idx] for i, r in enumerate(data.task.roles)
                                         if r.entity == kind]))
        keys = table.keys()
        out[kind] = list(dict.fromkeys(keys[i] for i in rows))
    return out


def save_model(model: torch.nn.Module, meta: dict, outdir: str | Path) -> None:
    from theraflow.training.bundle import save_bundle

    save_bundle(model, meta, outdir, FORMAT)


def load_model(model_dir: str | Path):
    """(model in eval mode, meta, spec) from ``model.safetensors`` + ``model.json`` (no pickle)."""
    from theraflow.training.bundle import load_bundle

    model_dir = Path(model_dir)
    holder: dict = {}

    def build(meta: dict):
        meta.update(upgrade_meta(meta, model_dir))
        holder["spec"] = TaskSpec.from_json(meta["task"])
        return build_model(holder["spec"], meta["model_config"], meta["dims"])

    model, meta = load_bundle(model_dir, build, what="interaction", upgrade=_upgrade_state)
    model.vocab = vocabularies(meta, holder["spec"])
    _warn_if_keyed_by_name(model_dir, model.vocab, holder["spec"])
    return model, meta, holder["spec"]


_WARNED: set[str] = set()


def _warn_if_keyed_by_name(model_dir: Path, vocab: dict, spec: TaskSpec) -> None:
    """One warning per bundle (and process) whose vocabulary lists targets by name (written before
    targets were keyed by their sequence)."""
    by_name = [k for k, v in vocab.items() if getattr(v, "keying", None) == "id"
               and any(kind.name == k and kind.value == "sequence" for kind in spec.task.kinds())]
    key = str(Path(model_dir).resolve())
    if not by_name or key in _WARNED:
        return
    _WARNED.add(key)
    v = vocab[by_name[0]]
    how = (f"by the {len(v.aliases)} sequence(s) the bundle stored" if v.aliases
           else "not by sequence (the bundle stored none)")
    log.warning("%s: this model was written before targets were keyed by sequence; it knows its %d %s "
                "target(s) by name: a target is recognized by its id as in training, otherwise %s. "
                "A renamed target may be scored as unseen; retrain to key targets by sequence",
                model_dir, len(v), by_name[0], how)


def upgrade_meta(meta: dict, model_dir: Path) -> dict:
    """model.json of the earlier drug–target ("theraflow-dti-1") and drug–drug ("theraflow-ddi-1") packages,
    in today's terms (task and label kind, vocabularies and dimensions per entity kind)."""
    if meta.get("format") == FORMAT:
        return {}
    from theraflow.registry import TASKS

    old_task = meta.get("task", "dti")
    if isinstance(old_task, dict) or old_task not in ("dti", "ddi"):
        if isinstance(old_task, dict) or old_task in TASKS:
            return {}
        raise InputError(f"{model_dir}: unknown task {old_task!r} in model.json")
    d = meta["dims"]
    mol = {"node_dim": d["node_dim"], "edge_dim": d["edge_dim"], "vocab": d.get("num_drugs", 0)}
    if old_task == "ddi":
        classes = list(meta["classes"])
        label = "binary" if classes == ["0", "1"] else "multiclass"
        return {"task": {"task": "ddi", "label": label, "classes": classes, "descriptions": meta.get("sentences") or {}},
                "dims": {"molecule": mol}, "vocab": {"molecule": meta.get("drug_vocab") or []}, "legacy": "ddi"}
    return {"task": {"task": "dti", "label": "regression", "classes": [], "descriptions": {}},
            "dims": {"molecule": mol, "protein": {"vocab": d.get("num_targets", 0)}},
            "vocab": {"molecule": meta.get("drug_vocab") or [], "protein": list(meta.get("target_ids") or [])},
            "partners": {"ids": list(meta.get("target_ids") or []),
                         "values": list(meta.get("target_sequences") or [""] * len(meta.get("target_ids") or []))},
            "legacy": "dti"}


def _upgrade_state(state: dict, model) -> dict:
    """Weights of the earlier packages: the first drug–target release kept the graph encoder at
    ``drug.*`` (now ``drug.graph.*``); the drug–drug head projected with ``head.proj`` (now ``head.pd``);
    buffers they did not have take their neutral values."""
    if getattr(model.drug, "graph", None) is not None and not any(k.startswith("drug.graph.") for k in state) \
            and any(k.startswith("drug.") for k in state):
        state = {(f"drug.graph.{k[5:]}" if k.startswith("drug.") else k): v for k, v in state.items()}
    state = {(f"head.pd.{k[10:]}" if k.startswith("head.proj.") else k): v for k, v in state.items()}
    own = model.state_dict()
    for name in ("head.out_scale", "head.out_shift", "shrink", "fallback_mean",
                 *(f"fallback_{r}" for r in model.role_names)):
        if name not in state:
            state[name] = own[name].clone() if name.startswith(("head.out_shift", "fallback")) else \
                torch.ones_like(own[name])
    return state


@torch.no_grad()
def predict(model, data: PairData, indices: np.ndarray | None = None, *, batch_target_group: int = 64) -> np.ndarray:
    """Predictions of the pairs ``indices`` (all if None), in that order: values (regression), P(label 1)
    (binary) or class probabilities [n, k] (multiclass)."""
    from theraflow.registry import LABELS

    label = LABELS.get(data.spec.label.name)
    idx = np.arange(len(data)) if indices is None else np.asarray(indices, dtype=np.int64)
    data = data.with_vocabulary(getattr(model, "vocab", None))
    was_training = model.training
    model.eval()
    outs, order = [], []
    for b in PairBatches(data, idx, mode="blocks", target_group=batch_target_group, shuffle=False,
                         needs=model.needs()):
        outs.append(label.predict(model(b)))
        order.append(b["idx"].numpy())
    model.train(was_training)
    if not outs:
        return np.zeros((0, data.spec.n_out) if data.spec.label.name == "multiclass" else 0, np.float32)
    pred, pos = np.concatenate(outs), np.concatenate(order)
    out = np.empty_like(pred)
    rank = {int(p): i for i, p in enumerate(idx)}
    out[[rank[int(p)] for p in pos]] = pred
    return out
