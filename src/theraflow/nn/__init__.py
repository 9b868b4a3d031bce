"""Model architectures (no I/O): segmentation networks built from a config."""

from theraflow.nn.segmentation import SEG_NETWORKS, build_seg_net, count_parameters, divisor, network_params

__all__ = ["SEG_NETWORKS", "build_seg_net", "count_parameters", "divisor", "network_params"]
