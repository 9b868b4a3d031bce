"""A segmentation network run by ONNX Runtime (float32, or int8 weights), for sliding-window inference on a CPU.

:func:`onnx_net` exports the bundle's network once (input ``[windows, channels, *roi_size]``, the number of
windows dynamic), keeps the file in the bundle's folder (``engines/<engine>-<key>/``, keyed by the weights'
sha256 and the exporter's versions; a temporary folder when that one is not writable), checks it on a random
window against the network, and returns a module that MONAI's ``sliding_window_inference`` calls like the
network. Where ``onnxruntime`` is missing, the network does not export, or the float32 export disagrees with
it, the network itself is returned, with one log line. ``benchmarks/seg_hippocampus.py`` compares the masks
(Dice) and the time with PyTorch's.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from torch import nn

from theraflow.io import sha256_file
from theraflow.onnx_files import (
    TOLERANCE,
    available,
    engine_folder,
    export,
    failure,
    finish,
    relative_gap,
    session,
    versions,
)

log = logging.getLogger(__name__)


class OrtNet(nn.Module):
    """Calls an ONNX Runtime session like the network (CPU tensors in and out)."""

    def __init__(self, session, engine: str) -> None:
        super().__init__()
        self.session = session
        self.engine = engine

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.session.run(None, {"image": x.detach().float().cpu().numpy()})[0]
        return torch.from_numpy(out)


def onnx_net(net: nn.Module, cfg: dict, bundle: str | Path, engine: str) -> nn.Module:
    """The network behind ``engine`` (``torch``: ``net`` itself); see the module docstring."""
    if engine == "torch":
        return net
    from theraflow.registry import ENGINES

    ENGINES.get(engine)  # an unknown name stops here, naming the known ones
    if not available(engine, "segmenting with torch"):
        return net
    from theraflow.imaging.modelconfig import roi_size

    quantize = engine == "onnx_int8"
    roi = roi_size(cfg)
    channels = int(cfg["network"].get("in_channels", 1))
    weights = Path(bundle) / "model.safetensors"
    folder = engine_folder(bundle, engine, [sha256_file(weights), roi, channels])
    path = folder / "net.onnx"
    example = torch.randn(2, channels, *roi)
    net = net.eval().cpu()
    try:
        if not path.exists():
            from theraflow.io import atomic_dir

            with atomic_dir(folder, prefix=".export-") as tmp:
                fp32 = tmp / "net.fp32.onnx"
                export(net, (example,), fp32, ["image"], ["logits"],
                       {"image": {0: "windows"}, "logits": {0: "windows"}})
                finish(fp32, tmp / "net.onnx", quantize)
                (tmp / "export.json").write_text(json.dumps({"engine": engine, "weights": str(weights), "roi": roi,
                                                             "channels": channels, **versions()}, indent=1))
        ort_net = OrtNet(session(path), engine)
        with torch.no_grad():
            ref, got = net(example), ort_net(example)
        gap = relative_gap(got, ref)
    except Exception as exc:  # an op the exporter or the runtime cannot take: torch segments
        log.warning("engine %s: the network stays on torch (%s)", engine, failure(exc))
        return net
    if not quantize and gap > TOLERANCE:
        log.warning("engine %s: the export differs from the network by %.2g (relative): torch segments", engine, gap)
        return net
    log.info("engine %s: %s (export checked on a random window: max gap %.2g of the logits' sd)", engine, path, gap)
    return ort_net
