"""The first-pass network of a two-stage screen: a multilayer perceptron over a molecule's fingerprint bits, one
output per partner of a fixed panel (trained by theraflow.pairs.distill; not the pair-level baseline
theraflow.pairs.baselines.FingerprintMLP).

The first layer is an ``EmbeddingBag`` over the on-bits (a linear layer over the bit vector, computed from the
40-odd set bits instead of the 2,048): a molecule's scores for every partner cost a few thousand multiply-adds.
The last layer's rows are the partners' embeddings. Architecture only: no I/O.
"""

from __future__ import annotations

import torch
from torch import nn


class FirstPassNet(nn.Module):
    def __init__(self, n_bits: int, n_out: int, hidden: tuple[int, ...] = (512, 256), dropout: float = 0.1) -> None:
        super().__init__()
        self.bits = nn.EmbeddingBag(n_bits, hidden[0], mode="sum")
        self.bias = nn.Parameter(torch.zeros(hidden[0]))
        layers: list[nn.Module] = [nn.ReLU(), nn.Dropout(dropout)]
        for a, b in zip(hidden, hidden[1:]):
            layers += [nn.Linear(a, b), nn.ReLU(), nn.Dropout(dropout)]
        layers.append(nn.Linear(hidden[-1], n_out))
        self.head = nn.Sequential(*layers)

    def forward(self, bits: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        """``bits``: the on-bit indices of a batch of molecules, one after another; ``offsets``: where each
        molecule's start → [molecules, partners]."""
        return self.head(self.bits(bits, offsets) + self.bias)
