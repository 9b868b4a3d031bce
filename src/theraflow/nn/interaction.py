"""Drug–target interaction model: a drug encoder, a target encoder and an interaction head.

Pairs in a batch share drugs and targets. ``DTIModel.forward`` takes the batch's
*unique* drugs and *unique* targets, encodes each once, and gathers the embeddings per
pair (``pair_drug``/``pair_target`` index into the unique lists), so a drug's graph or a
protein's sequence is never encoded once per pair.

Each side is a set of branches joined by "+" in its ``type`` and concatenated:

- drugs: a graph encoder (``gin``, ``gatv2``, ``attentivefp``, ``graphdta_gin``; its
  parameters at the top of ``drug_encoder``), ``morgan`` (an MLP over Morgan bits;
  ``drug_encoder.morgan``: radius, bits, hidden, dropout) and ``id`` (an embedding per
  training drug; ``drug_encoder.id``: dim, dropout);
- targets: ``cnn`` (1D CNN over residues; parameters at the top of ``target_encoder``),
  ``graphdta_cnn``, ``composition`` (an MLP over amino-acid and dipeptide composition;
  ``target_encoder.composition``: hidden, dropout) and ``id`` (``id_dim``, ``id_dropout``).

An encoder's ``inputs`` says which tensors it reads (graphs, morgan, tokens,
composition, index): batches and scorers build only those.
"""

from __future__ import annotations

import torch
from torch import nn

from theraflow.descriptors import COMPOSITION_DIM
from theraflow.nn.drug import DRUG_ENCODERS, build_drug_encoder
from theraflow.nn.protein import GraphDTAProteinCNN, IdEmbedding, ProteinCNN

DRUG_BRANCHES = (*DRUG_ENCODERS, "morgan", "id")
TARGET_BRANCHES = ("cnn", "graphdta_cnn", "composition", "id")
# kept for callers of the first release; a target type is any "+"-join of TARGET_BRANCHES
TARGET_ENCODERS = ("cnn", "id", "cnn+id")


class FeatureMLP(nn.Module):
    """A fixed-length descriptor → Linear, (batch norm,) ReLU, dropout, Linear (``out_dim`` = hidden).

    ``batch_norm`` normalizes the first layer's outputs over the batch (as DeepDDI-style MLPs on
    fingerprint bits do; off by default, the first release's layout). ``input_dropout`` zeroes that
    share of the input bits in training (a drug seen in training then looks different each time).
    Both are off by default (the first release's layout)."""

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


def _branches(kind: str, allowed: tuple[str, ...], what: str) -> list[str]:
    parts = kind.split("+")
    bad = [p for p in parts if p not in allowed]
    if bad or len(set(parts)) != len(parts):
        raise ValueError(f"unknown {what} {kind!r}; expected a '+'-join of {', '.join(allowed)}")
    return parts


class DrugEncoder(nn.Module):
    """The branches of ``cfg["type"]`` over a batch's unique drugs, concatenated."""

    def __init__(self, cfg: dict, node_dim: int, edge_dim: int, num_drugs: int = 0) -> None:
        super().__init__()
        cfg = dict(cfg)
        kind = cfg.pop("type")
        parts = _branches(kind, DRUG_BRANCHES, "drug encoder")
        graph = [p for p in parts if p in DRUG_ENCODERS]
        if len(graph) > 1:
            raise ValueError(f"drug encoder {kind!r}: one graph encoder at most, got {', '.join(graph)}")
        morgan = dict(cfg.pop("morgan", None) or {})
        ids = dict(cfg.pop("id", None) or {})
        self.graph = build_drug_encoder({"type": graph[0], **cfg}, node_dim, edge_dim) if graph else None
        self.morgan_params = None
        self.morgan = None
        if "morgan" in parts:
            self.morgan_params = {"radius": int(morgan.pop("radius", 2)), "bits": int(morgan.pop("bits", 2048))}
            self.morgan = FeatureMLP(self.morgan_params["bits"], **morgan)
        self.ids = IdEmbedding(num_drugs, ids.get("dim", 64), ids.get("dropout", 0.1)) if "id" in parts else None
        self.inputs = {name for name, branch in (("graphs", self.graph), ("morgan", self.morgan), ("index", self.ids))
                       if branch is not None}
        self.out_dim = sum(b.out_dim for b in (self.graph, self.morgan, self.ids) if b is not None)

    def forward(self, inputs: dict) -> torch.Tensor:
        parts = []
        if self.graph is not None:
            parts.append(self.graph(inputs["graphs"]))
        if self.morgan is not None:
            parts.append(self.morgan(inputs["morgan"]))
        if self.ids is not None:
            parts.append(self.ids(inputs["index"]))
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)


