"""The ONNX engines' work: export a model's two scoring calls, check the export, run it with ONNX Runtime.

Export happens at the first chunk a process scores, with that chunk as the example: the molecule encoder's
inputs (the graphs' atoms, bonds and batch vector, Morgan bits, vocabulary rows ...) become named inputs
with dynamic sizes, the pair head's the projected embeddings of both roles and their vocabulary rows. The
export is checked on that chunk against the model; a difference beyond ``TOLERANCE`` (relative to the
outputs' spread), a model that does not export, or a missing ``onnxruntime`` leaves the model on ``torch``
with one log line. Max pooling is exported as a scatter-max onto -inf (PyG's scatter-max onto an empty
tensor is exported wrongly by some exporters; the two are equal for a graph with an atom).
"""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn

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
from theraflow.pairs.engines.torch import TorchRunner

log = logging.getLogger(__name__)

INT8_MIN_CORR = 0.98  # int8: Pearson correlation with the model's scores on the first chunk, or torch runs
GRAPH_FIELDS = ("x", "edge_index", "edge_attr", "batch")
_DYNAMIC = {"x": {0: "atoms"}, "edge_index": {1: "bonds"}, "edge_attr": {0: "bonds"}, "batch": {0: "atoms"}}


class NotExportable(Exception):
    pass


def _flatten(inputs: dict) -> tuple[list[str], list[torch.Tensor]]:
    """The encoder's inputs as (names, tensors): a PyG batch as its four tensors."""
    names, tensors = [], []
    for key in sorted(inputs):
        v = inputs[key]
        if key == "graphs":
            for f in GRAPH_FIELDS:
                t = getattr(v, f, None)
                if t is not None:
                    names.append(f"graphs.{f}")
                    tensors.append(t)
        elif isinstance(v, torch.Tensor):
            names.append(key)
            tensors.append(v)
        else:
            raise NotExportable(f"input {key!r} is a {type(v).__name__}, not a tensor")
    if "index" not in names:
        raise NotExportable("no 'index' input (the molecules' vocabulary rows)")
    return names, tensors


def _max_pool(h: torch.Tensor, batch: torch.Tensor, size=None) -> torch.Tensor:
    n = int(batch.max()) + 1 if size is None else size
    init = torch.full((n, h.shape[1]), float("-inf"), dtype=h.dtype)
    return init.scatter_reduce(0, batch.unsqueeze(-1).expand_as(h), h, reduce="amax", include_self=True)


@contextlib.contextmanager
def _exportable_pools():
    from theraflow.nn.encoders.molecule import _graph

    before = dict(_graph.POOLS)
    _graph.POOLS["max"] = _max_pool
    try:
        yield
    finally:
        _graph.POOLS.clear()
        _graph.POOLS.update(before)


class _Embed(nn.Module):
    def __init__(self, model, kind: str, names: list[str]) -> None:
        super().__init__()
        self.model, self.kind, self.names = model, kind, names

    def forward(self, *tensors):
        inputs, graph = {}, {}
        for n, t in zip(self.names, tensors):
            if n.startswith("graphs."):
                graph[n.removeprefix("graphs.")] = t
            else:
                inputs[n] = t
        if graph:
            graph.setdefault("edge_attr", None)
            inputs["graphs"] = SimpleNamespace(**graph, num_graphs=inputs["index"].shape[0])
        return self.model.embed(self.kind, inputs)


class _Grid(nn.Module):
    def __init__(self, model) -> None:
        super().__init__()
        self.model = model

    def forward(self, pa, pb, ia, ib):
        return self.model.grid(pa, pb, ia, ib)


def _feeds(sess, names, tensors) -> dict:
    wanted = {i.name for i in sess.get_inputs()}  # constant folding may drop an input the graph does not read
    return {n: t.detach().cpu().numpy() for n, t in zip(names, tensors) if n in wanted}


