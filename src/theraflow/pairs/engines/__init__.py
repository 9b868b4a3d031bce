"""Scoring engines: what runs a trained pair model when a library is screened.

A screen asks each model of the ensemble for two things: the projected embedding of a chunk of molecules
(the per-molecule encoder: graph network, Morgan MLP, id embedding, projection) and the grid of pair outputs
of those embeddings with every target's (the pair head). An engine is one module here (its ``ENGINE``, a
:class:`Engine`), registered by name in :data:`theraflow.registry.ENGINES`:

- ``torch``: the model as trained (float32 PyTorch);
- ``onnx``: both parts exported to ONNX and run by ONNX Runtime (float32);
- ``onnx_int8``: the same with the weights of the matrix products quantized to int8 (ONNX Runtime's dynamic
  quantization).

The screen records which engine scored (shard stats, the gather summary, the report's provenance). The
ONNX engines export once per model and keep the files in the model's folder (``engines/<engine>-<key>/``,
keyed by the weights' sha256 and the exporter's versions; a temporary folder when that one is not writable).
Where ONNX Runtime is missing, or a model does not export, the screen goes on with ``torch`` and says so in
one log line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # the registry lists the engines without importing torch (the CLI's light modules)
    import torch


class Runner(Protocol):
    """One model's two scoring calls (see the module docstring); ``runs`` names what runs them."""

    runs: str

    def embed(self, inputs: dict) -> torch.Tensor: ...

    def grid(self, pa: torch.Tensor, pb: torch.Tensor, ia: torch.Tensor, ib: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class Engine:
    name: str
    description: str
    prepare: object  # (LoadedModel, kind: str, model_dir: Path | None) -> Runner (its ``runs``: what runs)


def runner_for(engine: str, loaded, kind: str, model_dir=None) -> Runner:
    """A loaded model's runner: ``engine``'s, or ``torch``'s with a log line where ``engine`` cannot run it."""
    from theraflow.registry import ENGINES

    return ENGINES.get(engine).prepare(loaded, kind, model_dir)
