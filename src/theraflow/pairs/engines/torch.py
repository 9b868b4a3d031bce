"""``torch``: the model as trained, float32 PyTorch."""

from __future__ import annotations

from theraflow.pairs.engines import Engine


class TorchRunner:
    runs = "torch"

    def __init__(self, loaded, kind: str) -> None:
        self.model = loaded.model
        self.kind = kind

    def embed(self, inputs: dict):
        return self.model.embed(self.kind, inputs)

    def grid(self, pa, pb, ia, ib):
        return self.model.grid(pa, pb, ia, ib)


def prepare(loaded, kind: str, model_dir=None):
    return TorchRunner(loaded, kind)


ENGINE = Engine("torch", "the model as trained (float32 PyTorch)", prepare)
