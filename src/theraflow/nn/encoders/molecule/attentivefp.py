"""``attentivefp``: PyG's AttentiveFP (Xiong et al. 2020) as a graph encoder."""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn.models import AttentiveFP

from theraflow.nn.encoders.molecule._graph import GRAPH_SCHEMA, graphs_of
from theraflow.nn.entity import EncoderSpec


class AttentiveFPEncoder(nn.Module):
    needs = {"graphs": None}

    def __init__(self, in_dim: int, edge_dim: int, hidden: int = 128, layers: int = 3, timesteps: int = 2,
                 dropout: float = 0.1, out: int = 128) -> None:
        super().__init__()
        self.net = AttentiveFP(in_channels=in_dim, hidden_channels=hidden, out_channels=out, edge_dim=edge_dim,
                               num_layers=layers, num_timesteps=timesteps, dropout=dropout)
        self.out_dim = out

    def forward(self, inputs) -> torch.Tensor:
        data = graphs_of(inputs)
        return self.net(data.x, data.edge_index, data.edge_attr, data.batch)


ENCODER = EncoderSpec(
    "attentivefp", "graph", lambda p, dims: AttentiveFPEncoder(dims["node_dim"], dims["edge_dim"], **p),
    schema={k: v for k, v in GRAPH_SCHEMA.items() if k != "pool"}
    | {"timesteps": {"type": "integer", "minimum": 1, "description": "Graph-level attention steps."},
       "out": {"type": "integer", "minimum": 8, "description": "Output width."}},
    description="PyG's AttentiveFP (graph attention with a gated readout)")
