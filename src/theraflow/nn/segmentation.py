"""Segmentation networks from a small config: MONAI UNet, SegResNet and DynUNet.

A network config is ``{"name": "unet", "params": {...}}``; ``params`` are the MONAI
constructor's keyword arguments except the three this module fills in from the task
(``spatial_dims``, ``in_channels``, ``out_channels``). Architecture only: no files.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

SEG_NETWORKS: dict[str, str] = {
    "unet": "monai.networks.nets.UNet",
    "segresnet": "monai.networks.nets.SegResNet",
    "dynunet": "monai.networks.nets.DynUNet",
}

# Defaults per network: the tutorial-sized MONAI UNet (4.8 M parameters), SegResNet as in MONAI's
# BraTS example, a 4-level DynUNet (nnU-Net-like, full-resolution first stage).
_DEFAULTS: dict[str, dict[str, Any]] = {
    "unet": {"channels": [16, 32, 64, 128, 256], "strides": [2, 2, 2, 2], "num_res_units": 2, "norm": "instance"},
    "segresnet": {"init_filters": 16, "blocks_down": [1, 2, 2, 4], "blocks_up": [1, 1, 1], "dropout_prob": 0.0},
    "dynunet": {"kernel_size": [3, 3, 3, 3], "strides": [1, 2, 2, 2], "upsample_kernel_size": [2, 2, 2],
                "filters": [16, 32, 64, 128], "norm_name": "instance", "res_block": False},
}


def _builders() -> dict[str, Callable[..., torch.nn.Module]]:
    from monai.networks.nets import DynUNet, SegResNet, UNet

    def unet(spatial_dims, in_channels, out_channels, **p):
        return UNet(spatial_dims=spatial_dims, in_channels=in_channels, out_channels=out_channels,
                    channels=tuple(p.pop("channels")), strides=tuple(p.pop("strides")), **p)

    def segresnet(spatial_dims, in_channels, out_channels, **p):
        return SegResNet(spatial_dims=spatial_dims, in_channels=in_channels, out_channels=out_channels,
                         blocks_down=tuple(p.pop("blocks_down")), blocks_up=tuple(p.pop("blocks_up")), **p)

    def dynunet(spatial_dims, in_channels, out_channels, **p):
        return DynUNet(spatial_dims=spatial_dims, in_channels=in_channels, out_channels=out_channels, **p)

    return {"unet": unet, "segresnet": segresnet, "dynunet": dynunet}


def network_params(config: dict[str, Any]) -> dict[str, Any]:
    """The network's full parameters: the defaults for its name updated with ``config["params"]``."""
    name = config.get("name", "unet")
    if name not in SEG_NETWORKS:
        raise ValueError(f"unknown segmentation network {name!r} (expected one of {', '.join(SEG_NETWORKS)})")
    params = dict(_DEFAULTS[name])
    params.update(config.get("params") or {})
    for reserved in ("spatial_dims", "in_channels", "out_channels"):
        if reserved in params:
            raise ValueError(f"network params: {reserved!r} is set from the task, not the network config")
    return params


def build_seg_net(config: dict[str, Any], *, in_channels: int = 1, out_channels: int, spatial_dims: int = 3
                  ) -> torch.nn.Module:
    """Build the network named in ``config`` (``{"name": ..., "params": {...}}``)."""
    params = network_params(config)
    try:
        return _builders()[config.get("name", "unet")](spatial_dims, in_channels, out_channels, **params)
    except TypeError as exc:
        raise ValueError(f"network {config.get('name', 'unet')!r}: bad params ({exc})") from None


def divisor(config: dict[str, Any]) -> int:
    """Spatial sizes the network accepts are multiples of this (product of its strides)."""
    name = config.get("name", "unet")
    params = network_params(config)
    if name == "unet":
        strides = params["strides"]
    elif name == "dynunet":
        strides = params["strides"]
    else:
        strides = [2] * (len(params["blocks_down"]) - 1)
    out = 1
    for s in strides:
        out *= int(s if isinstance(s, int) else max(s))
    return out


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
