"""Drug–target interaction model: a drug encoder, a target encoder and an interaction head.

Pairs in a batch share drugs and targets. ``DTIModel.forward`` takes the batch's
*unique* drugs (one graph each) and *unique* targets, encodes each once, and gathers
the embeddings per pair (``pair_drug``/``pair_target`` index into the unique lists),
so a drug's graph or a protein's sequence is never encoded once per pair.
"""

from __future__ import annotations

import torch
from torch import nn

from theraflow.nn.drug import build_drug_encoder
from theraflow.nn.protein import ProteinCNN, TargetIdEmbedding

TARGET_ENCODERS = ("cnn", "id", "cnn+id")


class TargetEncoder(nn.Module):
    def __init__(self, cfg: dict, num_targets: int) -> None:
        super().__init__()
        cfg = dict(cfg)
        kind = cfg.pop("type")
        if kind not in TARGET_ENCODERS:
            raise ValueError(f"unknown target encoder {kind!r}; expected one of {', '.join(TARGET_ENCODERS)}")
        self.kind = kind
        id_dim = cfg.pop("id_dim", 64)
        id_dropout = cfg.pop("id_dropout", 0.0)
        self.max_len = cfg.pop("max_len", 1200)
        self.cnn = ProteinCNN(**cfg) if "cnn" in kind else None
        self.ids = TargetIdEmbedding(num_targets, id_dim, id_dropout) if "id" in kind.split("+") else None
        self.out_dim = (self.cnn.out_dim if self.cnn else 0) + (self.ids.out_dim if self.ids else 0)

    @property
    def uses_sequences(self) -> bool:
        return self.cnn is not None

    def forward(self, tokens: torch.Tensor | None, target_index: torch.Tensor) -> torch.Tensor:
        parts = []
        if self.cnn is not None:
            parts.append(self.cnn(tokens))
        if self.ids is not None:
            parts.append(self.ids(target_index))
        return torch.cat(parts, dim=-1)


class InteractionHead(nn.Module):
    """MLP over [drug, target, drug ⊙ target (projected)] → one value per pair."""

    def __init__(self, drug_dim: int, target_dim: int, hidden: tuple[int, ...] = (512, 256),
                 dropout: float = 0.2, proj: int = 128) -> None:
        super().__init__()
        self.pd = nn.Linear(drug_dim, proj)
        self.pt = nn.Linear(target_dim, proj)
        dims = [3 * proj, *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(a, b), nn.ReLU(), nn.Dropout(dropout)]
        layers.append(nn.Linear(dims[-1], 1))
        self.mlp = nn.Sequential(*layers)

    def forward(self, d: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        d, t = self.pd(d), self.pt(t)
        return self.mlp(torch.cat([d, t, d * t], dim=-1)).squeeze(-1)


class DTIModel(nn.Module):
    def __init__(self, cfg: dict, *, node_dim: int, edge_dim: int, num_targets: int) -> None:
        super().__init__()
        self.drug = build_drug_encoder(cfg["drug_encoder"], node_dim, edge_dim)
        self.target = TargetEncoder(cfg["target_encoder"], num_targets)
        self.head = InteractionHead(self.drug.out_dim, self.target.out_dim, **cfg.get("head", {}))

    def encode_drugs(self, drug_batch) -> torch.Tensor:
        return self.drug(drug_batch)

    def encode_targets(self, tokens, target_index) -> torch.Tensor:
        return self.target(tokens, target_index)

    def forward(self, drug_batch, tokens, target_index, pair_drug, pair_target) -> torch.Tensor:
        d = self.encode_drugs(drug_batch)
        t = self.encode_targets(tokens, target_index)
        return self.head(d[pair_drug], t[pair_target])
