"""GraphSet: many molecular graphs in a few flat arrays.

Featurizers write, and the feature store reads, whole batches at once. Building one
``torch_geometric.data.Data`` per molecule costs more than featurizing it, so graphs
stay in CSR form (concatenated node and edge arrays plus offsets) until a caller asks
for a ``Data`` (``graphs[i]``), a list of them, or a collated ``Batch`` of a subset
(what training and scoring loaders use).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np


def _torch_dtype(name: str):
    import torch

    return {"float32": torch.float32, "int64": torch.long}[name]


def ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + n)`` for each (s, n), without a Python loop."""
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(np.asarray(starts, dtype=np.int64) - offsets, lengths) + np.arange(total)


@dataclass
class GraphSet:
    """Graphs of ``n`` molecules.

    x:          [total_atoms, F] node features (storage dtype, e.g. uint8 one-hot)
    edge_index: [2, total_edges] node indices local to each graph
    edge_attr:  [total_edges, E] edge features
    x_ptr:      [n + 1] offsets of each graph's nodes
    e_ptr:      [n + 1] offsets of each graph's edges
    x_dtype / edge_attr_dtype: the torch dtype ("float32" or "int64") handed to models
    smiles:     optional list of n SMILES, attached to ``Data`` objects as ``.smiles``
    """

    x: np.ndarray
    edge_index: np.ndarray
    edge_attr: np.ndarray
    x_ptr: np.ndarray
    e_ptr: np.ndarray
    x_dtype: str = "float32"
    edge_attr_dtype: str = "float32"
    smiles: list[str] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if len(self.x_ptr) != len(self.e_ptr):
            raise ValueError("x_ptr and e_ptr describe different numbers of graphs")
        if int(self.x_ptr[-1]) != len(self.x) or int(self.e_ptr[-1]) != self.edge_index.shape[1]:
            raise ValueError("offsets do not match the node/edge arrays")
        if self.smiles is not None and len(self.smiles) != len(self):
            raise ValueError("smiles has a different length than the graph set")

    def __len__(self) -> int:
        return len(self.x_ptr) - 1

    @property
    def num_node_features(self) -> int:
        return int(self.x.shape[1])

    @property
    def num_edge_features(self) -> int:
        return int(self.edge_attr.shape[1])

    @property
    def num_nodes(self) -> np.ndarray:
        return np.diff(self.x_ptr)

    @property
    def num_edges(self) -> np.ndarray:
        return np.diff(self.e_ptr)

    @classmethod
    def empty(cls, num_node_features: int, num_edge_features: int, x_store=np.uint8,
              e_store=np.uint8, x_dtype="float32", edge_attr_dtype="float32") -> "GraphSet":
        zero = np.zeros(1, dtype=np.int64)
        return cls(
            x=np.zeros((0, num_node_features), dtype=x_store),
            edge_index=np.zeros((2, 0), dtype=np.int64),
            edge_attr=np.zeros((0, num_edge_features), dtype=e_store),
            x_ptr=zero,
            e_ptr=zero.copy(),
            x_dtype=x_dtype,
            edge_attr_dtype=edge_attr_dtype,
            smiles=[],
        )

    # ------------------------------------------------------------------ subsets
    def take(self, idx: Sequence[int] | np.ndarray) -> "GraphSet":
        """The graphs at positions ``idx``, in that order, as a new GraphSet."""
        idx = np.asarray(idx, dtype=np.int64)
        n_nodes = self.x_ptr[idx + 1] - self.x_ptr[idx]
        n_edges = self.e_ptr[idx + 1] - self.e_ptr[idx]
        node_sel = ranges(self.x_ptr[idx], n_nodes)
        edge_sel = ranges(self.e_ptr[idx], n_edges)
        x_ptr = np.zeros(len(idx) + 1, dtype=np.int64)
        np.cumsum(n_nodes, out=x_ptr[1:])
        e_ptr = np.zeros(len(idx) + 1, dtype=np.int64)
        np.cumsum(n_edges, out=e_ptr[1:])
        return GraphSet(
            x=self.x[node_sel],
            edge_index=self.edge_index[:, edge_sel],
            edge_attr=self.edge_attr[edge_sel],
            x_ptr=x_ptr,
            e_ptr=e_ptr,
            x_dtype=self.x_dtype,
            edge_attr_dtype=self.edge_attr_dtype,
            smiles=None if self.smiles is None else [self.smiles[i] for i in idx],
        )

    @staticmethod
    def concat(sets: Iterable["GraphSet"]) -> "GraphSet":
        sets = list(sets)
        if not sets:
            raise ValueError("nothing to concatenate")
        first = sets[0]
        for s in sets[1:]:
            if (s.num_node_features, s.num_edge_features, s.x_dtype, s.edge_attr_dtype) != (
                first.num_node_features, first.num_edge_features, first.x_dtype, first.edge_attr_dtype
            ):
                raise ValueError("cannot concatenate graph sets of different featurizers")

        def ptrs(parts):
            sizes = np.concatenate([np.diff(p) for p in parts])
            out = np.zeros(len(sizes) + 1, dtype=np.int64)
            np.cumsum(sizes, out=out[1:])
            return out

        smiles = None
        if all(s.smiles is not None for s in sets):
            smiles = [smi for s in sets for smi in s.smiles]
        return GraphSet(
            x=np.concatenate([s.x for s in sets]),
            edge_index=np.concatenate([s.edge_index for s in sets], axis=1),
            edge_attr=np.concatenate([s.edge_attr for s in sets]),
            x_ptr=ptrs([s.x_ptr for s in sets]),
            e_ptr=ptrs([s.e_ptr for s in sets]),
            x_dtype=first.x_dtype,
            edge_attr_dtype=first.edge_attr_dtype,
            smiles=smiles,
        )

    def equals(self, other: "GraphSet") -> bool:
        """Same graphs, same features, same dtypes (SMILES are not compared)."""
        return (
            self.x_dtype == other.x_dtype
            and self.edge_attr_dtype == other.edge_attr_dtype
            and np.array_equal(self.x_ptr, other.x_ptr)
            and np.array_equal(self.e_ptr, other.e_ptr)
            and np.array_equal(self.x, other.x)
            and np.array_equal(self.edge_index, other.edge_index)
            and np.array_equal(self.edge_attr, other.edge_attr)
        )

    # --------------------------------------------------------------- PyG views
    def _x_tensor(self, x: np.ndarray):
        import torch

        return torch.from_numpy(np.ascontiguousarray(x)).to(_torch_dtype(self.x_dtype))

    def _e_tensor(self, e: np.ndarray):
        import torch

        return torch.from_numpy(np.ascontiguousarray(e)).to(_torch_dtype(self.edge_attr_dtype))

    def __getitem__(self, i: int):
        import torch
        from torch_geometric.data import Data

        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        a, b = int(self.x_ptr[i]), int(self.x_ptr[i + 1])
        c, d = int(self.e_ptr[i]), int(self.e_ptr[i + 1])
        data = Data(
            x=self._x_tensor(self.x[a:b]),
            edge_index=torch.from_numpy(np.ascontiguousarray(self.edge_index[:, c:d])).long(),
            edge_attr=self._e_tensor(self.edge_attr[c:d]),
        )
        if self.smiles is not None:
            data.smiles = self.smiles[i]
        return data

    def to_data_list(self) -> list:
        return [self[i] for i in range(len(self))]

    def collate(self, idx: Sequence[int] | np.ndarray | None = None):
        """A ``torch_geometric.data.Batch`` of the graphs at ``idx`` (all if None).

        Equivalent to ``Batch.from_data_list([self[i] for i in idx])`` for the fields
        models use (x, edge_index, edge_attr, batch, ptr), built without per-graph
        objects.
        """
        import torch
        from torch_geometric.data import Batch

        sub = self if idx is None else self.take(idx)
        n_nodes = np.diff(sub.x_ptr)
        n_edges = np.diff(sub.e_ptr)
        shift = np.repeat(sub.x_ptr[:-1], n_edges)
        edge_index = sub.edge_index + shift[None, :]
        batch = Batch(
            x=self._x_tensor(sub.x),
            edge_index=torch.from_numpy(np.ascontiguousarray(edge_index)).long(),
            edge_attr=self._e_tensor(sub.edge_attr),
            batch=torch.from_numpy(np.repeat(np.arange(len(sub)), n_nodes)).long(),
            ptr=torch.from_numpy(sub.x_ptr.copy()).long(),
        )
        batch._num_graphs = len(sub)
        return batch

    # ------------------------------------------------------------ persistence
    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "x": np.ascontiguousarray(self.x),
            "edge_index": np.ascontiguousarray(self.edge_index),
            "edge_attr": np.ascontiguousarray(self.edge_attr),
            "x_ptr": np.ascontiguousarray(self.x_ptr),
            "e_ptr": np.ascontiguousarray(self.e_ptr),
        }
