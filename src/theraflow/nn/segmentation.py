"""Segmentation networks from a small config, through the registry (MONAI UNet, SegResNet, DynUNet, ...).

A network config is ``{"name": "unet", "params": {...}}``. The name is looked up in
:data:`theraflow.registry.SEG_NETWORKS` (declared in :mod:`theraflow.nn.seg_networks`); ``params`` are
the constructor's keyword arguments, merged over the entry's declared ``defaults``, except the three
this module fills in from the task (``spatial_dims``, ``in_channels``, ``out_channels``). The size
divisor is the entry's declared ``divisor``. Architecture only: no files.
"""

from __future__ import annotations

from typing import Any

import torch

from theraflow.registry import SEG_NETWORKS

RESERVED = ("spatial_dims", "in_channels", "out_channels")


def _name(config: dict[str, Any]) -> str:
    return config.get("name", "unet")


def network_params(config: dict[str, Any]) -> dict[str, Any]:
    """The network's full parameters: its declared defaults updated with ``config["params"]``."""
    info = SEG_NETWORKS.info(_name(config))  # a ValueError naming the choices for an unknown name
    params = dict(info.get("defaults") or {})
    params.update(config.get("params") or {})
    for reserved in RESERVED:
        if reserved in params:
            raise ValueError(f"network.params.{reserved}: set from the task, not the network config")
    return params


def build_seg_net(config: dict[str, Any], *, in_channels: int = 1, out_channels: int, spatial_dims: int = 3
                  ) -> torch.nn.Module:
    """Build the network named in ``config`` (``{"name": ..., "params": {...}}``)."""
    name = _name(config)
    params = network_params(config)
    for key in SEG_NETWORKS.info(name).get("sequences", ()):
        if isinstance(params.get(key), list):
            params[key] = tuple(params[key])
    network = SEG_NETWORKS.get(name)
    try:
        return network(spatial_dims=spatial_dims, in_channels=in_channels, out_channels=out_channels, **params)
    except TypeError as exc:
        raise ValueError(f"network {name!r}: bad params ({exc})") from None


def divisor(config: dict[str, Any]) -> int:
    """Spatial sizes the network accepts are multiples of this (its declared ``divisor``: from its strides or levels)."""
    params = network_params(config)
    rule = SEG_NETWORKS.info(_name(config)).get("divisor", 1)
    try:
        return int(rule(params) if callable(rule) else rule)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"network {_name(config)!r}: cannot compute its size divisor from its params ({exc!r})"
                         ) from None


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
