"""``composition``: an MLP over amino-acid and dipeptide composition; parameters under ``composition:``."""

from __future__ import annotations

import torch

from theraflow.descriptors import COMPOSITION_DIM
from theraflow.nn.entity import EncoderSpec, FeatureMLP


class CompositionMLP(FeatureMLP):
    needs = {"composition": None}

    def __init__(self, **mlp) -> None:
        super().__init__(COMPOSITION_DIM, **mlp)

    def forward(self, inputs) -> torch.Tensor:
        return super().forward(inputs["composition"] if isinstance(inputs, dict) else inputs)


ENCODER = EncoderSpec(
    "composition", "composition", lambda p, dims: CompositionMLP(**p), params_key="composition",
    schema={"hidden": {"type": "integer", "minimum": 8, "description": "MLP width (default 256)."},
            "dropout": {"type": "number", "minimum": 0, "maximum": 0.9, "description": "MLP dropout (default 0.1)."}},
    description="an MLP over the sequence's amino-acid and dipeptide composition")
