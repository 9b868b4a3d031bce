"""``onnx_int8``: ``onnx`` with the weights of the matrix products quantized to int8 (ONNX Runtime's dynamic
quantization; activations quantized on the fly)."""

from __future__ import annotations

from theraflow.pairs.engines import Engine


def prepare(loaded, kind: str, model_dir=None):
    from theraflow.pairs.engines._export import prepare_onnx  # torch, ONNX: only when a model is prepared

    return prepare_onnx(loaded, kind, model_dir, quantize=True)


ENGINE = Engine("onnx_int8", "ONNX Runtime with int8 weights in the matrix products (dynamic quantization)",
                prepare)
