"""Protein encoders: a 1D CNN over residues, and an id embedding. Architecture only.

``tokenize`` turns sequences into integer tensors (0 = padding; the 20 standard amino
acids, then B, U, X, Z, O and an "unknown" token).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

ALPHABET = "ACDEFGHIKLMNPQRSTVWYBUXZO"
VOCAB_SIZE = len(ALPHABET) + 2  # + padding (0) + unknown
_CODE = np.full(256, len(ALPHABET) + 1, dtype=np.int64)
for _i, _a in enumerate(ALPHABET):
    _CODE[ord(_a)] = _i + 1
    _CODE[ord(_a.lower())] = _i + 1


def tokenize(sequences: Sequence[str], max_len: int) -> torch.Tensor:
    """[n, max_len] int64 tokens, sequences truncated to ``max_len`` and right-padded with 0."""
    out = np.zeros((len(sequences), max_len), dtype=np.int64)
    for i, s in enumerate(sequences):
        b = np.frombuffer(s[:max_len].encode("ascii", "replace"), dtype=np.uint8)
        out[i, : len(b)] = _CODE[b]
    return torch.from_numpy(out)


class ProteinCNN(nn.Module):
    """Residue embedding → 1D convolutions (with optional max-pool between them) → global max pool."""

    def __init__(self, embed: int = 32, channels: Sequence[int] = (32, 64, 96), kernel: int = 8,
                 pool_every: int = 2, dropout: float = 0.0) -> None:
        super().__init__()
        self.embedding = nn.Embedding(VOCAB_SIZE, embed, padding_idx=0)
        layers: list[nn.Module] = []
        prev = embed
        for i, c in enumerate(channels):
            layers += [nn.Conv1d(prev, c, kernel, padding=kernel // 2), nn.BatchNorm1d(c), nn.ReLU()]
            if pool_every and i < len(channels) - 1:
                layers.append(nn.MaxPool1d(pool_every))
            prev = c
        self.convs = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.out_dim = prev

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.embedding(tokens).transpose(1, 2)  # [n, embed, L]
        h = self.convs(h)
        return self.dropout(h.amax(dim=-1))


class TargetIdEmbedding(nn.Module):
    """One learned vector per target id (for data without sequences).

    Index ``num_targets`` (and anything outside 0..num_targets-1, e.g. -1) is "unknown":
    targets the model never saw. With ``dropout`` > 0, training replaces a target's id by
    "unknown" with that probability, so the unknown vector learns a generic target and a
    model that also reads sequences learns to predict without the id (cold targets).
    """

    def __init__(self, num_targets: int, dim: int = 64, dropout: float = 0.0) -> None:
        super().__init__()
        self.num_targets = num_targets
        self.embedding = nn.Embedding(num_targets + 1, dim)
        self.dropout = dropout
        self.out_dim = dim

    def forward(self, target_index: torch.Tensor) -> torch.Tensor:
        unknown = (target_index < 0) | (target_index >= self.num_targets)
        if self.training and self.dropout > 0:
            unknown = unknown | (torch.rand(target_index.shape, device=target_index.device) < self.dropout)
        idx = torch.where(unknown, torch.full_like(target_index, self.num_targets), target_index)
        return self.embedding(idx)
