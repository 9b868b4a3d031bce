"""The segmentation networks, declared in :data:`theraflow.registry.SEG_NETWORKS`.

This module is light on purpose (standard library and the registry only): the CLI and the model-config
schema list the names from here without importing torch or MONAI. Each entry's object is a network
constructor called as ``cls(spatial_dims=..., in_channels=..., out_channels=..., **params)``; the MONAI
class is imported the first time the network is built. What a user of an entry may read without
importing it (``SEG_NETWORKS.info(name)``):

- ``description``: one line for listings;
- ``defaults``: the parameters a config's ``network.params`` are merged over;
- ``divisor``: how the spatial sizes the network accepts must be divisible, as an ``int`` or a
  function of the merged parameters (:class:`StrideProduct`, :class:`Halvings`); 1 when absent;
- ``sequences``: parameters passed to the constructor as tuples (YAML and JSON give lists).

Another network is one more ``SEG_NETWORKS.declare(...)`` (here, or in a plugin) or a run-time
``SEG_NETWORKS.register(name, constructor, defaults=..., divisor=...)``; ``theraflow.nn.segmentation``
has no list of names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from theraflow.registry import SEG_NETWORKS


@dataclass(frozen=True)
class StrideProduct:
    """The product of the strides in ``params[key]``; a stage given per axis counts with its largest stride."""

    key: str = "strides"

    def __call__(self, params: Mapping[str, Any]) -> int:
        out = 1
        for s in params[self.key]:
            out *= int(max(s) if isinstance(s, (list, tuple)) else s)
        return out


@dataclass(frozen=True)
class Halvings:
    """``2 ** (levels - 1)``, the levels counted by ``len(params[key])``: each level after the first halves the size."""

    key: str

    def __call__(self, params: Mapping[str, Any]) -> int:
        return 2 ** max(len(params[self.key]) - 1, 0)


# The tutorial-sized MONAI UNet (4.8 M parameters).
SEG_NETWORKS.declare(
    "unet", "monai.networks.nets:UNet",
    description="MONAI UNet (residual units, strided convolutions)",
    defaults={"channels": [16, 32, 64, 128, 256], "strides": [2, 2, 2, 2], "num_res_units": 2, "norm": "instance"},
    divisor=StrideProduct("strides"),
    sequences=("channels", "strides"),
)

# SegResNet as in MONAI's BraTS example: one level per entry of blocks_down.
SEG_NETWORKS.declare(
    "segresnet", "monai.networks.nets:SegResNet",
    description="MONAI SegResNet (residual encoder, one level per blocks_down entry)",
    defaults={"init_filters": 16, "blocks_down": [1, 2, 2, 4], "blocks_up": [1, 1, 1], "dropout_prob": 0.0},
    divisor=Halvings("blocks_down"),
    sequences=("blocks_down", "blocks_up"),
)

# A 4-level DynUNet (nnU-Net-like, full-resolution first stage).
SEG_NETWORKS.declare(
    "dynunet", "monai.networks.nets:DynUNet",
    description="MONAI DynUNet (nnU-Net-like; deep supervision optional)",
    defaults={"kernel_size": [3, 3, 3, 3], "strides": [1, 2, 2, 2], "upsample_kernel_size": [2, 2, 2],
              "filters": [16, 32, 64, 128], "norm_name": "instance", "res_block": False},
    divisor=StrideProduct("strides"),
)
