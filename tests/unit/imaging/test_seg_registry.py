"""Segmentation networks come from the registry (schema enum, divisor, building), and model configs are
validated by the schema: one message naming the file and the key."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import yaml

from theraflow.imaging.modelconfig import (
    DEFAULTS,
    SCHEMA_FILE,
    ConfigError,
    load_model_config,
    resolve,
    schema,
)
from theraflow.nn.seg_networks import Halvings, StrideProduct
from theraflow.nn.segmentation import build_seg_net, count_parameters, divisor, network_params
from theraflow.registry import SEG_NETWORKS
from theraflow.schemas import load_schema

from .helpers import TINY_MODEL


def test_the_schema_lists_the_registered_networks():
    assert SEG_NETWORKS.names() == ["dynunet", "segresnet", "unet"]
    for resolved in (schema(), load_schema(SCHEMA_FILE)):
        assert resolved["properties"]["network"]["properties"]["name"]["enum"] == SEG_NETWORKS.names()


def test_every_schema_key_has_a_description_and_a_default():
    raw = yaml.safe_load(SCHEMA_FILE.read_text())
    resolved = schema()

    def walk(node, path):
        for name, sub in (node.get("properties") or {}).items():
            assert "description" in sub, f"{path}{name} has no description"
            assert "default" in sub, f"{path}{name} has no default"
            walk(sub, f"{path}{name}.")

    walk(resolved, "")
    assert raw["properties"]["network"]["properties"]["name"]["x-registry"] == "seg_networks"
    assert set(DEFAULTS) == set(raw["properties"])


def test_the_light_module_imports_no_torch():
    code = ("import sys; from theraflow.registry import SEG_NETWORKS; print(SEG_NETWORKS.names(), "
            "SEG_NETWORKS.info('unet')['divisor'], sorted(m for m in ('torch', 'monai') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['dynunet', 'segresnet', 'unet'] StrideProduct(key='strides') []", out


@pytest.mark.parametrize("config, expected", [
    ({"name": "dynunet", "params": {"kernel_size": [3] * 4, "strides": [1, 2, 2, 2], "upsample_kernel_size": [2] * 3}}, 8),
    ({"name": "dynunet", "params": {"kernel_size": [3] * 3, "strides": [1, [2, 2, 1], 2],
                                    "upsample_kernel_size": [[2, 2, 1], 2]}}, 4),
    ({"name": "unet", "params": {"channels": [4, 8, 16, 32], "strides": [2, 2, 2]}}, 8),
    ({"name": "unet"}, 16),
    ({"name": "segresnet", "params": {"blocks_down": [1, 2, 2, 4]}}, 8),
    ({"name": "segresnet", "params": {"blocks_down": [1, 2], "blocks_up": [1]}}, 2),
])
def test_the_divisor_is_the_declared_one(config, expected):
    rule = SEG_NETWORKS.info(config["name"])["divisor"]
    assert isinstance(rule, (StrideProduct, Halvings))
    assert rule(network_params(config)) == divisor(config) == expected


@pytest.fixture()
def isolated_registry(monkeypatch):
    """Entries added by a test are gone after it."""
    for attr in ("_objects", "_declared", "_info"):
        monkeypatch.setattr(SEG_NETWORKS, attr, dict(getattr(SEG_NETWORKS, attr)))
    return SEG_NETWORKS


class TinyNet(torch.nn.Module):
    """A network from outside theraflow: one convolution, declared to halve twice."""

    def __init__(self, spatial_dims, in_channels, out_channels, width=4):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Conv3d(in_channels, width, 3, padding=1),
                                        torch.nn.Conv3d(width, out_channels, 1))

    def forward(self, x):
        return self.body(x)


@pytest.mark.parametrize("how", ["register", "declare"])
def test_a_network_registered_at_run_time_builds_by_name(isolated_registry, how):
    if how == "register":
        isolated_registry.register("tiny", TinyNet, defaults={"width": 3}, divisor=4)
    else:
        isolated_registry.declare("tiny", f"{__name__}:TinyNet", defaults={"width": 3}, divisor=4)
    net = build_seg_net({"name": "tiny"}, out_channels=3)
    assert isinstance(net, TinyNet) and divisor({"name": "tiny"}) == 4
    assert net(torch.zeros(1, 1, 8, 8, 8)).shape == (1, 3, 8, 8, 8)
    assert count_parameters(net) == (27 * 3 + 3) + (3 * 3 + 3)  # width 3: the declared default
    wide = build_seg_net({"name": "tiny", "params": {"width": 5}}, out_channels=3)
    assert count_parameters(wide) == (27 * 5 + 5) + (5 * 3 + 3)
    with pytest.raises(ValueError, match="network 'tiny': bad params"):
        build_seg_net({"name": "tiny", "params": {"depth": 2}}, out_channels=3)
    # the schema's choices follow the registry at run time: a model config may name it
    assert "tiny" in schema()["properties"]["network"]["properties"]["name"]["enum"]
    resolved = resolve({**TINY_MODEL, "network": {"name": "tiny"}, "train": {"patch_size": [8, 8, 4]}})
    assert resolved["network"] == {"name": "tiny", "params": {}}
    with pytest.raises(ConfigError, match=r"train.patch_size \[8, 8, 6\] must be multiples of 4"):
        resolve({**TINY_MODEL, "network": {"name": "tiny"}, "train": {"patch_size": [8, 8, 6]}})


def test_a_divisor_rule_that_does_not_fit_the_params_is_named(isolated_registry):
    isolated_registry.register("tiny", TinyNet, defaults={"width": 3}, divisor=StrideProduct("strides"))
    with pytest.raises(ValueError, match="network 'tiny': cannot compute its size divisor"):
        divisor({"name": "tiny"})


def test_the_shipped_networks_build_as_before():
    # parameter counts of the default networks (3 classes), as the MONAI classes built by hand gave them
    counts = {n: count_parameters(build_seg_net({"name": n}, out_channels=3)) for n in SEG_NETWORKS}
    assert counts == {"dynunet": 1399779, "segresnet": 4700931, "unet": 4807482}


# ------------------------------------------------------------------------------ bad model configs
BAD = [
    ("unknown-key", "train: {max_epoch: 3}\n", "train", "unknown key(s) 'max_epoch'; expected one of"),
    ("unknown-top-level-key", "trian: {max_epochs: 3}\n", "(top level)", "unknown key(s) 'trian'"),
    ("wrong-type", "train: {max_epochs: ten}\n", "train.max_epochs", "'ten' is not of type 'integer'"),
    ("bool-for-number", "augment: {flip_prob: yes}\n", "augment.flip_prob", "True is not of type 'number'"),
    ("section-not-a-mapping", "infer: 5\n", "infer", "5 is not of type 'object'"),
    ("list-too-short", "train: {patch_size: [32, 32]}\n", "train.patch_size", "is too short"),
    ("unknown-network", "network: {name: transformer9000}\n", "network.name",
     "'transformer9000' is not one of dynunet, segresnet, unet"),
    ("unknown-network-key", "network: {name: unet, param: {}}\n", "network", "unknown key(s) 'param'"),
    ("bad-enum", "train: {schedule: step}\n", "train.schedule", "'step' is not one of cosine, poly, constant"),
    ("bad-precision", "train: {precision: fp8}\n", "train.precision", "'fp8' is not one of auto, 32"),
    ("probability-above-one", "augment: {noise_prob: 1.5}\n", "augment.noise_prob", "1.5 is greater than"),
    ("reserved-network-param", "network: {name: unet, params: {in_channels: 2}}\n", "network.params.in_channels",
     "set from the task"),
]


@pytest.mark.parametrize("text, key, problem", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_a_bad_model_config_names_the_file_and_the_key(tmp_path, text, key, problem):
    path = tmp_path / "seg.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_model_config(path)
    message = str(err.value)
    assert message.startswith(f"{path}: {key}: "), message
    assert problem in message and "\n" not in message


def test_an_override_is_validated_the_same_way(tmp_path):
    path = tmp_path / "seg.yaml"
    path.write_text(yaml.safe_dump(TINY_MODEL))
    with pytest.raises(ConfigError, match=r"seg.yaml \(override train.optimizer\): train.optimizer: "
                                          r"'adam' is not one of adamw, sgd"):
        load_model_config(path, {"train.optimizer": "adam"})
    with pytest.raises(ConfigError, match=r"\(override train.epochs\): train: unknown key\(s\) 'epochs'"):
        load_model_config(path, {"train.epochs": 2})
    with pytest.raises(ConfigError, match=r"\(override network.name\): network.name: 'vit' is not one of"):
        load_model_config(path, {"network.name": "vit"})
    cfg = load_model_config(path, {"train.max_epochs": 7, "network.params.num_res_units": 2, "labels": {0: "bg", 1: "x"}})
    assert cfg["train"]["max_epochs"] == 7
    assert cfg["network"]["params"] == {**TINY_MODEL["network"]["params"], "num_res_units": 2}  # merged key by key
    assert cfg["labels"] == {0: "bg", 1: "x"}  # labels are replaced as a whole


def test_defaults_fill_in_key_by_key():
    cfg = resolve({"train": {"max_epochs": 3, "loss": {"lambda_ce": 0.5}}, "augment": {"flip_prob": 0.1}})
    assert cfg["train"]["max_epochs"] == 3 and cfg["train"]["batch_size"] == DEFAULTS["train"]["batch_size"]
    assert cfg["train"]["loss"] == {**DEFAULTS["train"]["loss"], "lambda_ce": 0.5}
    assert cfg["augment"] == {**DEFAULTS["augment"], "flip_prob": 0.1}
    assert cfg["network"] == {"name": "unet", "params": {}}
    # whole numbers written as floats become the integers the code expects
    assert resolve({"train": {"batch_size": 2.0, "patch_size": [32.0, 32, 16]}})["train"]["batch_size"] == 2
    assert resolve({"train": {"patch_size": [32.0, 32, 16]}})["train"]["patch_size"] == [32, 32, 16]
    # a resolved config (as model.json stores it, labels keyed by strings) resolves to itself
    stored = {**resolve(TINY_MODEL), "labels": {"0": "background", "1": "a", "2": "b"}}
    assert resolve(stored) == resolve(TINY_MODEL)
