"""Federated segmentation, the parts that run without Flower's processes: sites made from one datalist, the
coordinator's check of what a site sends, the learning rate over rounds, and a site's round."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from .helpers import TINY_MODEL


@pytest.fixture(scope="module")
def sites(blob_dataset, tmp_path_factory):
    from theraflow import imaging
    from theraflow.imaging.federated.sites import make_sites

    datalist, _ = imaging.make_datalist(images=blob_dataset / "images", labels=blob_dataset / "labels",
                                        label_values=[0, 1, 2])
    out = tmp_path_factory.mktemp("sites")
    plan = make_sites(datalist, out, sites=[{"share": 0.6, "noise": 0.2}, {"share": 0.4, "scale": 2.0, "gamma": 0.7}],
                      split={"val_count": 2})
    return datalist, out, plan


def test_sites_split_the_training_cases_and_hold_out_the_rest(sites):
    import nibabel as nib
    import pandas as pd

    datalist, out, plan = sites
    ids = [set(s["ids"]) for s in plan["sites"]]
    held = set(pd.read_csv(out / "heldout.tsv", sep="\t")["id"])
    assert [s["cases"] for s in plan["sites"]] == [3, 1]  # unequal, every training case dealt once
    assert not ids[0] & ids[1] and ids[0] | ids[1] | held == set(datalist["id"]) and len(held) == 2
    assert not held & (ids[0] | ids[1])
    by_id = datalist.set_index("id")
    for k, site in enumerate(plan["sites"]):
        site_df = pd.read_csv(site["datalist"], sep="\t")
        assert set(site_df["id"]) == ids[k]
        for row in site_df.itertuples():
            original = np.asarray(nib.load(by_id.loc[row.id, "image"]).dataobj, dtype=np.float32)
            acquired = np.asarray(nib.load(row.image).dataobj)
            assert acquired.shape == original.shape and not np.allclose(acquired, original)  # another scanner
            assert np.array_equal(np.asarray(nib.load(row.label).dataobj),
                                  np.asarray(nib.load(by_id.loc[row.id, "label"]).dataobj))  # the same anatomy


def test_a_sites_acquisition_is_fixed_and_does_what_its_card_says():
    from theraflow.imaging.federated.sites import acquire

    x = np.random.default_rng(0).gamma(2.0, 50.0, (20, 20, 10)).astype(np.float32)
    a = acquire(x, scale=1.5, gamma=1.0, noise=0.0, seed=1)
    assert np.allclose(a - x.min(), 1.5 * (x - x.min()), rtol=1e-5)  # a gain above the minimum
    b1, b2 = (acquire(x, scale=1.0, gamma=1.0, noise=0.1, seed=7) for _ in range(2))
    assert np.array_equal(b1, b2) and 0.08 < float((b1 - x).std() / x.std()) < 0.12  # seeded noise, 10 % of std
    assert not np.array_equal(b1, acquire(x, scale=1.0, gamma=1.0, noise=0.1, seed=8))


def test_the_coordinator_refuses_a_reply_that_carries_more_than_the_networks_tensors():
    from flwr.app import ArrayRecord, ConfigRecord, MetricRecord, RecordDict

    from theraflow.imaging.federated.server import check_reply

    net = torch.nn.Sequential(torch.nn.Conv3d(1, 2, 3), torch.nn.Conv3d(2, 3, 1))
    expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    good = RecordDict({"arrays": ArrayRecord(net.state_dict()), "metrics": MetricRecord({"num-examples": 3})})
    assert check_reply(good, expected) is None
    smuggled = dict(net.state_dict(), volume=torch.zeros(32, 32, 16))
    assert "extra ['volume']" in check_reply(RecordDict({"arrays": ArrayRecord(smuggled),
                                                          "metrics": MetricRecord({"num-examples": 3})}), expected)
    reshaped = dict(net.state_dict())
    reshaped["0.bias"] = torch.zeros(7)
    assert "other shapes" in check_reply(RecordDict({"arrays": ArrayRecord(reshaped),
                                                      "metrics": MetricRecord({"num-examples": 3})}), expected)
    with_paths = RecordDict({"arrays": ArrayRecord(net.state_dict()), "metrics": MetricRecord({"num-examples": 3}),
                             "config": ConfigRecord({"image": "/site/images/case_00.nii.gz"})})
    assert "expected exactly arrays and metrics" in check_reply(with_paths, expected)


def test_a_restarted_coordinator_knows_its_plan_by_what_changes_training():
    """The digest a coordinator resumes under: kept optimizer state changes it, a plan written before the option
    (no key) and one with it off have the same."""
    from theraflow.imaging.federated.server import PLAN_DEFAULTS, _digest

    plan = {**PLAN_DEFAULTS, "model": {"labels": {"0": "background"}}}
    old = {k: v for k, v in plan.items() if k != "keep_optimizer_state"}
    assert _digest(old) == _digest(plan) != _digest({**plan, "keep_optimizer_state": True})
    assert _digest(plan) != _digest({**plan, "local_epochs": 3})


def test_the_learning_rate_follows_the_configs_schedule_over_rounds():
    from theraflow.imaging.federated.server import round_lr
    from theraflow.imaging.modelconfig import resolve

    cfg = resolve(TINY_MODEL, {"train.schedule": "cosine", "train.warmup_epochs": 0, "train.lr": 0.01})
    lrs = [round_lr(cfg, r, 5) for r in range(1, 6)]
    assert lrs[0] == pytest.approx(0.01) and all(a > b for a, b in zip(lrs, lrs[1:], strict=False))


def test_a_sites_round_trains_the_global_weights_and_resumes_the_same_round(sites, tmp_path):
    from theraflow.imaging.federated.local_training import train_round
    from theraflow.imaging.modelconfig import resolve
    from theraflow.nn.segmentation import build_seg_net

    _, _, plan = sites
    cfg = resolve(TINY_MODEL)
    torch.manual_seed(0)
    start = build_seg_net(cfg["network"], out_channels=3).state_dict()
    kw = dict(server_round=1, lr=0.01, local_epochs=2, cache_dir=tmp_path / "cache", progress=False)
    new, metrics = train_round(plan["sites"][0]["datalist"], tmp_path / "site", start, cfg, **kw)
    assert metrics["num-examples"] == 3 and metrics["epochs"] == 2 and np.isfinite(metrics["train_loss"])
    assert set(new) == set(start) and any(not torch.equal(new[k], start[k]) for k in start)
    # asked for the same round again (a site restarted before its reply went out): its checkpoint answers
    again, m2 = train_round(plan["sites"][0]["datalist"], tmp_path / "site", start, cfg, **kw)
    assert all(torch.equal(new[k], again[k]) for k in new) and m2["epochs"] == 2
    # with FedProx's term the weights stay nearer the global ones
    prox, _ = train_round(plan["sites"][0]["datalist"], tmp_path / "prox", start, cfg, proximal_mu=100.0, **kw)

    def drift(state):
        return sum(float((state[k].float() - start[k].float()).pow(2).sum()) for k in start if "weight" in k)

    assert drift(prox) < drift(new)


def test_a_site_can_keep_its_optimizer_state_across_rounds(sites, tmp_path):
    """AdamW's step count and moments go on from the site's last round when asked, and start afresh otherwise;
    the round's learning rate is the round's either way."""
    from theraflow.imaging.federated.local_training import OPTIMIZER_STATE, train_round
    from theraflow.imaging.modelconfig import resolve
    from theraflow.nn.segmentation import build_seg_net

    _, _, plan = sites
    cfg = resolve(TINY_MODEL)
    torch.manual_seed(0)
    start = build_seg_net(cfg["network"], out_channels=3).state_dict()
    datalist = plan["sites"][0]["datalist"]
    kw = dict(local_epochs=1, cache_dir=tmp_path / "cache", progress=False)

    def steps(path):
        state = torch.load(path, weights_only=True)["state"]
        return {int(v["step"]) for v in state.values()}

    w1, _ = train_round(datalist, tmp_path / "kept", start, cfg, server_round=1, lr=0.01, keep_optimizer_state=True, **kw)
    (per_round,) = steps(tmp_path / "kept" / "round_0001" / OPTIMIZER_STATE)  # one count for every parameter
    assert per_round > 0
    kept, _ = train_round(datalist, tmp_path / "kept", w1, cfg, server_round=2, lr=0.005, keep_optimizer_state=True,
                          **kw)
    assert steps(tmp_path / "kept" / "round_0002" / OPTIMIZER_STATE) == {2 * per_round}  # went on
    fresh, _ = train_round(datalist, tmp_path / "fresh", w1, cfg, server_round=2, lr=0.005, **kw)
    assert not (tmp_path / "fresh" / "round_0002" / OPTIMIZER_STATE).exists()
    assert any(not torch.equal(kept[k], fresh[k]) for k in kept)  # the carried moments changed the update


def _plan(**kw):
    from theraflow.imaging.federated.server import PLAN_DEFAULTS

    return {**PLAN_DEFAULTS, "min_sites": 4, **kw}


def test_differential_privacy_wraps_the_strategy_and_counts_every_round_released():
    """Flower's central DP around the plan's strategy, with its RDP accountant: a coordinator that continues
    after round 3 starts with those three releases counted (ε is not reset by a restart)."""
    from types import SimpleNamespace

    from flwr.serverapp.strategy import DifferentialPrivacyServerSideFixedClipping

    from theraflow.imaging.federated.server import build_strategy

    dp = {"noise_multiplier": 1.0, "clipping_norm": 1.0, "delta": 1e-5}
    fresh = build_strategy(_plan(strategy="fedprox", dp=dp), 4, SimpleNamespace(offset=0))
    assert isinstance(fresh, DifferentialPrivacyServerSideFixedClipping) and fresh.strategy.proximal_mu == 0.01
    assert fresh.privacy_spent().epsilon == 0
    resumed = build_strategy(_plan(dp=dp), 4, SimpleNamespace(offset=3))
    spent = resumed.privacy_spent()
    assert spent.num_releases == 3 and 5 < spent.epsilon < 50 and spent.delta == 1e-5
    plain = build_strategy(_plan(), 4)
    assert not hasattr(plain, "privacy_spent") or plain.privacy_spent() is None


@pytest.mark.parametrize("plan, message", [
    ({"dp": {"noise_multiplier": 1.0, "clipping_norm": 1.0}, "min_sites": 3}, "every site takes part"),
    ({"dp": {"noise_multiplier": 1.0, "clip": 1.0}}, "expected noise_multiplier, clipping_norm"),
    ({"strategy_params": {"mu": 0.1}}, "unknown strategy_params ['mu']"),
])
def test_a_plan_the_coordinator_cannot_honour_is_refused(plan, message):
    from theraflow.errors import InputError
    from theraflow.imaging.federated.server import build_strategy

    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        build_strategy(_plan(**plan), 4)
