"""``attention``: self-attention over a protein's residues; parameters under ``target_encoder.attention``.

Residues are embedded, cut into patches of ``patch`` consecutive residues by a strided convolution (a
1,200-residue kinase becomes 150 tokens, so attention costs (L / patch)² on a CPU, not L²), given learned
positions, and read by ``layers`` Transformer encoder layers (pre-norm, ``heads`` heads) whose attention
skips padding; the output is the mean of the tokens that hold residues. Architecture only.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from theraflow.descriptors import VOCAB_SIZE
from theraflow.nn.entity import EncoderSpec


class ProteinAttention(nn.Module):
    def __init__(self, dim: int = 64, layers: int = 2, heads: int = 4, patch: int = 8, dropout: float = 0.1,
                 max_len: int = 1200) -> None:
        super().__init__()
        if dim % heads:
            raise TypeError(f"dim {dim} is not a multiple of heads {heads}")
        self.patch = int(patch)
        self.embedding = nn.Embedding(VOCAB_SIZE, dim, padding_idx=0)
        self.patches = nn.Conv1d(dim, dim, self.patch, stride=self.patch)
        self.positions = nn.Parameter(torch.zeros(math.ceil(max_len / self.patch), dim))
        nn.init.normal_(self.positions, std=0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=2 * dim, dropout=dropout, batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.out_dim = dim
        self.needs = {"tokens": int(max_len)}

    def forward(self, inputs) -> torch.Tensor:
        tokens = inputs["tokens"] if isinstance(inputs, dict) else inputs  # [n, L]
        n, length = tokens.shape
        pad = (-length) % self.patch
        if pad:
            tokens = nn.functional.pad(tokens, (0, pad))
        h = self.patches(self.embedding(tokens).transpose(1, 2)).transpose(1, 2)  # [n, L / patch, dim]
        filled = (tokens != 0).view(n, -1, self.patch).any(-1)  # tokens that hold a residue
        empty = ~filled.any(-1)
        filled[empty, 0] = True  # an empty sequence attends to one (padding) token: zeros come out below
        h = self.encoder(h + self.positions[: h.shape[1]], src_key_padding_mask=~filled)
        h = self.norm(h) * filled.unsqueeze(-1)
        out = h.sum(1) / filled.sum(1, keepdim=True)
        return torch.where(empty.unsqueeze(-1), torch.zeros_like(out), out)


ENCODER = EncoderSpec(
    "attention", "attention", lambda p, dims: ProteinAttention(**p), params_key="attention",
    schema={"dim": {"type": "integer", "minimum": 8, "description": "Token width."},
            "layers": {"type": "integer", "minimum": 1, "description": "Transformer encoder layers."},
            "heads": {"type": "integer", "minimum": 1, "description": "Attention heads (dim a multiple of them)."},
            "patch": {"type": "integer", "minimum": 1, "description": "Residues per token."},
            "dropout": {"type": "number", "minimum": 0, "maximum": 0.9, "description": "Dropout in the layers."},
            "max_len": {"type": "integer", "minimum": 16,
                        "description": "Residues read per sequence (longer ones are cut)."}},
    description="self-attention over patches of residues (Transformer encoder), mean-pooled")
