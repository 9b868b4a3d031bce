"""``protein``: a protein target, by its amino-acid sequence (or, for data without sequences, its id).

A table without an id column gets ``seq_`` + a hash of the sequence as each target's id; the same hash is
the target's key in a model's vocabulary (:func:`~theraflow.pairs.entity.sequence_hash`), so a target's
name never decides whether a model knows it (a target without a sequence is known by its id). Encoders read
residue tokens (``tokens``, cut at the encoder's ``max_len``), amino-acid and dipeptide composition
(``composition``) and the target's row in a model's vocabulary of training targets (``index``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from theraflow.pairs.entity import EntityKind, sequence_hash


class Protein(EntityKind):
    def default_ids(self, values: list[str]) -> list[str]:
        out = []
        for v in values:
            if not v:
                raise ValueError("a target needs an id or a sequence: a row gives neither")
            out.append(sequence_hash(v))
        return out

    def normalize_config(self, cfg: dict) -> dict:
        """The first releases set the id branch with ``id_dim`` / ``id_dropout`` at the top of
        ``target_encoder``; today they sit under ``id: {dim, dropout}`` as for molecules."""
        cfg = dict(cfg)
        legacy = {k: cfg.pop(k) for k in ("id_dim", "id_dropout") if k in cfg}
        if legacy:
            ids = dict(cfg.get("id") or {})
            if "id_dim" in legacy:
                ids.setdefault("dim", legacy["id_dim"])
            if "id_dropout" in legacy:
                ids.setdefault("dropout", legacy["id_dropout"])
            cfg["id"] = ids
        types = cfg.get("type", "").split("+")
        if "max_len" in cfg and not {"cnn", "graphdta_cnn"} & set(types):
            cfg.pop("max_len")  # read by the sequence CNNs only (the first releases always accepted it)
        return cfg

    def input(self, table, name: str, param: Any, rows: np.ndarray):
        import torch

        if name in ("tokens", "composition"):
            key = (name, param)
            if key not in table.cache:
                from theraflow.descriptors import residue_composition, tokenize

                table.cache[key] = torch.from_numpy(tokenize(table.values, param) if name == "tokens"
                                                    else residue_composition(table.values))
            return table.cache[key][torch.from_numpy(rows)]
        return super().input(table, name, param, rows)


ENTITY = Protein(
    name="protein", value="sequence", encoders="theraflow.nn.encoders.protein", config_key="target_encoder",
    module="target", head_key="pt", description="a protein target (amino-acid sequence, or an id without one)",
    value_required=False, featurized=False)
