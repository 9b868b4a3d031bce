"""``gps``: a graph transformer (GPS, Rampášek et al. 2022) over the atoms — each layer a local message pass
(GINE with bond features) plus global multi-head self-attention across all atoms of the molecule, with
residual connections and batch norm (PyG's ``GPSConv``); then a graph readout. Attention lets an atom
read distant parts of the molecule in one layer, which local message passing needs many layers for."""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn import GINEConv, GPSConv

from theraflow.nn.encoders.molecule._graph import GRAPH_SCHEMA, Readout, graphs_of, mlp
from theraflow.nn.entity import EncoderSpec


class GPSEncoder(nn.Module):
    needs = {"graphs": None}

    def __init__(self, in_dim: int, edge_dim: int, hidden: int = 128, layers: int = 3, heads: int = 4,
                 dropout: float = 0.1, attn_dropout: float = 0.1, pool: str = "add+max") -> None:
        super().__init__()
        if hidden % heads:
            raise ValueError("gps: hidden must be divisible by heads")
        self.embed = nn.Linear(in_dim, hidden)
        self.layers = nn.ModuleList(
            GPSConv(hidden, GINEConv(mlp([hidden, hidden, hidden]), edge_dim=edge_dim, train_eps=True), heads=heads,
                    dropout=dropout, attn_type="multihead", attn_kwargs={"dropout": attn_dropout})
            for _ in range(layers))
        self.readout = Readout(pool)
        self.out_dim = hidden * len(self.readout.names)

    def forward(self, inputs) -> torch.Tensor:
        data = graphs_of(inputs)
        h = self.embed(data.x)
        for layer in self.layers:
            h = layer(h, data.edge_index, data.batch, edge_attr=data.edge_attr)
        return self.readout(h, data.batch, data.num_graphs)


ENCODER = EncoderSpec(
    "gps", "graph", lambda p, dims: GPSEncoder(dims["node_dim"], dims["edge_dim"], **p),
    schema={**GRAPH_SCHEMA,
            "heads": {"type": "integer", "minimum": 1, "description": "Attention heads (hidden must divide)."},
            "attn_dropout": {"type": "number", "minimum": 0, "maximum": 0.9,
                             "description": "Dropout on attention weights (default 0.1)."}},
    description="a graph transformer: local GINE message passing plus global self-attention over the atoms (GPS)")
