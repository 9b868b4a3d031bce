"""Reference predictors that benchmarks run beside theraflow's models, on the same splits — any task, any label.

- :class:`ConstantPredictor`: what the training labels alone say, for every pair (the mean of a
  regression — its MSE is the label variance —, the base rate of a binary label, the class frequencies):
  the floor a model must beat on every split;
- :class:`FingerprintGBT`: gradient-boosted trees (LightGBM) on each pair's descriptors — a molecule's
  Morgan bits, a protein's amino-acid and dipeptide composition (:mod:`theraflow.descriptors`), the two
  roles side by side in order — early-stopped on the validation part, within a wall-time budget;
- :class:`FingerprintMLP`: the same descriptors into an MLP (2048-1024, ReLU, batch norm, dropout 0.3),
  DeepDDI-style (Ryu et al. 2018 fed the two drugs' structural profiles to a feed-forward network); the
  epoch with the best validation metric of the label kind is kept;
- :class:`EntityFrequency`: what the training labels say about each *entity*, nothing about its
  structure — a drug's (a target's) share of positive labels, its mean label, its class frequencies —
  added up over the pair's two entities. A model that does little better than this has learned which
  entities appear, not chemistry: the shortcut audit (:mod:`theraflow.pairs.shortcut`) measures it on
  every split.

Each task names its reference (``PairTask.reference``). All fit on ``train``, select on ``valid`` and
never read ``test``; each records a learning curve (validation metrics against seconds).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


def pair_features(spec, pairs: pd.DataFrame, *, radius: int = 2, bits: int = 1024, cache: dict | None = None
                  ) -> np.ndarray:
    """[n_pairs, d] float32: each role's descriptor (Morgan bits of a molecule, residue composition of a
    protein), side by side in role order; each distinct entity is described once."""
    from theraflow.descriptors import morgan_bits, residue_composition

    cache = {} if cache is None else cache
    blocks = []
    for r in spec.task.roles:
        kind = spec.task.entity(r)
        values = pairs[r.value].fillna("").astype(str).to_numpy()
        uniq, row = np.unique(values, return_inverse=True)
        todo = [u for u in uniq if (kind.name, u) not in cache]
        if todo:
            table = morgan_bits(todo, radius=radius, bits=bits) if kind.featurized else residue_composition(todo)
            cache.update({(kind.name, u): t for u, t in zip(todo, table)})
        blocks.append(np.stack([cache[(kind.name, u)] for u in uniq]).astype(np.float32)[row])
    return np.hstack(blocks)


@dataclass
class ConstantPredictor:
    """Predicts what the training labels alone say (mean, base rate, class frequencies)."""

    spec: object = None
    value: np.ndarray | None = None
    curve: list[dict] = field(default_factory=list)

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame | None = None, **_) -> ConstantPredictor:
        label = self.spec.label
        y = label.encode(train["label"], self.spec.classes)
        self.value = label.constant(y, 1, self.spec.classes)[0]
        if valid is not None and len(valid):
            yv = label.encode(valid["label"], self.spec.classes)
            self.curve = [{"seconds": 0.0, **label.validation_metrics(yv, self.predict(valid))}]
        return self

    def predict(self, pairs: pd.DataFrame) -> np.ndarray:
        return np.repeat(np.asarray(self.value, dtype=np.float64)[None], len(pairs), axis=0).squeeze() \
            if np.ndim(self.value) else np.full(len(pairs), float(self.value))


@dataclass
class EntityFrequency:
    """A pair scored by how its entities' training pairs were labelled — the identity shortcut.

    Every entity (by key: a molecule's standardized structure, a target's sequence, else its id; both
    roles pooled when the task joins two entities of one kind, as drug–drug does, else one table per
    role) gets an effect from the training labels of its pairs: how far its pairs' labels lie from the
    training base — binary: its pairs' share of positives; regression: their mean label; multiclass:
    their frequency of each class —, each entity's sum shrunk toward the base by ``prior`` pseudo-pairs.
    A pair's prediction is the base plus its two entities' effects (binary: a probability of label 1,
    kept in [0, 1]; multiclass: class probabilities; an entity unseen in training adds nothing). The two
    roles' effects are fitted jointly (``iterations`` rounds of backfitting, each role on what the other
    leaves), so a drug that met only strongly binding targets is not credited with their binding."""

    spec: object = None
    prior: float = 1.0  # pseudo-pairs at the base, shrinking a rarely seen entity toward it
    iterations: int = 20
    curve: list[dict] = field(default_factory=list)
    base: np.ndarray | None = None
    _vocab: list = field(default_factory=list)  # per role group: key -> row of its effects table
    _effects: list = field(default_factory=list)  # per role group: [entities, d]

    def _groups(self) -> list[list[int]]:
        return [[0, 1]] if self.spec.task.same_kind else [[0], [1]]

    def _keys(self, pairs: pd.DataFrame) -> list[np.ndarray]:
        from theraflow.pairs.entity_keys import entity_key, roles_of

        return [entity_key(pairs, e).to_numpy() for e in roles_of(self.spec.task)]

    def _targets(self, labels) -> np.ndarray:
        """[n, d]: the encoded labels (a one-hot row per class for multiclass)."""
        label, classes = self.spec.label, self.spec.classes
        y = label.encode(labels, classes)
        if label.name == "multiclass":
            return np.eye(len(classes), dtype=np.float64)[y]
        return np.asarray(y, dtype=np.float64)[:, None]

    def _rows(self, keys: list[np.ndarray]) -> list[np.ndarray]:
        """Each role's row in its group's effects table (-1: an entity unseen in training)."""
        out = [np.empty(0, dtype=np.int64)] * 2
        for vocab, group in zip(self._vocab, self._groups()):
            for r in group:
                out[r] = pd.Index(vocab).get_indexer(keys[r])
        return out

    def _effect(self, rows: list[np.ndarray], r: int) -> np.ndarray:
        g = next(i for i, group in enumerate(self._groups()) if r in group)
        table = np.vstack([self._effects[g], np.zeros((1, self._effects[g].shape[1]))])  # row -1: unseen
        return table[rows[r]]

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame | None = None, **_) -> EntityFrequency:
        from scipy import sparse

        if not len(train):
            raise ValueError("the entity-frequency baseline needs training pairs")
        y = self._targets(train["label"])
        self.base = y.mean(axis=0)
        keys = self._keys(train)
        groups = self._groups()
        self._vocab = [pd.unique(np.concatenate([keys[r] for r in group])) for group in groups]
        self._effects = [np.zeros((len(v), y.shape[1])) for v in self._vocab]
        rows = self._rows(keys)
        n = len(y)
        member = [[sparse.csr_matrix((np.ones(n), (rows[r], np.arange(n))), shape=(len(self._vocab[g]), n))
                   for r in group] for g, group in enumerate(groups)]
        counts = [sum(np.asarray(m.sum(axis=1)).ravel() for m in ms)[:, None] for ms in member]
        resid = y - self.base
        for _ in range(max(1, self.iterations)):
            for g, group in enumerate(groups):
                total = sum(m @ (resid - self._effect(rows, 1 - r)) for m, r in zip(member[g], group))
                update = total / (counts[g] + self.prior)
                # a pooled table is both roles' partner: half steps keep the joint fit from oscillating
                self._effects[g] = 0.5 * (self._effects[g] + update) if len(group) > 1 else update
        if valid is not None and len(valid):
            yv = self.spec.label.encode(valid["label"], self.spec.classes)
            self.curve = [{"seconds": 0.0, **self.spec.label.validation_metrics(yv, self.predict(valid))}]
        return self

    def predict(self, pairs: pd.DataFrame) -> np.ndarray:
        if self.base is None:
            raise RuntimeError("EntityFrequency.predict before fit")
        rows = self._rows(self._keys(pairs))
        pred = self.base + self._effect(rows, 0) + self._effect(rows, 1)
        kind = self.spec.label.name
        if kind == "regression":
            return pred[:, 0]
        pred = np.clip(pred, 0.0, 1.0)
        if kind == "binary":
            return pred[:, 0]
        total = pred.sum(axis=1, keepdims=True)
        return np.where(total > 0, pred / np.where(total > 0, total, 1.0), self.base)


class _Features:
    """The pair descriptors of a reference, described once per entity (``_cache``)."""

    def _features(self, pairs):
        return pair_features(self.spec, pairs, radius=self.radius, bits=self.bits, cache=self._cache)


@dataclass
class FingerprintGBT(_Features):
    """LightGBM on :func:`pair_features` (regression, binary or multiclass objective); ``max_seconds``
    bounds the boosting time."""

    spec: object = None
    radius: int = 2
    bits: int = 1024
    n_estimators: int = 20_000
    learning_rate: float = 0.05
    num_leaves: int = 63
    min_child_samples: int = 10
    subsample: float = 0.8
    colsample_bytree: float = 0.5
    early_stopping: int = 200
    eval_every: int = 25
    curve: list[dict] = field(default_factory=list)
    best_iteration: int = 0
    _booster: object = None
    _cache: dict = field(default_factory=dict)

    _x = _Features._features

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame, *, max_seconds: float | None = None, threads: int = 2,
            seed: int = 0) -> FingerprintGBT:
        import lightgbm as lgb

        label, classes = self.spec.label, self.spec.classes
        t0 = time.monotonic()
        xt, xv = self._x(train), self._x(valid)
        yt, yv = label.encode(train["label"], classes), label.encode(valid["label"], classes)
        objective = {"regression": {"objective": "regression"}, "binary": {"objective": "binary"},
                     "multiclass": {"objective": "multiclass", "num_class": len(classes)}}[label.name]
        params = {**objective, "learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
                  "min_child_samples": self.min_child_samples, "bagging_fraction": self.subsample, "bagging_freq": 1,
                  "feature_fraction": self.colsample_bytree, "num_threads": threads, "seed": seed,
                  "deterministic": True, "force_row_wise": True, "verbose": -1}
        dtrain = lgb.Dataset(xt, yt, free_raw_data=False)
        dvalid = lgb.Dataset(xv, yv, reference=dtrain)
        self.curve = []

        def watch(env) -> None:
            it = env.iteration + 1
            elapsed = time.monotonic() - t0
            if it % self.eval_every == 0:
                m = label.validation_metrics(yv, env.model.predict(xv, num_iteration=it))
                self.curve.append({"seconds": round(elapsed, 2), "iteration": it, **m})
            if max_seconds is not None and elapsed > max_seconds:
                log.info("fingerprint GBT: %.0f-second budget reached at iteration %d", max_seconds, it)
                raise lgb.callback.EarlyStopException(env.model.best_iteration or it, env.evaluation_result_list)

        booster = lgb.train(params, dtrain, num_boost_round=self.n_estimators, valid_sets=[dvalid],
                            callbacks=[lgb.early_stopping(self.early_stopping, verbose=False), watch])
        self._booster = booster
        self.best_iteration = int(booster.best_iteration or booster.current_iteration())
        return self

    def predict(self, pairs: pd.DataFrame) -> np.ndarray:
        if self._booster is None:
            raise RuntimeError("FingerprintGBT.predict before fit")
        return self._booster.predict(self._x(pairs), num_iteration=self.best_iteration)


@dataclass
class FingerprintMLP(_Features):
    """An MLP on :func:`pair_features` (Morgan bits of 2,048), trained with the label kind's loss within a
    wall-time budget; the epoch with the best validation metric of the label kind (its ``monitor``) is kept."""

    spec: object = None
    radius: int = 2
    bits: int = 2048
    hidden: tuple[int, ...] = (2048, 1024)
    dropout: float = 0.3
    lr: float = 1e-3
    batch_size: int = 512
    max_epochs: int = 200
    patience: int = 10
    curve: list[dict] = field(default_factory=list)
    epochs: int = 0
    _net: object = None
    _scale: tuple[float, float] = (0.0, 1.0)
    _cache: dict = field(default_factory=dict)

    def _x(self, pairs):
        import torch

        return torch.from_numpy(self._features(pairs))

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame, *, max_seconds: float | None = None, threads: int = 2,
            seed: int = 0) -> FingerprintMLP:
        import torch
        from torch import nn

        label, classes = self.spec.label, self.spec.classes
        torch.manual_seed(seed)
        torch.set_num_threads(threads)
        rng = np.random.default_rng(seed)
        yt_np, yv = label.encode(train["label"], classes), label.encode(valid["label"], classes)
        if label.name == "regression":
            self._scale = (float(yt_np.mean()), float(yt_np.std()) or 1.0)
            yt = torch.from_numpy(((yt_np - self._scale[0]) / self._scale[1]).astype(np.float32))
        else:
            yt = torch.from_numpy(yt_np.astype(np.int64 if label.name == "multiclass" else np.float32))
        t0 = time.monotonic()
        xt, xv = self._x(train), self._x(valid)
        dims = [xt.shape[1], *self.hidden]
        layers: list[nn.Module] = []
        for i, o in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(i, o), nn.BatchNorm1d(o), nn.ReLU(), nn.Dropout(self.dropout)]
        self._net = nn.Sequential(*layers, nn.Linear(dims[-1], label.n_outputs(classes)))
        opt = torch.optim.Adam(self._net.parameters(), lr=self.lr)
        sign = 1.0 if label.mode == "max" else -1.0
        best, best_state, wait = -np.inf, None, 0
        self.curve = []
        out_of_time = False
        for epoch in range(self.max_epochs):
            self._net.train()
            for idx in np.array_split(rng.permutation(len(xt)), max(1, len(xt) // self.batch_size)):
                idx = torch.from_numpy(idx)
                out = self._net(xt[idx].float())
                out = out.squeeze(-1) if out.shape[-1] == 1 else out
                if label.name == "regression":
                    loss = nn.functional.mse_loss(out, yt[idx])
                elif label.name == "binary":
                    loss = nn.functional.binary_cross_entropy_with_logits(out, yt[idx])
                else:
                    loss = nn.functional.cross_entropy(out, yt[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                # the budget is checked after every step, as Lightning's max_time does for theraflow's models
                if max_seconds is not None and time.monotonic() - t0 > max_seconds:
                    out_of_time = True
                    break
            m = label.validation_metrics(yv, self._predict(xv))
            elapsed = time.monotonic() - t0
            self.curve.append({"seconds": round(elapsed, 2), "epoch": epoch, **m})
            self.epochs = epoch + 1
            score = sign * m[label.monitor]
            if score > best:
                best, wait = score, 0
                best_state = {k: v.detach().clone() for k, v in self._net.state_dict().items()}
            else:
                wait += 1
            if wait >= self.patience or out_of_time:
                break
        self._net.load_state_dict(best_state)
        return self

    def _predict(self, x) -> np.ndarray:
        import torch

        self._net.eval()
        label = self.spec.label
        with torch.no_grad():
            outs = []
            for i in range(0, len(x), 8192):
                out = self._net(x[i : i + 8192].float())
                out = out.squeeze(-1) if out.shape[-1] == 1 else out
                if label.name == "regression":
                    outs.append((out * self._scale[1] + self._scale[0]).numpy())
                else:
                    outs.append(label.predict(out))
        return np.concatenate(outs)

    def predict(self, pairs: pd.DataFrame) -> np.ndarray:
        if self._net is None:
            raise RuntimeError("FingerprintMLP.predict before fit")
        return self._predict(self._x(pairs))


REFERENCES = {"gbt": FingerprintGBT, "mlp": FingerprintMLP}


def reference_for(spec, **options):
    """The fingerprint reference the task names (``PairTask.reference``), for its label kind."""
    return REFERENCES[getattr(spec.task, "reference", "gbt")](spec=spec, **options)
