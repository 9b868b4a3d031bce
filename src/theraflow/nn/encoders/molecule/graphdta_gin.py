"""``graphdta_gin``: GraphDTA's GIN branch (Nguyen et al., Bioinformatics 2021), from its paper."""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn import GINConv, global_add_pool

from theraflow.nn.encoders.molecule._graph import GRAPH_SCHEMA, graphs_of
from theraflow.nn.entity import EncoderSpec


class GraphDTAGINEncoder(nn.Module):
    """Five GIN layers over atom features (no bond features), each an MLP Linear-ReLU-Linear of
    ``hidden`` (32) followed by ReLU and batch norm, a sum readout, then a fully connected
    layer to ``out`` (128) with ReLU and dropout (0.2)."""

    needs = {"graphs": None}

    def __init__(self, in_dim: int, edge_dim: int = 0, hidden: int = 32, layers: int = 5, out: int = 128,
                 dropout: float = 0.2) -> None:
        super().__init__()
        dims = [in_dim] + [hidden] * layers
        self.convs = nn.ModuleList(
            GINConv(nn.Sequential(nn.Linear(a, b), nn.ReLU(), nn.Linear(b, b))) for a, b in zip(dims[:-1], dims[1:]))
        self.norms = nn.ModuleList(nn.BatchNorm1d(hidden) for _ in range(layers))
        self.fc = nn.Linear(hidden, out)
        self.dropout = nn.Dropout(dropout)
        self.out_dim = out

    def forward(self, inputs) -> torch.Tensor:
        data = graphs_of(inputs)
        h = data.x
        for conv, norm in zip(self.convs, self.norms):
            h = norm(torch.relu(conv(h, data.edge_index)))
        return self.dropout(torch.relu(self.fc(global_add_pool(h, data.batch, size=data.num_graphs))))


ENCODER = EncoderSpec(
    "graphdta_gin", "graph", lambda p, dims: GraphDTAGINEncoder(dims["node_dim"], dims["edge_dim"], **p),
    schema={k: v for k, v in GRAPH_SCHEMA.items() if k != "pool"}
    | {"out": {"type": "integer", "minimum": 8, "description": "Width of the fully connected layer."}},
    description="GraphDTA's GIN design (reference)")
