"""What the molecular-graph encoders share: pooling, the residual message-passing stack, the schema of
their common parameters. Each reads ``inputs["graphs"]`` (a PyG batch: x, edge_index, edge_attr, batch)."""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn import global_add_pool, global_max_pool, global_mean_pool

POOLS = {"add": global_add_pool, "mean": global_mean_pool, "max": global_max_pool}

GRAPH_SCHEMA = {
    "hidden": {"type": "integer", "minimum": 8, "description": "Atom-state width."},
    "layers": {"type": "integer", "minimum": 1, "description": "Message-passing layers."},
    "dropout": {"type": "number", "minimum": 0, "maximum": 0.9, "description": "Dropout on the pooled graph vector."},
    "pool": {"type": "string", "pattern": "^(add|mean|max)(\\+(add|mean|max))*$",
             "description": "Graph readout: add, mean, max or a '+'-join (concatenated)."},
}


def graphs_of(inputs):
    """The PyG batch of a branch's inputs (a dict of batch inputs, or the batch itself)."""
    return inputs["graphs"] if isinstance(inputs, dict) else inputs


def mlp(dims: list[int], dropout: float = 0.0) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(dims) - 1):
        layers.append(nn.Linear(dims[i], dims[i + 1]))
        if i < len(dims) - 2:
            layers += [nn.BatchNorm1d(dims[i + 1]), nn.ReLU(), nn.Dropout(dropout)]
    return nn.Sequential(*layers)


class Readout(nn.Module):
    def __init__(self, pool: str) -> None:
        super().__init__()
        names = pool.split("+")
        unknown = [n for n in names if n not in POOLS]
        if unknown:
            raise ValueError(f"unknown pooling {unknown}; use add, mean, max or a '+'-joined mix")
        self.names = names

    def forward(self, h, batch, num_graphs):
        return torch.cat([POOLS[n](h, batch, size=num_graphs) for n in self.names], dim=-1)


class ResidualGraphEncoder(nn.Module):
    """Embed atoms, then ``layers`` message-passing layers with batch norm, ReLU and residual
    connections, then a graph readout, then dropout. Subclasses say which convolution.

    Dropout acts on the pooled graph vector, not on atom states: before a max readout it
    would bias the maximum upwards in training (survivors are scaled by 1/(1-p)), and the
    model's predictions would shift when dropout is off (measured on Davis: -0.9 pKd)."""

    needs = {"graphs": None}

    def __init__(self, in_dim: int, hidden: int, layers: int, dropout: float, pool: str) -> None:
        super().__init__()
        self.embed = nn.Linear(in_dim, hidden)
        self.convs = nn.ModuleList(self.make_conv(hidden) for _ in range(layers))
        self.norms = nn.ModuleList(nn.BatchNorm1d(hidden) for _ in range(layers))
        self.dropout = nn.Dropout(dropout)
        self.readout = Readout(pool)
        self.out_dim = hidden * len(self.readout.names)

    def make_conv(self, hidden: int) -> nn.Module:
        raise NotImplementedError

    def forward(self, inputs) -> torch.Tensor:
        data = graphs_of(inputs)
        h = self.embed(data.x)
        for conv, norm in zip(self.convs, self.norms):
            h = h + torch.relu(norm(conv(h, data.edge_index, data.edge_attr)))
        return self.dropout(self.readout(h, data.batch, data.num_graphs))
