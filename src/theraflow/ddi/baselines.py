"""The reference the DDI benchmark runs beside theraflow: an MLP on the ordered pair's Morgan fingerprints.

DeepDDI-style (Ryu et al. 2018, who fed structural-similarity profiles of the two drugs to a deep
feed-forward network): the first drug's and the second drug's Morgan bits (radius 2, 2048 each),
concatenated in the pair's order, into an MLP (2048-1024, ReLU, batch norm, dropout 0.3) with a
softmax over the interaction types. Adam, cross-entropy, fitted on ``train`` within a wall-time
budget, the epoch with the best validation accuracy kept; it never reads ``test``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn

log = logging.getLogger(__name__)


@dataclass
class FingerprintMLP:
    radius: int = 2
    bits: int = 2048
    hidden: tuple[int, ...] = (2048, 1024)
    dropout: float = 0.3
    lr: float = 1e-3
    batch_size: int = 512
    max_epochs: int = 200
    patience: int = 10
    curve: list[dict] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)
    epochs: int = 0
    _net: nn.Module | None = None
    _fp: dict = field(default_factory=dict)

    def _features(self, pairs: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor]:
        from theraflow.descriptors import morgan_bits

        missing = sorted(set(pairs["smiles1"]) | set(pairs["smiles2"]) - set(self._fp))
        if missing:
            for smi, row in zip(missing, morgan_bits(missing, radius=self.radius, bits=self.bits)):
                self._fp[smi] = row
        a = torch.from_numpy(np.stack([self._fp[s] for s in pairs["smiles1"]]))
        b = torch.from_numpy(np.stack([self._fp[s] for s in pairs["smiles2"]]))
        return a, b

    def _x(self, pairs: pd.DataFrame) -> torch.Tensor:
        a, b = self._features(pairs)
        return torch.cat([a, b], dim=1)  # uint8: converted to float per batch

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame, classes: list[str], *, max_seconds: float | None = None,
            threads: int = 2, seed: int = 0) -> FingerprintMLP:
        from theraflow.ddi.metrics import label_metrics

        torch.manual_seed(seed)
        torch.set_num_threads(threads)
        rng = np.random.default_rng(seed)
        self.classes = list(classes)
        index = {c: i for i, c in enumerate(self.classes)}
        yt = torch.from_numpy(train["label"].astype(str).map(index).to_numpy(np.int64, copy=True))
        yv = valid["label"].astype(str).map(index).to_numpy(np.int64)
        t0 = time.monotonic()
        xt, xv = self._x(train), self._x(valid)
        dims = [2 * self.bits, *self.hidden]
        layers: list[nn.Module] = []
        for i, o in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(i, o), nn.BatchNorm1d(o), nn.ReLU(), nn.Dropout(self.dropout)]
        self._net = nn.Sequential(*layers, nn.Linear(dims[-1], len(self.classes)))
        opt = torch.optim.Adam(self._net.parameters(), lr=self.lr)
        best, best_state, wait = -1.0, None, 0
        self.curve = []
        out_of_time = False
        for epoch in range(self.max_epochs):
            self._net.train()
            for idx in np.array_split(rng.permutation(len(xt)), max(1, len(xt) // self.batch_size)):
                idx = torch.from_numpy(idx)
                loss = nn.functional.cross_entropy(self._net(xt[idx].float()), yt[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                # the budget is checked after every step, as Lightning's max_time does for theraflow's models
                if max_seconds is not None and time.monotonic() - t0 > max_seconds:
                    out_of_time = True
                    break
            m = label_metrics(yv, self._proba(xv))
            elapsed = time.monotonic() - t0
            self.curve.append({"seconds": round(elapsed, 2), "epoch": epoch, "valid_accuracy": m["accuracy"],
                               "valid_macro_f1": m["macro_f1"]})
            self.epochs = epoch + 1
            if m["accuracy"] > best:
                best, wait = m["accuracy"], 0
                best_state = {k: v.detach().clone() for k, v in self._net.state_dict().items()}
            else:
                wait += 1
            if wait >= self.patience or out_of_time:
                break
        self._net.load_state_dict(best_state)
        return self

    @torch.no_grad()
    def _proba(self, x: torch.Tensor) -> np.ndarray:
        self._net.eval()
        return np.concatenate([torch.softmax(self._net(x[i : i + 8192].float()), dim=1).numpy()
                               for i in range(0, len(x), 8192)])

    def predict_proba(self, pairs: pd.DataFrame) -> np.ndarray:
        if self._net is None:
            raise RuntimeError("FingerprintMLP.predict_proba before fit")
        return self._proba(self._x(pairs))
