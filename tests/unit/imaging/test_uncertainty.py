"""Segmentation uncertainty: mirror-pass spread maps on the input's grid, per-case scores, QC threshold, report."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch

from theraflow import imaging
from theraflow.imaging.qc import apply_qc, fit_qc
from theraflow.io import InputError


def test_spread_maps_sit_on_each_scan_grid(tiny_model, tmp_path):
    preds, failed = imaging.segment(tiny_model["dir"], tiny_model["datalist"], tmp_path / "masks")
    assert failed.empty and preds["uncertainty"].notna().all()
    assert ((preds["uncertainty"] >= 0) & (preds["uncertainty"] <= 0.5)).all()
    for row in preds.itertuples():
        mask, spread = nib.load(row.mask), nib.load(row.uncertainty_map)
        assert spread.shape == mask.shape and np.allclose(spread.affine, mask.affine)  # LPS, anisotropic input
        arr = np.asarray(spread.dataobj)
        assert arr.dtype == np.float32 and arr.min() >= 0 and arr.max() <= 0.5 + 1e-6
    table, _ = imaging.measure(preds, tiny_model["datalist"], labels={1: "a", 2: "b"})
    assert np.allclose(table["uncertainty"], preds["uncertainty"])  # carried into the measurements
    # without mirror passes there is no spread: no map, no score
    plain, _ = imaging.segment(tiny_model["dir"], tiny_model["datalist"].head(1), tmp_path / "plain", tta=False)
    assert plain["uncertainty"].isna().all() and not (tmp_path / "plain" / "uncertainty").exists()


def test_spread_is_zero_when_the_passes_agree_and_grows_when_they_do_not():
    from theraflow.imaging.infer import predict_with_spread, uncertainty_score

    cfg = {"infer": {"tta_axes": [0], "sw_batch_size": 1, "overlap": 0.25, "mode": "constant", "roi_size": [8, 8, 8]},
           "train": {"patch_size": [8, 8, 8]}}
    image = torch.zeros(1, 8, 8, 8)

    class Ramp(torch.nn.Module):  # class 1 on the high-index half whatever the image: not mirror-equivariant
        def forward(self, x):
            ramp = torch.linspace(-10, 10, x.shape[2]).view(1, 1, -1, 1, 1).expand_as(x)
            return torch.cat([-ramp, ramp], dim=1)

    class Symmetric(torch.nn.Module):  # the same answer whatever the mirror: every pass agrees
        def forward(self, x):
            return torch.cat([torch.zeros_like(x), torch.ones_like(x)], dim=1)

    _, spread, region = predict_with_spread(Symmetric(), image, cfg, tta=True, device=torch.device("cpu"))
    assert float(spread.max()) == pytest.approx(0.0, abs=1e-6) and uncertainty_score(spread, region) == pytest.approx(0)
    _, spread, region = predict_with_spread(Ramp(), image, cfg, tta=True, device=torch.device("cpu"))
    # flipped back, the mirror pass says class 1 on the other half: the two passes disagree everywhere
    assert float(spread.min()) > 0.4 and bool(region.all())
    assert uncertainty_score(spread, region) > 0.4
    _, none, _ = predict_with_spread(Ramp(), image, cfg, tta=False, device=torch.device("cpu"))
    assert none is None


def test_qc_threshold_is_chosen_on_validation_and_catches_the_worst():
    rng = np.random.default_rng(0)
    u = rng.uniform(0.01, 0.1, 40)
    dice = 0.92 - 2.0 * u + rng.normal(0, 0.01, 40)  # higher uncertainty, lower Dice
    dice[:4] = [0.45, 0.5, 0.55, 0.6]
    u[:4] = [0.3, 0.25, 0.28, 0.22]  # the four failures are the most uncertain
    table = pd.DataFrame({"id": [f"c{i}" for i in range(40)], "dice_mean": dice, "uncertainty": u})
    qc = fit_qc(table)
    assert qc["spearman_uncertainty_dice"] < -0.5
    assert qc["poor_cases"] == 4 and qc["poor_flagged"] == 4 and qc["flagged"] <= 6
    flagged = apply_qc(table, qc["threshold"])
    assert set(flagged.loc[flagged["qc_flag"], "id"]) >= {"c0", "c1", "c2", "c3"}
    with pytest.raises(InputError, match="uncertainty"):
        fit_qc(table.drop(columns="uncertainty"))
    with pytest.raises(InputError, match="at least 5"):
        fit_qc(table.head(3))


def test_report_shows_uncertainty_qc_and_overlays(tiny_model, tmp_path):
    preds, _ = imaging.segment(tiny_model["dir"], tiny_model["datalist"], tmp_path / "masks")
    table, _ = imaging.measure(preds, tiny_model["datalist"], labels={1: "a", 2: "b"})
    rng = np.random.default_rng(1)  # six blob cases: make the validation part big enough to fit a threshold
    table = pd.concat([table] * 2, ignore_index=True)
    table["id"] = [f"c{i}" for i in range(len(table))]
    table["split"] = "val"
    table["uncertainty"] = table["uncertainty"] + rng.uniform(0, 0.01, len(table))
    ov = imaging.overlays(preds, tmp_path / "png", labels={1: "a", 2: "b"}, datalist=tiny_model["datalist"])
    assert len(ov) == len(preds)
    summary = imaging.build_report(table, tmp_path / "report.html", labels={1: "a", 2: "b"}, model=tiny_model["dir"],
                                   overlays=ov, figures_dir=tmp_path / "figs")
    html = (tmp_path / "report.html").read_text()
    assert "Uncertainty and QC" in html and "Spearman" in html and "case(s) flagged" in html
    assert (tmp_path / "figs" / "uncertainty_qc.png").stat().st_size > 5000
    assert "threshold" in summary["qc"]
