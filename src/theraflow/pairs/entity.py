"""Entity kinds: what a pair joins (a molecule, a protein sequence; open to more).

An entity kind (one module per kind under :mod:`theraflow.pairs.entities`, ``ENTITY = ...``) says

- what identifies an entity: its ``value`` (a molecule's standardized SMILES, a protein's sequence)
  and, when a table gives no id column, the **default id** it derives from the value (a molecule's
  standardized InChIKey, a hash of a sequence), said once in the log. An id is a label: a model's
  vocabulary of the entities it trained on lists **keys** made from the values (:meth:`EntityKind.vocab_keys`;
  ``keying``: standardized SMILES, a hash of the normalized sequence), so that the same entity under
  another name is the same entity. Only an entity given without a value is keyed by its id;
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


def normalize_sequence(value: str) -> str:
    """A sequence as it identifies an entity: upper case, no white space."""
    return "".join(value.split()).upper()


def sequence_hash(value: str) -> str:
    """``seq_`` + 16 hex digits of the SHA-256 of the normalized sequence: a protein's default id and its key
    in a model's vocabulary (the same sequence, the same key, whatever it is called)."""
    return f"seq_{hashlib.sha256(normalize_sequence(value).encode()).hexdigest()[:16]}"


def variant_key(seq_key: str, entity_id: str) -> str:
    """The vocabulary key of one of several targets a table gives the same sequence under different ids
    (kinase variants that a data set, Davis among them, lists with the wild-type sequence; domain constructs
    given the full-length one): the sequence's key and the id, so that the table's distinction is kept."""
    return f"{seq_key}:{entity_id}"


def sequence_keys(ids: list[str], values: list[str]) -> list[str]:
    """Vocabulary keys by sequence: :func:`sequence_hash` of each value; where one table gives one sequence
    under several ids (the table tells them apart: their labels may differ), :func:`variant_key` of each;
    an entity without a value keeps its id."""
    hashes = [sequence_hash(v) if v else "" for v in values]
    named: dict[str, set] = {}
    for i, h in zip(ids, hashes):
        if h:
            named.setdefault(h, set()).add(i)
    return [i if not h else variant_key(h, i) if len(named[h]) > 1 else h for i, h in zip(ids, hashes)]


def shared_sequences(ids: list[str], values: list[str]) -> dict[str, list[str]]:
    """{sequence key: the ids that share it} for sequences a table gives under more than one id."""
    named: dict[str, list[str]] = {}
    for i, v in dict(zip(ids, values)).items():
        if v:
            named.setdefault(sequence_hash(v), []).append(i)
    return {h: sorted(set(x)) for h, x in named.items() if len(set(x)) > 1}


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

    @property
    def keying(self) -> str:
        """How a model's vocabulary keys entities of this kind (recorded in a bundle's ``vocab_keys``):
        ``smiles`` (featurized molecules: their standardized SMILES), ``sequence_hash`` (a hash of the
        normalized sequence; an entity without one by its id) or ``id``."""
        if self.featurized:
            return "smiles"
        return "sequence_hash" if self.value == "sequence" else "id"

    def vocab_keys(self, ids: list[str], values: list[str], keying: str | None = None) -> list[str]:
        """Vocabulary keys of entities that are not featurized (``keying``: this kind's, or a bundle's)."""
        keying = keying or self.keying
        if keying == "sequence_hash":
            return sequence_keys(list(ids), list(values))
        if keying == "id":
            return list(ids)
        raise ValueError(f"{self.name} entities cannot be keyed by {keying!r}")

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
