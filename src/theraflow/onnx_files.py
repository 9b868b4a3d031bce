"""What the ONNX engines of pair screening and segmentation share: export, int8 quantization, the folder an
export is kept in, and an ONNX Runtime session on the CPU.

An export is kept beside the model it came from (``<model>/engines/<engine>-<key>/``, ``key`` a hash of the
weights' sha256, the engine, the inputs and the library versions), or under the temporary folder where the
model's folder is not writable; it is written into a temporary folder and renamed into place (atomic).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import tempfile
import warnings
from pathlib import Path

import torch

OPSET = 18
TOLERANCE = 1e-3  # a float32 export must give the model's outputs within this, relative to their sd

log = logging.getLogger(__name__)


def available(engine: str, falls_back_to: str) -> bool:
    """Whether onnx and ONNX Runtime import; if not, one log line saying what runs instead."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        log.warning("engine %s: %s is not installed; %s (pip install onnx onnxruntime)", engine, exc.name,
                    falls_back_to)
        return False
    return True


def relative_gap(got: torch.Tensor, ref: torch.Tensor) -> float:
    """max |got - ref| over the sd of ``ref``: how far an export is from the model it came from."""
    scale = float(ref.float().std()) if ref.numel() > 1 else 1.0
    return float((got.float() - ref.float()).abs().max()) / max(scale, 1e-6)


def versions() -> dict:
    import onnx
    import onnxruntime

    return {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__,
            "opset": OPSET}


def engine_folder(model_dir, engine: str, key_parts) -> Path:
    """``<model_dir>/engines/<engine>-<key>`` when writable, else the same name under the temporary folder."""
    key = hashlib.sha256(json.dumps([engine, key_parts, versions()], default=str).encode()).hexdigest()[:16]
    if model_dir is not None:
        folder = Path(model_dir) / "engines" / f"{engine}-{key}"
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            tempfile.NamedTemporaryFile(dir=folder.parent, prefix=".probe-").close()
            return folder
        except OSError:
            pass
    return Path(tempfile.gettempdir()) / "theraflow-engines" / f"{engine}-{key}"


def export(module: torch.nn.Module, example: tuple, path: Path, names: list[str], outputs: list[str],
           dynamic: dict) -> None:
    """``module`` (in eval mode: the exporter restores the wrapper's mode onto everything it holds) to ONNX."""
    module.eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's notes on tracing and its deprecation: not the user's
        torch.onnx.export(module, example, str(path), input_names=names, output_names=outputs,
                          dynamic_axes=dynamic, opset_version=OPSET, dynamo=False, do_constant_folding=True)


@contextlib.contextmanager
def _quiet_root_logger():
    # onnxruntime's quantizer logs a hint ("consider pre-processing") on the root logger at every call
    root = logging.getLogger()
    before = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(before)


def quantize_int8(src: Path, dst: Path, op_types: list[str] | None = None) -> None:
    """ONNX Runtime's dynamic quantization: weights of ``op_types`` (all it can) to int8."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet_root_logger():
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8,
                         **({"op_types_to_quantize": op_types} if op_types else {}))


def finish(fp32: Path, dst: Path, quantize: bool, op_types: list[str] | None = None) -> None:
    """A float32 export as its engine runs it: quantized to int8 into ``dst`` (``op_types``: all it can), or
    renamed to ``dst``."""
    if quantize:
        quantize_int8(fp32, dst, op_types)
        fp32.unlink()
    else:
        fp32.rename(dst)


def failure(exc: BaseException) -> str:
    """An export or runtime error in one line (the log's and the stats' reason for staying on torch)."""
    text = str(exc)
    return f"{type(exc).__name__}: {text.splitlines()[0][:300] if text else ''}"


def session(path: Path):
    """An ONNX Runtime session on the CPU with torch's thread count."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = max(1, torch.get_num_threads())
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    # no busy-waiting between runs: its threads would take the cores from the torch and RDKit work in between
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