class TargetEncoder(nn.Module):
    """The branches of ``cfg["type"]`` over a batch's unique targets, concatenated."""

    def __init__(self, cfg: dict, num_targets: int) -> None:
        super().__init__()
        cfg = dict(cfg)
        kind = cfg.pop("type")
        parts = _branches(kind, TARGET_BRANCHES, "target encoder")
        if "cnn" in parts and "graphdta_cnn" in parts:
            raise ValueError(f"target encoder {kind!r}: one sequence CNN at most")
        self.kind = kind
        id_dim = cfg.pop("id_dim", 64)
        id_dropout = cfg.pop("id_dropout", 0.0)
        self.max_len = cfg.pop("max_len", 1200)
        composition = dict(cfg.pop("composition", None) or {})
        if "graphdta_cnn" in parts:
            self.cnn = GraphDTAProteinCNN(max_len=self.max_len, **cfg)
        else:
            self.cnn = ProteinCNN(**cfg) if "cnn" in parts else None
        self.composition = FeatureMLP(COMPOSITION_DIM, **composition) if "composition" in parts else None
        self.ids = IdEmbedding(num_targets, id_dim, id_dropout) if "id" in parts else None
        self.inputs = {name for name, branch in (("tokens", self.cnn), ("composition", self.composition),
                                                 ("index", self.ids)) if branch is not None}
        self.out_dim = sum(b.out_dim for b in (self.cnn, self.composition, self.ids) if b is not None)

    @property
    def uses_sequences(self) -> bool:
        return bool(self.inputs & {"tokens", "composition"})

    def forward(self, inputs: dict) -> torch.Tensor:
        parts = []
        if self.cnn is not None:
            parts.append(self.cnn(inputs["tokens"]))
        if self.composition is not None:
            parts.append(self.composition(inputs["composition"]))
        if self.ids is not None:
            parts.append(self.ids(inputs["index"]))
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)


