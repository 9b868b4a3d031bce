"""``graphdta_cnn``: GraphDTA's protein branch (Nguyen et al., Bioinformatics 2021), from its paper."""

from __future__ import annotations

import torch
from torch import nn

from theraflow.descriptors import VOCAB_SIZE
from theraflow.nn.encoders.protein.cnn import MAX_LEN
from theraflow.nn.entity import EncoderSpec


class GraphDTAProteinCNN(nn.Module):
    """Residue embedding (128), one 1D convolution (32 filters, width 8) over the residues, the
    feature map flattened position by position into a fully connected layer of 128. Sequences are
    cut or padded to ``max_len`` (GraphDTA: 1,000), so the flattened layer sees a fixed number of
    positions."""

    def __init__(self, embed: int = 128, filters: int = 32, kernel: int = 8, out: int = 128,
                 max_len: int = 1200) -> None:
        super().__init__()
        self.embedding = nn.Embedding(VOCAB_SIZE, embed, padding_idx=0)
        self.conv = nn.Conv1d(embed, filters, kernel)
        self.max_len = max_len
        self.fc = nn.Linear(filters * (max_len - kernel + 1), out)
        self.out_dim = out
        self.needs = {"tokens": int(max_len)}

    def forward(self, inputs) -> torch.Tensor:
        tokens = inputs["tokens"] if isinstance(inputs, dict) else inputs
        if tokens.shape[1] < self.max_len:
            tokens = nn.functional.pad(tokens, (0, self.max_len - tokens.shape[1]))
        h = torch.relu(self.conv(self.embedding(tokens[:, : self.max_len]).transpose(1, 2)))
        return self.fc(h.flatten(1))


ENCODER = EncoderSpec(
    "graphdta_cnn", "cnn", lambda p, dims: GraphDTAProteinCNN(**p),
    schema={"embed": {"type": "integer", "minimum": 4, "description": "Residue embedding width."},
            "filters": {"type": "integer", "minimum": 1, "description": "Convolution filters."},
            "kernel": {"type": "integer", "minimum": 1, "description": "Convolution width."},
            "out": {"type": "integer", "minimum": 4, "description": "Width of its fully connected layer."},
            "max_len": MAX_LEN},
    description="GraphDTA's protein CNN (reference)")
