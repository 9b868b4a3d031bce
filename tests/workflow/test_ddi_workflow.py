"""A tiny end-to-end DDI run: dataset → chem → split → train → evaluate → table, and scoring from the CLI."""

import json
import time
from pathlib import Path

import pandas as pd
import yaml


def test_tiny_ddi_run_on_cpu(tmp_path, snakemake, theraflow_cmd):
    import subprocess

    repo = Path(__file__).parents[2]
    cfg = yaml.safe_load((repo / "models" / "ddi_demo" / "config.yaml").read_text())
    cfg["training"].update(max_epochs=6, max_minutes=1)
    (tmp_path / "models" / "ddi_demo").mkdir(parents=True)
    (tmp_path / "models" / "ddi_demo" / "config.yaml").write_text(yaml.safe_dump(cfg))
    config = {"ddi": {"datasets": {"tiny": {"source": "demo"}}, "splits": [{"kind": "random"}],
                      "models": ["ddi_demo"], "seeds": [0], "threads": 1, "bootstrap": 20}}
    t0 = time.perf_counter()
    snakemake(tmp_path, config)
    elapsed = time.perf_counter() - t0
    res = tmp_path / "results" / "ddi" / "tiny"
    info = json.loads((res / "dataset.json").read_text())
    assert info["pairs"] == 2400 and info["types"] == 4
    run = res / "random" / "ddi_demo" / "seed0"
    metrics = json.loads((run / "metrics.json").read_text())
    test = metrics["parts"]["test"]["metrics"]
    assert {"accuracy", "macro_f1", "kappa", "micro_auprc", "macro_auprc"} <= set(test)
    assert 0 <= test["accuracy"] <= 1 and "per_type_auprc" in metrics["parts"]["test"]
    assert "one row per (ordered pair, type)" in metrics["formulation"]
    assert (run / "confusion.png").stat().st_size > 1000
    audit = json.loads((res / "splits" / "random.audit.json").read_text())
    assert audit["groups"]["shared"]["train&test"] == 0  # no unordered pair in both train and test
    table = pd.read_csv(res / "metrics.tsv", sep="\t")
    assert set(table["part"]) == {"valid", "test"}
    print(f"tiny DDI workflow: {elapsed:.0f} s")
    assert elapsed < 120  # the issue: a tiny DDI workflow finishes on CPU in under 2 minutes

    # the trained model scores a candidate against the data set's drugs, both orders, with the sentences
    cand = tmp_path / "cand.smi"
    cand.write_text("OC(=O)c1ccccc1O aspirin_like\nNCCc1ccccc1 amine\n")
    out = tmp_path / "scores.tsv"
    proc = subprocess.run([*theraflow_cmd, "--no-progress", "ddi", "score", str(cand), "--panel",
                           str(res / "drugs.csv"), "--model", str(run), "--store", str(tmp_path / "resources" /
                                                                                       "feature_store"),
                           "-o", str(out), "--report", str(tmp_path / "ddi.html")], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    scores = pd.read_csv(out, sep="\t")
    assert set(scores["order"]) == {"candidate → panel", "panel → candidate"}
    assert scores["sentence"].str.contains("aspirin_like|amine").all()  # the sentence names the drugs
    assert scores["probability_sd"].isna().all()  # one model: no spread, not "± 0.00"
    html = (tmp_path / "ddi.html").read_text()
    assert "Most probable interactions" in html and "no ensemble: no spread" in html
