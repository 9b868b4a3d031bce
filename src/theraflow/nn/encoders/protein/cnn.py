"""``cnn``: residue embedding → 1D convolutions → global max pool; parameters at the top of the config."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from theraflow.descriptors import VOCAB_SIZE
from theraflow.nn.entity import EncoderSpec


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
                 pool_every: int = 2, dropout: float = 0.0, max_len: int = 1200) -> None:
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
        self.needs = {"tokens": int(max_len)}

    def forward(self, inputs) -> torch.Tensor:
        tokens = inputs["tokens"] if isinstance(inputs, dict) else inputs
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


MAX_LEN = {"type": "integer", "minimum": 16, "description": "Residues read per sequence (longer ones are cut)."}

ENCODER = EncoderSpec(
    "cnn", "cnn", lambda p, dims: ProteinCNN(**p),
    schema={"embed": {"type": "integer", "minimum": 4, "description": "Residue embedding width."},
            "channels": {"type": "array", "items": {"type": "integer", "minimum": 4}, "minItems": 1,
                         "description": "Channels of each convolution."},
            "kernel": {"type": "integer", "minimum": 1, "description": "Convolution width."},
            "pool_every": {"type": "integer", "minimum": 0, "description": "Max-pool width between convolutions."},
            "dropout": {"type": "number", "minimum": 0, "maximum": 0.9, "description": "Dropout on the output."},
            "max_len": MAX_LEN},
    description="a 1D CNN over the residues, max-pooled over the sequence")
