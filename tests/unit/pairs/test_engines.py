"""Scoring engines: ONNX Runtime gives the PyTorch scores (float32 within tolerance; int8 close in ranking) for
a graph + Morgan model and a drug–drug model; a missing onnxruntime leaves the models on torch, with one log
line; the screen records which engine ran."""

import logging
import sys

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from theraflow.pairs.scoring import load_ensemble, score_pairs
from theraflow.pairs.screen import score_shard


@pytest.fixture(scope="module")
def molecules(nci_smi):
    lines = [line.split() for line in nci_smi.read_text().splitlines() if line.strip()][:160]
    return pd.DataFrame({"id": [f"m{i}" for i in range(len(lines))], "smiles": [x[0] for x in lines]})


def _scores(molecules, ens, store, **kw):
    s, _ = score_pairs(molecules, ens, store=store, **kw)
    return s.sort_values(["molecule", "partner", "order", "rank"]).reset_index(drop=True)


@pytest.mark.parametrize("model", ["demo_model", "ddi_demo_model"])
def test_onnx_scores_like_torch(tmp_path, molecules, model, request, ddi_demo):
    d = request.getfixturevalue(model)
    kw = {}
    if model == "ddi_demo_model":  # molecule partners: two panel drugs
        mols = pd.read_csv(ddi_demo.dir / "molecules.csv")
        kw["partners"] = mols.iloc[:2].rename(columns={"smiles": "value"})
    ref = _scores(molecules, load_ensemble([d]), tmp_path / "store", **kw)
    onnx_ens = load_ensemble([d], engine="onnx")
    got = _scores(molecules, onnx_ens, tmp_path / "store", **kw)
    used = onnx_ens.engines_used()
    assert used["engine"] == "onnx" and used["models"][0]["runs"] == "onnx", used
    # the exporter restores its wrapper's training mode onto the model: it must come back in eval mode
    assert not any(m.training for m in onnx_ens.models[0].model.modules())
    assert got[["molecule", "partner", "order", "class"]].equals(ref[["molecule", "partner", "order", "class"]])
    spread = float(ref["score"].std())
    assert np.abs(got["score"].to_numpy() - ref["score"].to_numpy()).max() <= 1e-3 * max(spread, 1e-3)
    exported = list((d / "engines").glob("onnx-*/embed.onnx"))
    assert exported and (exported[0].parent / "export.json").exists()

    q = load_ensemble([d], engine="onnx_int8")
    got8 = _scores(molecules, q, tmp_path / "store", **kw)
    assert q.engines_used()["models"][0]["runs"] == "onnx_int8"
    assert spearmanr(got8["score"], ref["score"]).statistic > 0.95


def test_a_missing_onnxruntime_falls_back_to_torch_with_one_line(tmp_path, molecules, demo_model, monkeypatch,
                                                                 caplog):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    ref = _scores(molecules, load_ensemble([demo_model]), tmp_path / "store")
    ens = load_ensemble([demo_model], engine="onnx")
    with caplog.at_level(logging.WARNING, logger="theraflow"):
        got = _scores(molecules, ens, tmp_path / "store")
    lines = [r for r in caplog.records if "onnxruntime" in r.getMessage()]
    assert len(lines) == 1 and "torch" in lines[0].getMessage()
    assert ens.engines_used()["models"][0]["runs"] == "torch"
    assert np.array_equal(got["score"].to_numpy(), ref["score"].to_numpy())


def test_a_shard_records_its_engine_and_an_unknown_engine_is_named(tmp_path, nci_smi, demo_model):
    lib = tmp_path / "lib.smi"
    lib.write_text("\n".join(nci_smi.read_text().splitlines()[:50]) + "\n")
    st = score_shard([demo_model], library=lib, chunk_size=100, store=tmp_path / "store", engine="onnx",
                     out_scores=tmp_path / "s.arrow", out_rejects=tmp_path / "r.parquet", out_stats=tmp_path / "s.json")
    assert st["engine"]["engine"] == "onnx" and st["engine"]["models"][0]["runs"] == "onnx"
    with pytest.raises(Exception, match="torch"):
        load_ensemble([demo_model], engine="tensorrt")
