"""Recipe options of the nnU-Net-style segmentation recipe, each run on a synthetic volume:
DynUNet deep supervision (a loss over every head, inference from the main head only), a wall-clock
budget whose learning-rate schedule follows the clock, and the config checks of both."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from theraflow import imaging
from theraflow.imaging.bundle import load_bundle
from theraflow.imaging.modelconfig import ConfigError, resolve
from theraflow.imaging.train import make_module
from theraflow.training.schedules import step_scheduler

from .helpers import TINY_MODEL

DEEP = copy.deepcopy(TINY_MODEL)
DEEP["network"] = {"name": "dynunet", "params": {"kernel_size": [3, 3, 3], "strides": [1, 2, 2],
                                                  "upsample_kernel_size": [2, 2], "filters": [4, 8, 16],
                                                  "deep_supervision": True, "deep_supr_num": 1}}


def test_deep_supervision_trains_on_every_head_and_infers_from_the_main_one(tiny_model, tmp_path):
    cfg = resolve(DEEP)
    module = make_module(cfg)(cfg, "k")
    image = torch.randn(2, 1, 32, 32, 16)
    label = torch.randint(0, 3, (2, 1, 32, 32, 16)).float()
    module.train()
    heads = module.net(image)
    assert heads.shape == (2, 2, 3, 32, 32, 16)  # main + one deep head, stacked on dim 1
    loss = module.deep_loss(list(torch.unbind(heads, 1)), label)
    main_only = module.loss(heads[:, 0], label)
    assert float(loss) != pytest.approx(float(main_only))  # the deep head counts
    module.batch_affine.prob = 0.0
    assert float(module.training_step({"image": image, "label": label}, 0)) == pytest.approx(float(loss), rel=1e-5)
    module.eval()
    with torch.no_grad():
        assert module.net(image).shape == (2, 3, 32, 32, 16)

    record = imaging.train(tiny_model["datalist"], tmp_path / "deep", model_config=DEEP, cache_dir=tiny_model["cache"],
                           split={"val_count": 2}, overrides={"train.max_epochs": 1}, progress_bar=False)
    assert record["network"] == "dynunet" and record["epochs"] == 1
    net, _, _ = load_bundle(tmp_path / "deep")
    preds, failed = imaging.segment(tmp_path / "deep", tiny_model["datalist"].head(2), tmp_path / "masks")
    assert failed.empty and len(preds) == 2


def test_a_budget_ends_the_schedule_on_the_clock(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr("theraflow.training.schedules.time.monotonic", lambda: clock[0])
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    # 1,000 epochs of 10 steps planned, 1 minute of budget: steps take 0.6 s, so 100 steps fill it
    sched = step_scheduler(opt, "poly", warmup=0.0, budget_minutes=1.0, total_steps=10_000, steps_per_epoch=10)
    lrs = []
    for _ in range(100):
        clock[0] += 0.6
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs[4] == pytest.approx((1 - 5 / 10_000) ** 0.9, rel=1e-3)  # before the first epoch ends: by steps
    assert lrs[49] == pytest.approx(0.5 ** 0.9, rel=0.03)  # half the budget gone: half the poly schedule
    assert lrs[-1] == pytest.approx(0.0, abs=1e-6)
    cos = step_scheduler(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0), "cosine",
                         warmup=100 / 1000, budget_minutes=1.0, total_steps=10_000, steps_per_epoch=10)
    assert cos.get_last_lr()[0] < 0.01  # warm-up: 10 % of the run, starting near 0
    assert math.isfinite(cos.get_last_lr()[0])


def test_training_stops_at_its_budget(tiny_model, tmp_path):
    record = imaging.train(tiny_model["datalist"], tmp_path / "m", model_config=TINY_MODEL,
                           cache_dir=tiny_model["cache"], split={"val_count": 2},
                           overrides={"train.max_epochs": 500, "train.max_minutes": 0.05, "train.val_every": 0},
                           progress_bar=False)
    assert 1 <= record["epochs"] < 500 and record["seconds_this_run"] < 60


@pytest.mark.parametrize("bad", [0, -1, "ten", True])
def test_a_bad_budget_names_the_key(bad):
    with pytest.raises(ConfigError, match="train.max_minutes"):
        resolve(TINY_MODEL, {"train.max_minutes": bad})
