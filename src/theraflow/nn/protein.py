"""Protein encoders: 1D CNNs over residues (theraflow's, GraphDTA's) and an id embedding. Architecture only.

``tokenize`` turns sequences into integer tensors (0 = padding; the 20 standard amino
acids, then B, U, X, Z, O and an "unknown" token).
"""

from __future__ import annotations

from collections.abc import Sequence

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


class _ChannelNorm(nn.Module):
    """LayerNorm over channels at each position: no dependence on the batch or on padding."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # [n, C, L]
        return self.norm(h.transpose(1, 2)).transpose(1, 2)


class ProteinCNN(nn.Module):
    """Residue embedding → 1D convolutions (max-pool between them) → global max pool over residues.

    Normalization is per position (LayerNorm over channels), not per batch: batches may
    hold a few related targets (block sampling), and batch statistics would then differ
    between training and inference. Padding never reaches the global max pool.
    """

    def __init__(self, embed: int = 32, channels: Sequence[int] = (32, 64, 96), kernel: int = 8,
                 pool_every: int = 2, dropout: float = 0.0) -> None:
        super().__init__()
        self.embedding = nn.Embedding(VOCAB_SIZE, embed, padding_idx=0)
        self.blocks = nn.ModuleList()
        self.pools = []
        prev = embed
        for i, c in enumerate(channels):
            self.blocks.append(nn.Sequential(nn.Conv1d(prev, c, kernel, padding=kernel // 2), _ChannelNorm(c),
                                             nn.ReLU()))
            self.pools.append(pool_every if pool_every and i < len(channels) - 1 else 0)
            prev = c
        self.dropout = nn.Dropout(dropout)
        self.out_dim = prev

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        mask = (tokens != 0).float().unsqueeze(1)  # [n, 1, L]
        h = self.embedding(tokens).transpose(1, 2)  # [n, embed, L]
        for block, pool in zip(self.blocks, self.pools):
            h = block(h)
            if h.shape[-1] != mask.shape[-1]:  # even kernels add one position
                h = h[..., : mask.shape[-1]]
            if pool:
                h = nn.functional.max_pool1d(h, pool)
                mask = nn.functional.max_pool1d(mask, pool)
        h = h.masked_fill(mask == 0, float("-inf")).amax(dim=-1)
        h = torch.where(torch.isinf(h), torch.zeros_like(h), h)  # an empty sequence: zeros
        return self.dropout(h)


class GraphDTAProteinCNN(nn.Module):
    """GraphDTA's protein branch (Nguyen et al., Bioinformatics 2021): residue embedding (128),
    one 1D convolution (32 filters, width 8) over the residues, the feature map flattened
    position by position into a fully connected layer of 128. Sequences are cut or padded to
    ``max_len`` (GraphDTA: 1,000), so the flattened layer sees a fixed number of positions."""

    def __init__(self, embed: int = 128, filters: int = 32, kernel: int = 8, out: int = 128,
                 max_len: int = 1000) -> None:
        super().__init__()
        self.embedding = nn.Embedding(VOCAB_SIZE, embed, padding_idx=0)
        self.conv = nn.Conv1d(embed, filters, kernel)
        self.max_len = max_len
        self.fc = nn.Linear(filters * (max_len - kernel + 1), out)
        self.out_dim = out

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.shape[1] < self.max_len:
            tokens = nn.functional.pad(tokens, (0, self.max_len - tokens.shape[1]))
        h = torch.relu(self.conv(self.embedding(tokens[:, : self.max_len]).transpose(1, 2)))
        return self.fc(h.flatten(1))


class IdEmbedding(nn.Module):
    """One learned vector per entity id (a target, a training drug).

    Index ``num`` (and anything outside 0..num-1, e.g. -1) is "unknown": entities the
    model never saw. With ``dropout`` > 0, training replaces an id by "unknown" with that
    probability, so the unknown vector learns a generic entity and a model that also reads
    sequences or structures learns to predict without the id (cold targets, new drugs).
    """

    def __init__(self, num: int, dim: int = 64, dropout: float = 0.0) -> None:
        super().__init__()
        self.num = num
        self.embedding = nn.Embedding(num + 1, dim)
        self.dropout = dropout
        self.out_dim = dim

    @property
    def num_targets(self) -> int:  # the name of the first release
        return self.num

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        unknown = (index < 0) | (index >= self.num)
        if self.training and self.dropout > 0:
            unknown = unknown | (torch.rand(index.shape, device=index.device) < self.dropout)
        idx = torch.where(unknown, torch.full_like(index, self.num), index)
        return self.embedding(idx)


TargetIdEmbedding = IdEmbedding
