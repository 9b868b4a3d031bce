"""Drug–drug interaction model: one shared drug encoder for both drugs and an order-aware pair head.

``DDIModel.forward`` takes a batch's *unique* drugs (both columns together), encodes each once
with a :class:`~theraflow.nn.interaction.DrugEncoder`, and scores each pair (a, b) from
``[p_a, p_b, p_a ⊙ p_b]`` (projected embeddings): the first drug's and the second drug's terms
have weights of their own, so (a, b) and (b, a) are different inputs — the order of a pair
says which drug acts on which. The output is one logit per class (86 interaction types), or
one logit for binary data.
"""

from __future__ import annotations

import torch
from torch import nn

from theraflow.nn.interaction import DrugEncoder


class OrderedPairHead(nn.Module):
    """MLP over [a, b, a ⊙ b] of projected drug embeddings → ``n_out`` logits (``batch_norm``: each hidden
    layer's outputs normalized over the batch before the ReLU).

    The first layer is linear in the concatenation, so its drug terms ``W_a·a`` and ``W_b·b`` are
    computed once per unique drug and only the product term per pair (the same function)."""

    def __init__(self, drug_dim: int, n_out: int, hidden: tuple[int, ...] = (1024, 512), dropout: float = 0.1,
                 proj: int = 256, batch_norm: bool = False) -> None:
        super().__init__()
        self.proj = nn.Linear(drug_dim, proj)
        self.width = proj
        dims = [3 * proj, *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(a, b), *([nn.BatchNorm1d(b)] if batch_norm else []), nn.ReLU(), nn.Dropout(dropout)]
        layers.append(nn.Linear(dims[-1], n_out))
        self.mlp = nn.Sequential(*layers)
        self.n_out = n_out

    def inputs(self, p: torch.Tensor, pair_a: torch.Tensor, pair_b: torch.Tensor) -> torch.Tensor:
        """The head's input rows [p_a, p_b, p_a ⊙ p_b] (what the split first layer computes with)."""
        a, b = p[pair_a], p[pair_b]
        return torch.cat([a, b, a * b], dim=-1)

    def pairs(self, p: torch.Tensor, pair_a: torch.Tensor, pair_b: torch.Tensor) -> torch.Tensor:
        first = self.mlp[0]
        w, k = first.weight, self.width
        per_a = p @ w[:, :k].T
        per_b = p @ w[:, k : 2 * k].T
        h = per_a[pair_a] + per_b[pair_b] + (p[pair_a] * p[pair_b]) @ w[:, 2 * k :].T + first.bias
        out = self.mlp[1:](h)
        return out.squeeze(-1) if self.n_out == 1 else out


class DDIModel(nn.Module):
    def __init__(self, cfg: dict, *, node_dim: int, edge_dim: int, num_drugs: int, n_classes: int) -> None:
        super().__init__()
        self.drug = DrugEncoder(cfg["drug_encoder"], node_dim, edge_dim, num_drugs)
        self.n_classes = n_classes
        self.head = OrderedPairHead(self.drug.out_dim, 1 if n_classes == 2 else n_classes, **cfg.get("head", {}))

    @property
    def binary(self) -> bool:
        return self.n_classes == 2

    def encode_drugs(self, inputs: dict) -> torch.Tensor:
        """Projected embeddings of the given drugs (each once)."""
        return self.head.proj(self.drug(inputs))

    def forward(self, batch: dict) -> torch.Tensor:
        """Logits of a batch (``DDISet.batch``): [n_pairs, n_classes], or [n_pairs] for binary data."""
        return self.head.pairs(self.encode_drugs(batch["drugs"]), batch["pair_a"], batch["pair_b"])

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """[n_pairs, n_classes] class probabilities (binary: [1 - p, p])."""
        if self.binary:
            p = torch.sigmoid(logits)
            return torch.stack([1 - p, p], dim=-1)
        return torch.softmax(logits, dim=-1)
