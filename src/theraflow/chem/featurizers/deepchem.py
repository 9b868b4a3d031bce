"""``deepchem`` — DeepChem's ``MolGraphConvFeaturizer(use_edges=True)`` (30 node and 11 edge float
columns; parameters ``use_chirality``, ``use_partial_charge``) converted to PyG exactly as
``GraphData.to_pyg_graph`` does. DeepChem is imported on first use only.
"""

from __future__ import annotations

import numpy as np

from theraflow.chem.featurize import GraphFeaturizer
from theraflow.chem.graphs import GraphSet


class DeepChemFeaturizer(GraphFeaturizer):
    """DeepChem ``MolGraphConvFeaturizer(use_edges=True)``, converted to PyG."""

    name = "deepchem"
    version = "1"
    defaults = {"use_chirality": False, "use_partial_charge": False}

    def __init__(self, **params):
        super().__init__(**params)
        self._impl = None

    def _featurizer(self):
        if self._impl is None:
            from deepchem.feat import MolGraphConvFeaturizer  # slow import: only when used

            self._impl = MolGraphConvFeaturizer(use_edges=True, **self.params)
        return self._impl

    def featurize_mols(self, mols):
        from deepchem.feat.graph_data import GraphData

        out = self._featurizer().featurize(list(mols))
        errors: dict[int, str] = {}
        xs, eis, eas, nn, ne = [], [], [], [], []
        for i, g in enumerate(out):
            if not isinstance(g, GraphData):
                errors[i] = "deepchem MolGraphConvFeaturizer could not featurize the molecule"
                continue
            xs.append(np.asarray(g.node_features, dtype=np.float32))
            eis.append(np.asarray(g.edge_index, dtype=np.int32).reshape(2, -1))
            eas.append(np.asarray(g.edge_features, dtype=np.float32).reshape(eis[-1].shape[1], -1))
            nn.append(len(xs[-1]))
            ne.append(eis[-1].shape[1])
        if not xs:
            return GraphSet.empty(30, 11, np.float32, np.float32), errors
        x_ptr = np.zeros(len(nn) + 1, dtype=np.int64)
        np.cumsum(nn, out=x_ptr[1:])
        e_ptr = np.zeros(len(ne) + 1, dtype=np.int64)
        np.cumsum(ne, out=e_ptr[1:])
        graphs = GraphSet(
            x=np.concatenate(xs), edge_index=np.concatenate(eis, axis=1),
            edge_attr=np.concatenate(eas), x_ptr=x_ptr, e_ptr=e_ptr,
            x_dtype="float32", edge_attr_dtype="float32",
        )
        return graphs, errors


FEATURIZER = DeepChemFeaturizer