class OnnxRunner:
    """A model's embed and grid through ONNX Runtime; ``torch`` where the export cannot serve."""

    def __init__(self, loaded, kind: str, model_dir, quantize: bool) -> None:
        self.loaded, self.kind, self.model_dir, self.quantize = loaded, kind, model_dir, quantize
        self.engine = "onnx_int8" if quantize else "onnx"
        self.torch = TorchRunner(loaded, kind)
        self.fallback: str | None = None
        self._embed = self._grid = None
        self._names: list[str] | None = None
        self._grid_checked = False
        self.folder: Path | None = None

    @property
    def runs(self) -> str:
        return "torch" if self.fallback else self.engine

    def _give_up(self, why: str) -> None:
        self.fallback = why
        log.warning("scoring engine %s: model %s stays on torch (%s)", self.engine, self.loaded.name, why)

    def _build(self, names, tensors, pa_example) -> None:
        """Export (or load) both graphs, checked on this chunk against the model."""
        model = self.loaded.model
        folder = engine_folder(self.model_dir, self.engine, [self.loaded.checksum, names])
        files = {"embed": folder / "embed.onnx", "grid": folder / "grid.onnx"}
        if not all(f.exists() for f in files.values()):
            from theraflow.io import atomic_dir

            dyn = {n: _DYNAMIC.get(n.removeprefix("graphs."), {0: "molecules"}) for n in names}
            with atomic_dir(folder, prefix=".export-") as tmp, _exportable_pools():
                emb = _Embed(model, self.kind, names)
                export(emb, tuple(tensors), tmp / "embed.fp32.onnx", names, ["emb"], {**dyn, "emb": {0: "molecules"}})
                pb, ib = self._partner_example(pa_example)
                export(_Grid(model), (pa_example, pb, ib[0].expand(len(pa_example)).clone(), ib),
                        tmp / "grid.fp32.onnx", ["pa", "pb", "ia", "ib"], ["out"],
                        {"pa": {0: "molecules"}, "pb": {0: "partners"}, "ia": {0: "molecules"},
                         "ib": {0: "partners"}, "out": {0: "molecules", 1: "partners"}})
                for part in ("embed", "grid"):
                    finish(tmp / f"{part}.fp32.onnx", tmp / f"{part}.onnx", self.quantize, ["MatMul", "Gemm"])
                (tmp / "export.json").write_text(json.dumps({"engine": self.engine, "model": self.loaded.name,
                                                             "weights_sha256": self.loaded.checksum,
                                                             "inputs": names, **versions()}, indent=1))
        self.folder = folder
        self._embed, self._grid = session(files["embed"]), session(files["grid"])
        self._names = names

    def _partner_example(self, pa):
        # a stand-in partner set for tracing the head: the molecules' own embeddings, unknown vocabulary rows
        # (sizes are dynamic; the check below uses the real partners)
        n = max(2, min(len(pa), 4))
        return pa[:n].clone(), torch.full((n,), -1, dtype=torch.long)

    def embed(self, inputs: dict) -> torch.Tensor:
        if self.fallback:
            return self.torch.embed(inputs)
        try:
            names, tensors = _flatten(inputs)
        except NotExportable as exc:
            self._give_up(str(exc))
            return self.torch.embed(inputs)
        if self._embed is None:
            ref = self.torch.embed(inputs)
            try:
                self._build(names, tensors, ref)
                got = torch.from_numpy(self._embed.run(None, _feeds(self._embed, names, tensors))[0])
            except Exception as exc:  # an op the exporter or the runtime cannot take: the model stays on torch
                self._give_up(failure(exc))
                return ref
            if not self.quantize and not _close(got, ref):
                self._give_up(f"the exported encoder differs from the model by {relative_gap(got, ref):.2g} "
                              "(relative)")
                return ref
            return got
        if names != self._names:
            return self.torch.embed(inputs)
        return torch.from_numpy(self._embed.run(None, _feeds(self._embed, names, tensors))[0])

    def grid(self, pa, pb, ia, ib) -> torch.Tensor:
        if self.fallback or self._grid is None:
            return self.torch.grid(pa, pb, ia, ib)
        feeds = _feeds(self._grid, ["pa", "pb", "ia", "ib"], [pa, pb, ia.long(), ib.long()])
        out = torch.from_numpy(self._grid.run(None, feeds)[0])
        if not self._grid_checked:
            self._grid_checked = True
            ref = self.torch.grid(pa, pb, ia, ib)
            if not self.quantize and not _close(out, ref):
                self._give_up(f"the exported pair head differs from the model by {relative_gap(out, ref):.2g} "
                              "(relative)")
                return ref
            if self.quantize and out.numel() > 2 and _corr(out, ref) < INT8_MIN_CORR:
                self._give_up(f"int8 scores of the first chunk correlate {_corr(out, ref):.3f} with the model's "
                              f"(< {INT8_MIN_CORR})")
                return ref
        return out


def _corr(a: torch.Tensor, b: torch.Tensor) -> float:
    x, y = a.float().reshape(-1), b.float().reshape(-1)
    x, y = x - x.mean(), y - y.mean()
    return float((x * y).sum() / (x.norm() * y.norm()).clamp_min(1e-12))


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and relative_gap(a, b) <= TOLERANCE


def prepare_onnx(loaded, kind: str, model_dir, *, quantize: bool):
    """The ONNX runner, or torch's with one log line where ONNX Runtime is not installed."""
    if not available("onnx_int8" if quantize else "onnx", "scoring with torch"):
        return TorchRunner(loaded, kind)
    return OnnxRunner(loaded, kind, model_dir, quantize)