class InteractionHead(nn.Module):
    """MLP over [drug, target, drug ⊙ target] (projected) → one value per pair.

    The first layer is linear in the concatenation, so it splits into a per-drug term, a
    per-target term and a per-pair term on the elementwise product:
    ``W·[d; t; d⊙t] = W_d·d + W_t·t + W_x·(d⊙t)``. :meth:`pairs` computes the first two
    once per unique drug and target and only the third per pair — a third of the
    first layer's cost per pair, the same parameters and the same function.
    ``product=False`` reads [drug, target] only (GraphDTA's head); ``proj=None`` keeps
    the encoders' own widths (no projection; with the product both must be equal).

    The output is ``raw * out_scale + out_shift`` (buffers): training sets them to the
    training labels' standard deviation and mean, so the network learns standardized labels
    on any scale, and a calibration on the validation part may fold an affine map into them.
    """

    def __init__(self, drug_dim: int, target_dim: int, hidden: tuple[int, ...] = (512, 256),
                 dropout: float = 0.2, proj: int | None = 128, product: bool = True) -> None:
        super().__init__()
        if proj is None:
            if product and drug_dim != target_dim:
                raise ValueError(f"head: proj is null and product is on, but the drug ({drug_dim}) and target "
                                 f"({target_dim}) embeddings differ in width")
            self.pd, self.pt = nn.Identity(), nn.Identity()
            dp_dim, tp_dim = drug_dim, target_dim
        else:
            self.pd, self.pt = nn.Linear(drug_dim, proj), nn.Linear(target_dim, proj)
            dp_dim = tp_dim = proj
        self.dims = (dp_dim, tp_dim)
        self.product = product
        dims = [dp_dim + tp_dim + (dp_dim if product else 0), *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(a, b), nn.ReLU(), nn.Dropout(dropout)]
        layers.append(nn.Linear(dims[-1], 1))
        self.mlp = nn.Sequential(*layers)
        self.register_buffer("out_scale", torch.ones(()))
        self.register_buffer("out_shift", torch.zeros(()))

    def set_output(self, scale: float, shift: float) -> None:
        self.out_scale.fill_(float(scale))
        self.out_shift.fill_(float(shift))

    def project(self, d: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-entity projections: computed once per unique drug and target."""
        return self.pd(d), self.pt(t)

    def _weights(self):
        first = self.mlp[0]
        a, b = self.dims
        w = first.weight
        return w[:, :a], w[:, a : a + b], (w[:, a + b :] if self.product else None), first.bias

    def _out(self, h: torch.Tensor) -> torch.Tensor:
        return self.mlp[1:](h).squeeze(-1) * self.out_scale + self.out_shift

    def pairs(self, dp: torch.Tensor, tp: torch.Tensor, pair_d: torch.Tensor, pair_t: torch.Tensor) -> torch.Tensor:
        """Scores of pairs (pair_d[i], pair_t[i]) from projected unique drugs ``dp`` and targets ``tp``."""
        wd, wt, wx, bias = self._weights()
        per_drug = dp @ wd.T
        per_target = tp @ wt.T + bias
        h = per_drug[pair_d] + per_target[pair_t]
        if wx is not None:
            h = h + (dp[pair_d] * tp[pair_t]) @ wx.T
        return self._out(h)

    def all_pairs(self, dp: torch.Tensor, tp: torch.Tensor) -> torch.Tensor:
        """[n_drugs, n_targets] scores of every drug with every target (broadcast, no gathers)."""
        wd, wt, wx, bias = self._weights()
        h = (dp @ wd.T)[:, None, :] + (tp @ wt.T + bias)[None, :, :]
        if wx is not None:
            h = h + (dp[:, None, :] * tp[None, :, :]) @ wx.T
        return self._out(h)

    def combine(self, dp: torch.Tensor, tp: torch.Tensor) -> torch.Tensor:
        """Pair scores from already-aligned projected rows (one row per pair)."""
        idx = torch.arange(dp.shape[0], device=dp.device)
        return self.pairs(dp, tp, idx, idx)

    def forward(self, d: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.combine(*self.project(d, t))


class DTIModel(nn.Module):
    """Drug encoder + target encoder + interaction head, and a fallback the predictions may be shrunk to.

    The fallback of a pair is what the training labels alone say of it: their mean, plus its target's
    mean offset when the target was trained on, plus its drug's mean offset when the drug was. A
    calibration fitted on the validation part (``theraflow.dti.train.calibrate``) sets
    ``shrink`` = w in [0, 1]: the prediction becomes ``fallback + w * (score - fallback)``. For pairs
    like the training ones w ≈ 1; where the validation part holds what training never saw (new
    drugs), w says how far the network's departures from the fallback carry over.
    """

    def __init__(self, cfg: dict, *, node_dim: int, edge_dim: int, num_targets: int, num_drugs: int = 0) -> None:
        super().__init__()
        self.drug = DrugEncoder(cfg["drug_encoder"], node_dim, edge_dim, num_drugs)
        self.target = TargetEncoder(cfg["target_encoder"], num_targets)
        self.head = InteractionHead(self.drug.out_dim, self.target.out_dim, **cfg.get("head", {}))
        self.register_buffer("shrink", torch.ones(()))
        self.register_buffer("fallback_mean", torch.zeros(()))
        self.register_buffer("fallback_target", torch.zeros(num_targets + 1))  # last: an unknown target (0)
        self.register_buffer("fallback_drug", torch.zeros(num_drugs + 1))  # last: an unknown drug (0)

    def encode_drugs(self, inputs: dict) -> torch.Tensor:
        return self.drug(inputs)

    def encode_targets(self, inputs: dict) -> torch.Tensor:
        return self.target(inputs)

    def fallback(self, drug_index: torch.Tensor, target_index: torch.Tensor) -> torch.Tensor:
        """The training labels' mean + target offset + drug offset (vocabulary indices; -1 = unknown)."""
        def row(index: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
            unknown = (index < 0) | (index >= len(table) - 1)
            return table[torch.where(unknown, torch.full_like(index, len(table) - 1), index)]

        return self.fallback_mean + row(target_index, self.fallback_target) + row(drug_index, self.fallback_drug)

    def shrunk(self, scores: torch.Tensor, drug_index: torch.Tensor, target_index: torch.Tensor) -> torch.Tensor:
        """``scores`` shrunk toward the fallback by the calibrated weight (unchanged while it is 1)."""
        if float(self.shrink) == 1.0:
            return scores
        base = self.fallback(drug_index, target_index)
        return base + self.shrink * (scores - base)

    def forward(self, batch: dict) -> torch.Tensor:
        """Scores of a batch (``PairSet.batch``): unique drugs and targets encoded once each."""
        drugs, targets = batch["drugs"], batch["targets"]
        dp, tp = self.head.project(self.encode_drugs(drugs), self.encode_targets(targets))
        scores = self.head.pairs(dp, tp, batch["pair_drug"], batch["pair_target"])
        if float(self.shrink) == 1.0:
            return scores
        return self.shrunk(scores, drugs["index"][batch["pair_drug"]], targets["index"][batch["pair_target"]])

    def grid(self, dp: torch.Tensor, tp: torch.Tensor, drug_index: torch.Tensor,
             target_index: torch.Tensor) -> torch.Tensor:
        """[n_drugs, n_targets] scores of projected drugs with projected targets (screening), shrunk."""
        scores = self.head.all_pairs(dp, tp)
        if float(self.shrink) == 1.0:
            return scores
        return self.shrunk(scores, drug_index[:, None].expand_as(scores), target_index[None, :].expand_as(scores))
