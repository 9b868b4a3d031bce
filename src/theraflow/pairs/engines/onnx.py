"""``onnx``: the per-molecule encoder and the pair head exported to ONNX, run by ONNX Runtime (float32)."""

from __future__ import annotations

from theraflow.pairs.engines import Engine


def prepare(loaded, kind: str, model_dir=None):
    from theraflow.pairs.engines._export import prepare_onnx  # torch, ONNX: only when a model is prepared

    return prepare_onnx(loaded, kind, model_dir, quantize=False)


ENGINE = Engine("onnx", "ONNX Runtime, float32: the encoder and the pair head exported from the model", prepare)
