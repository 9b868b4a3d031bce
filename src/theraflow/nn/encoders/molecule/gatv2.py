"""``gatv2``: GATv2 attention (Brody et al. 2022) over atoms, with edge features."""

from __future__ import annotations

from torch import nn
from torch_geometric.nn import GATv2Conv

from theraflow.nn.encoders.molecule._graph import GRAPH_SCHEMA, ResidualGraphEncoder
from theraflow.nn.entity import EncoderSpec


class GATv2Encoder(ResidualGraphEncoder):
    """GATv2 attention over atoms, with edge features.

    ``attn_dropout`` (dropout on attention coefficients, off by default) acts before the
    readout and shifts inference outputs the way atom-level dropout does."""

    def __init__(self, in_dim: int, edge_dim: int, hidden: int = 128, layers: int = 3, heads: int = 4,
                 dropout: float = 0.1, pool: str = "add+max", attn_dropout: float = 0.0) -> None:
        if hidden % heads:
            raise ValueError("GATv2: hidden must be divisible by heads")
        self.edge_dim, self.heads, self.attn_dropout = edge_dim, heads, attn_dropout
        super().__init__(in_dim, hidden, layers, dropout, pool)

    def make_conv(self, hidden: int) -> nn.Module:
        return GATv2Conv(hidden, hidden // self.heads, heads=self.heads, edge_dim=self.edge_dim,
                         dropout=self.attn_dropout)


ENCODER = EncoderSpec(
    "gatv2", "graph", lambda p, dims: GATv2Encoder(dims["node_dim"], dims["edge_dim"], **p),
    schema={**GRAPH_SCHEMA,
            "heads": {"type": "integer", "minimum": 1, "description": "Attention heads (hidden must divide)."},
            "attn_dropout": {"type": "number", "minimum": 0, "maximum": 0.9,
                             "description": "Dropout on attention coefficients (default 0)."}},
    description="GATv2 attention over the atoms, with edge features")
