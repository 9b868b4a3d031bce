"""Model architectures (no I/O): segmentation networks built from a config, GNN and protein encoders, heads.

The names below are imported on first use, so that importing a light submodule
(:mod:`theraflow.nn.seg_networks`, read by the CLI) does not load torch. The segmentation network
names live in :data:`theraflow.registry.SEG_NETWORKS`, re-exported here.
"""

from __future__ import annotations

from typing import Any

from theraflow.registry import SEG_NETWORKS

__all__ = ["SEG_NETWORKS", "build_seg_net", "count_parameters", "divisor", "network_params"]

_SEGMENTATION = {"build_seg_net", "count_parameters", "divisor", "network_params"}


def __getattr__(name: str) -> Any:
    if name in _SEGMENTATION:
        from theraflow.nn import segmentation

        return getattr(segmentation, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
