"""Entity kinds: what a pair joins (a molecule, a protein sequence; open to more).

An entity kind (one module per kind under :mod:`theraflow.pairs.entities`, ``ENTITY = ...``) says

- what identifies an entity: its ``value`` (a molecule's standardized SMILES, a protein's sequence)
  and, when a table gives no id column, the **default id** it derives from the value (a molecule's
  standardized InChIKey, a hash of a sequence), said once in the log;
- its **encoders** (a package of modules, :func:`theraflow.registry.encoders`) and the model-config key
  that configures them (``drug_encoder``, ``target_encoder``);
- the **batch inputs** its encoders read (:meth:`EntityKind.tensors`): graphs, Morgan bits, tokens,
  compositions, vocabulary rows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class EntityKind:
    name: str
    value: str  # the field kind of its value column in a pair table ("smiles", "sequence")
    encoders: str  # the package of its encoder modules
    config_key: str  # model-config key of its encoder ("drug_encoder")
    module: str  # attribute of its encoder in a pair model ("drug")
    head_key: str  # the head's projection of its embeddings ("pd")
    description: str = ""
    value_required: bool = True  # can an entity be known by its id alone?
    featurized: bool = False  # do its values go through the chemistry stages (standardize, featurize)?

    def default_ids(self, values: list[str]) -> list[str]:
        """Ids for entities a table gives no id column for (derived from the value, the same on every run)."""
        return [f"{self.name}_{hashlib.sha256(v.encode()).hexdigest()[:16]}" for v in values]

    def normalize_config(self, cfg: dict) -> dict:
        """An encoder config in today's layout (older spellings translated)."""
        return cfg

    def dims(self, table) -> dict:
        """What its encoders need to be built (besides ``vocab``, the entities trained on)."""
        return {}

    def tensors(self, table, rows: np.ndarray, needs: dict[str, Any]) -> dict:
        """The batch inputs ``needs`` names for the entities at ``rows`` of ``table``
        (a :class:`~theraflow.pairs.data.EntityTable`)."""
        import torch

        out: dict = {}
        rows = np.asarray(rows, dtype=np.int64)
        for name, param in needs.items():
            if name == "index":
                out["index"] = torch.from_numpy(np.asarray(table.vocab_index)[rows])
            else:
                out[name] = self.input(table, name, param, rows)
        return out

    def input(self, table, name: str, param: Any, rows: np.ndarray):
        raise ValueError(f"{self.name} entities have no input {name!r}")
