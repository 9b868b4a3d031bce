"""``morgan``: an MLP over Morgan bits (ECFP-like) of the molecule; parameters under ``morgan:``."""

from __future__ import annotations

import torch

from theraflow.nn.entity import EncoderSpec, FeatureMLP


class MorganMLP(FeatureMLP):
    def __init__(self, radius: int = 2, bits: int = 2048, **mlp) -> None:
        super().__init__(bits, **mlp)
        self.radius, self.bits = int(radius), int(bits)
        self.needs = {"morgan": (self.radius, self.bits)}

    def forward(self, inputs) -> torch.Tensor:
        return super().forward(inputs["morgan"] if isinstance(inputs, dict) else inputs)


ENCODER = EncoderSpec(
    "morgan", "morgan", lambda p, dims: MorganMLP(**p), params_key="morgan",
    schema={"radius": {"type": "integer", "minimum": 1, "maximum": 6, "description": "Fingerprint radius (default 2)."},
            "bits": {"type": "integer", "minimum": 64, "description": "Fingerprint bits (default 2048)."},
            "hidden": {"type": "integer", "minimum": 8, "description": "MLP width (default 256)."},
            "dropout": {"type": "number", "minimum": 0, "maximum": 0.9, "description": "MLP dropout (default 0.1)."},
            "batch_norm": {"type": "boolean", "description": "Batch norm after the first layer (default false)."},
            "input_dropout": {"type": "number", "minimum": 0, "maximum": 0.9,
                              "description": "Share of the input bits zeroed in training (default 0)."}},
    description="an MLP over the molecule's Morgan bits")
