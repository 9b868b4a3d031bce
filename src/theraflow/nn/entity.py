"""Entity encoders: the branches an entity kind's encoder config joins with '+', concatenated.

An entity kind (a molecule, a protein sequence; :mod:`theraflow.pairs.entities`) has a registry of
encoders (:func:`theraflow.registry.encoders`): one module per encoder under the kind's package
(``theraflow.nn.encoders.molecule``, ``theraflow.nn.encoders.protein``), each defining
``ENCODER = EncoderSpec(...)``. An encoder config names a '+'-join of them::

    drug_encoder: {type: gin+morgan+id, hidden: 128, layers: 4, morgan: {bits: 2048}, id: {dim: 64}}

Each :class:`EncoderSpec` says where its parameters sit (``params_key``: at the top of the config, or
under a key of their own), their JSON schema (the model-config schema is assembled from these), and
its ``slot``: the attribute it fills in the :class:`EntityEncoder` (``graph``, ``morgan``, ``ids``,
``cnn`` ...). Two encoders of one slot exclude each other (one graph encoder at most). Every branch
module has ``out_dim``, ``needs`` (which batch inputs it reads: ``graphs``, ``morgan``, ``index``,
``tokens``, ``composition``, with their parameters) and ``forward(inputs: dict)``. Architecture only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class EncoderSpec:
    """One encoder of an entity kind (see the module docstring)."""

    name: str
    slot: str
    build: Callable[[dict, dict], nn.Module]  # (its parameters, the kind's dimensions) -> module
    params_key: str | None = None  # None: its parameters sit at the top of the encoder config
    schema: dict = field(default_factory=dict)  # JSON-schema properties of its parameters
    description: str = ""


class FeatureMLP(nn.Module):
    """A fixed-length descriptor → Linear, (batch norm,) ReLU, dropout, Linear (``out_dim`` = hidden).

    ``batch_norm`` normalizes the first layer's outputs over the batch (as DeepDDI-style MLPs on
    fingerprint bits do); ``input_dropout`` zeroes that share of the input bits in training (a
    drug seen in training then looks different each time). Both are off by default."""

    def __init__(self, in_dim: int, hidden: int = 256, dropout: float = 0.1, batch_norm: bool = False,
                 input_dropout: float = 0.0) -> None:
        super().__init__()
        norm = [nn.BatchNorm1d(hidden)] if batch_norm else []
        self.drop_in = nn.Dropout(input_dropout)  # no parameters: the weights' names do not depend on it
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), *norm, nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, hidden))
        self.out_dim = hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.drop_in(x))


class IdEmbedding(nn.Module):
    """One learned vector per entity the model trained on (its row in the model's vocabulary).

    Index ``num`` (and anything outside 0..num-1, e.g. -1) is "unknown": entities the model never
    saw. With ``dropout`` > 0, training replaces an id by "unknown" with that probability, so the
    unknown vector learns a generic entity and a model that also reads structures or sequences
    learns to predict without the id (new drugs, cold targets)."""

    needs = {"index": None}

    def __init__(self, num: int, dim: int = 64, dropout: float = 0.0) -> None:
        super().__init__()
        self.num = num
        self.embedding = nn.Embedding(num + 1, dim)
        self.dropout = dropout
        self.out_dim = dim

    def forward(self, inputs) -> torch.Tensor:
        index = inputs["index"] if isinstance(inputs, dict) else inputs
        unknown = (index < 0) | (index >= self.num)
        if self.training and self.dropout > 0:
            unknown = unknown | (torch.rand(index.shape, device=index.device) < self.dropout)
        idx = torch.where(unknown, torch.full_like(index, self.num), index)
        return self.embedding(idx)


ID_SCHEMA = {
    "dim": {"type": "integer", "minimum": 2, "description": "Embedding width (default 64)."},
    "dropout": {"type": "number", "minimum": 0, "maximum": 1,
                "description": "Share of training steps an entity is shown as unknown (default 0.1 for molecules, "
                               "0 for proteins)."},
}


def id_encoder(default_dropout: float) -> EncoderSpec:
    """The ``id`` branch every entity kind has: an embedding per training entity."""
    def build(params: dict, dims: dict) -> nn.Module:
        return IdEmbedding(int(dims.get("vocab", 0)), int(params.get("dim", 64)),
                           float(params.get("dropout", default_dropout)))

    return EncoderSpec("id", "ids", build, params_key="id", schema=ID_SCHEMA,
                       description="an embedding per entity trained on; entities never seen share one 'unknown' vector")


def split_type(kind_name: str, type_: str, names: list[str]) -> list[str]:
    parts = type_.split("+")
    bad = [p for p in parts if p not in names]
    if bad or len(set(parts)) != len(parts):
        raise ValueError(f"unknown {kind_name} encoder {type_!r}; expected a '+'-join of {', '.join(names)}")
    return parts


class EntityEncoder(nn.Module):
    """The branches of ``cfg["type"]`` over a batch's unique entities of one kind, concatenated."""

    def __init__(self, kind: str, cfg: dict, dims: dict) -> None:
        super().__init__()
        from theraflow.registry import encoders

        reg = encoders(kind)
        cfg = dict(cfg)
        type_ = cfg.pop("type")
        specs = [reg.get(name) for name in split_type(kind, type_, reg.names())]
        by_slot: dict[str, str] = {}
        for s in specs:
            if s.slot in by_slot:
                raise ValueError(f"{kind} encoder {type_!r}: {by_slot[s.slot]} and {s.name} are both "
                                 f"{s.slot} encoders; use one")
            by_slot[s.slot] = s.name
        every = [spec for _, spec in reg.items()]
        nested = {s.params_key for s in every if s.params_key}
        # "pretrained" names weights to start from (theraflow.pretrain.apply_pretrained), not a parameter
        top = {k: v for k, v in cfg.items() if k not in nested and k != "pretrained"}
        if top and not any(s.params_key is None for s in specs):
            readers = sorted({s.name for s in every if s.params_key is None})
            raise ValueError(f"{kind} encoder {type_!r}: {', '.join(sorted(top))} set at the top of the encoder "
                             f"config, where only {', '.join(readers)} read their parameters")
        self.kind = kind
        self.type = type_
        self.slots: list[str] = []
        for s in specs:
            params = dict(cfg.get(s.params_key) or {}) if s.params_key else dict(top)
            try:
                module = s.build(params, dims)
            except TypeError as exc:
                raise ValueError(f"{kind} encoder {s.name}: bad parameters ({exc})") from None
            self.add_module(s.slot, module)
            self.slots.append(s.slot)
        self.out_dim = sum(getattr(self, s).out_dim for s in self.slots)

    @property
    def needs(self) -> dict[str, Any]:
        """The batch inputs the branches read (name → parameter); ``index`` always (fallbacks read it)."""
        out: dict[str, Any] = {"index": None}
        for s in self.slots:
            out.update(getattr(self, s).needs)
        return out

    @property
    def reads_values(self) -> bool:
        """Whether any branch reads the entity itself (structure, sequence) rather than its id only."""
        return any(k != "index" for s in self.slots for k in getattr(self, s).needs)

    def forward(self, inputs: dict) -> torch.Tensor:
        parts = [getattr(self, s)(inputs) for s in self.slots]
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)
