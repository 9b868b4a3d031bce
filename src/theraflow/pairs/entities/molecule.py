"""``molecule``: a small molecule, identified by its standardized structure.

Values are SMILES; they go through the chemistry stages (standardize, featurize into the feature
store). A table without an id column gets each molecule's standardized InChIKey as its id. Encoders
read the molecular graph (``graphs``), Morgan bits (``morgan``, computed once per radius and size) and
the molecule's row in a model's vocabulary of training molecules (``index``).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import numpy as np

from theraflow.pairs.entity import EntityKind

log = logging.getLogger(__name__)


class Molecule(EntityKind):
    def default_ids(self, values: list[str]) -> list[str]:
        """The standardized InChIKey of each SMILES (RDKit; default standardization); a SMILES that
        does not standardize keeps a hash of its text (the chemistry stage will reject it, with its reason)."""
        import pandas as pd

        from theraflow.chem.standardize import StandardizeOptions, standardize

        unique = list(dict.fromkeys(values))
        records = pd.DataFrame({"record": np.arange(1, len(unique) + 1), "id": [str(i) for i in range(len(unique))],
                                "input": unique, "kind": "smiles"})
        kept, _ = standardize(records, StandardizeOptions(inchikey=True))
        key_of = {unique[int(i)]: k for i, k in zip(kept["id"], kept["inchikey"]) if k}
        out = {v: key_of.get(v) or f"smiles_{hashlib.sha256(v.encode()).hexdigest()[:16]}" for v in unique}
        return [out[v] for v in values]

    def dims(self, table) -> dict:
        g = table.graphs
        return {"node_dim": g.num_node_features, "edge_dim": g.num_edge_features} if g is not None else {}

    def input(self, table, name: str, param: Any, rows: np.ndarray):
        import torch

        if name == "graphs":
            if table.graphs is None:
                raise ValueError("this model reads molecular graphs; the pair data holds none")
            return table.graphs.collate(rows)
        if name == "morgan":
            from theraflow.descriptors import morgan_bits

            key = ("morgan", *param)
            if key not in table.cache:
                radius, bits = param
                table.cache[key] = torch.from_numpy(morgan_bits(table.values, radius=radius, bits=bits))
            return table.cache[key][torch.from_numpy(rows)].float()
        return super().input(table, name, param, rows)


ENTITY = Molecule(
    name="molecule", value="smiles", encoders="theraflow.nn.encoders.molecule", config_key="drug_encoder",
    module="drug", head_key="pd", description="a small molecule (SMILES; identity: its standardized structure)",
    value_required=True, featurized=True)
