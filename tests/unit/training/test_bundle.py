"""Trained-model folders on disk: a broken weights or metadata file is an error naming the file."""

from __future__ import annotations

import json

import pytest
import torch

from theraflow.errors import InputError
from theraflow.training.bundle import load_bundle, save_bundle


def _build(meta: dict) -> torch.nn.Module:
    return torch.nn.Linear(3, 2)


def test_a_saved_bundle_loads_back(tmp_path):
    model = _build({})
    save_bundle(model, {"task": "dti"}, tmp_path, "test-format")
    loaded, meta = load_bundle(tmp_path, _build, what="test")
    assert meta == {"task": "dti"}
    assert torch.equal(loaded.weight, model.weight)


@pytest.mark.parametrize("weights", [b"", b"PK\x03\x04 a zip archive, as torch.save writes", b"\x00" * 64],
                         ids=["empty", "torch-zip", "zeros"])
def test_weights_that_are_not_safetensors_name_the_file(tmp_path, weights):
    save_bundle(_build({}), {"task": "dti"}, tmp_path, "test-format")
    (tmp_path / "model.safetensors").write_bytes(weights)
    with pytest.raises(InputError, match=r"model\.safetensors: not safetensors weights"):
        load_bundle(tmp_path, _build, what="test")


def test_truncated_weights_name_the_file(tmp_path):
    save_bundle(_build({}), {"task": "dti"}, tmp_path, "test-format")
    data = (tmp_path / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=rf"{tmp_path / 'model.safetensors'}: not safetensors weights"):
        load_bundle(tmp_path, _build, what="test")


def test_a_model_json_that_is_not_json_names_the_file(tmp_path):
    save_bundle(_build({}), {"task": "dti"}, tmp_path, "test-format")
    (tmp_path / "model.json").write_text(json.dumps({"task": "dti"})[:-3])
    with pytest.raises(InputError, match=r"model\.json: not valid JSON"):
        load_bundle(tmp_path, _build, what="test")
