"""Scoring through the workflow: train the demo model, screen a small library (its 3 shards merged in 2
groups before the gather), report; scores identical to the Python API; `snakemake --report` includes the
HTML report.

The library is counted by the checkpoint score_count (results/score/<lib>/library.json) before its shards
are known: the DAG never reads a library."""

import json
import zipfile

import numpy as np
import pandas as pd
import pytest


@pytest.mark.slow
def test_score_workflow_and_api_agree(tmp_path, snakemake, nci_smi, capsys):
    lines = [line for line in nci_smi.read_text().splitlines() if line.strip()][:700]
    lib = tmp_path / "lib.smi"
    lib.write_text("\n".join(lines) + "\nC1CC( broken\n")
    config = {
        "dti": {"datasets": {"demo": {"source": "rdkit_demo"}}, "splits": [{"kind": "random"}],
                "models": ["dti_demo_gin_id"], "seeds": [0, 1], "threads": 1, "bootstrap": 20, "max_minutes": 1},
        "score": {"libraries": {"small": {"path": str(lib), "chunk_size": 300, "gather_fan_in": 2}},
                  "model": {"dataset": "demo", "split": "random", "name": "dti_demo_gin_id"}, "top_k": 10},
    }
    snakemake(tmp_path, config)
    out = tmp_path / "results" / "score" / "small"
    counted = json.loads((out / "library.json").read_text())  # the score_count checkpoint
    assert counted["shards"] == 3  # 701 records in chunks of 300
    summary = json.loads((out / "summary.json").read_text())
    assert summary["shards"] == 3
    # more shards than gather_fan_in: score_merge jobs merged groups of them first (their files are temporary)
    assert summary["merge_groups"] == 2 and not list((out / "merged").glob("*.scores.arrow"))
    assert summary["records"] == 701 and summary["kept"] + summary["rejected"] == 701
    rejects = pd.read_csv(out / "rejects.tsv", sep="\t", dtype=str)
    assert "broken" in set(rejects["id"])
    html = (out / "report.html").read_text()
    assert "Top-ranked molecules" in html and html.count("<svg") >= 20
    # the two seeds' spread is calibrated on their validation part (rule pair_calibrate) and the report uses it
    run = tmp_path / "results" / "dti" / "demo" / "random" / "dti_demo_gin_id"
    cal = json.loads((run / "calibration.json").read_text())
    assert cal["label_kind"] == "regression" and cal["calibration"]["models"] == 2 and len(cal["models"]) == 2
    assert cal["test_pairs"] > 50 and (run / "calibration.png").stat().st_size > 1000
    assert "How far to trust a score: calibrated uncertainty" in html and 'alt="coverage plot"' in html
    assert f"{float(cal['coverage']['0.8']):.0%}</b>" in html and "80 % interval" in html

    # time and estimated energy per stage: in the report (the library's stages) and in `theraflow summary`
    # (every stage of the run), each total the sum of its stages and of the benchmark files
    assert "Time and energy" in html and "score/small shard" in html and "chem/score_small standardize" in html
    assert "score/small merge" in html
    assert "codecarbon" in html and "Training of the models used" in html
    from theraflow.cli.main import main

    bench = tmp_path / "results" / "logs" / "benchmarks"
    files = [pd.read_csv(f, sep="\t") for f in bench.rglob("*.tsv")]
    cpu = sum(float(f["s"].iloc[-1]) if pd.isna(pd.to_numeric(f["cpu_time"], errors="coerce").iloc[-1])
              else float(f["cpu_time"].iloc[-1]) for f in files)
    capsys.readouterr()
    assert main(["summary", str(tmp_path / "results")]) == 0
    text = capsys.readouterr().out
    block = text[text.index("theraflow run cost"):].splitlines()
    rows = [line.split() for line in block[2:] if line.startswith("  ") and len(line.split()) >= 5
            and line.split()[-4].isdigit()]
    total = next(r for r in rows if r[0] == "total")
    stages = [r for r in rows if r[0] != "total"]
    assert int(total[-4]) == len(files) == sum(int(r[-4]) for r in stages)
    assert float(total[-2]) == pytest.approx(cpu, abs=0.05 * len(stages) + 0.05)
    assert float(total[-2]) == pytest.approx(sum(float(r[-2]) for r in stages), abs=0.05 * len(stages) + 0.05)
    assert any(r[-5] == "shard" and r[-6] == "score/small" for r in stages)
    assert "codecarbon" in text and "estimate" in text

    # the same scores from the Python API
    from theraflow import pairs

    mols = pd.concat([pd.read_parquet(p) for p in sorted(
        (tmp_path / "results" / "chem" / "score_small" / "shards").glob("*.standardized.parquet"))])
    models = [run / f"seed{s}" for s in (0, 1)]
    api, _ = pairs.score_pairs(mols[["id", "smiles"]], models, store=tmp_path / "resources" / "feature_store")
    api = api.rename(columns={"molecule": "id", "partner": "target_id", "score": "score_mean", "score_sd": "score_std"})
    ranked = []
    for t in ("CHEMBL2321810", "MET"):
        r = pd.read_parquet(out / "ranked" / f"{t}.parquet")
        r["target_id"] = t
        ranked.append(r)
    wf = pd.concat(ranked).sort_values(["target_id", "id"]).reset_index(drop=True)
    api = api.sort_values(["target_id", "id"]).reset_index(drop=True)
    assert wf["id"].tolist() == api["id"].tolist()
    for col in ("score_mean", "score_std", "ad_similarity"):
        assert np.array_equal(wf[col].to_numpy(np.float32), api[col].to_numpy(np.float32)), col

    # Snakemake's own report includes the HTML report with its caption
    import shutil
    import subprocess

    rep = tmp_path / "snakemake-report.zip"
    proc = subprocess.run([shutil.which("snakemake"), "-s", str(snakemake.repo / "Snakefile"), "--directory",
                           str(tmp_path), "--configfile", str(tmp_path / "config.yaml"), "--report", str(rep)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = zipfile.ZipFile(rep).namelist()
    embedded = [n for n in names if "/data/raw/" in n]
    assert any(n.endswith("/report.html") for n in embedded) and any(n.endswith("/topk.html") for n in embedded), names

    # a two-stage screen: a first pass distilled from this screen (`theraflow score distill`), then the same
    # library again with score.first_pass: each shard passes a fifth on to the ensemble, whose scores of those
    # are the full screen's
    full = {t: pd.read_parquet(out / "ranked" / f"{t}.parquet").set_index("id") for t in ("CHEMBL2321810", "MET")}
    kept = summary["kept"]
    assert main(["score", "distill", "--screen", str(out), "-o", str(tmp_path / "first_pass"), "--max-minutes",
                 "0.5", "--max-epochs", "5", "--hidden", "32"]) == 0
    config["score"]["first_pass"] = {"model": str(tmp_path / "first_pass"), "keep": 0.2}
    snakemake(tmp_path, config)
    two = json.loads((out / "summary.json").read_text())
    fp = pd.read_parquet(out / "first_pass.parquet")
    assert two["first_pass"]["scored"] == len(fp) == kept and two["records"] == 701
    assert two["first_pass"]["passed"] == two["kept"] == int(fp["passed"].sum()) < 0.25 * kept
    passed = set(fp.loc[fp["passed"], "id"])
    for t, a in full.items():
        b = pd.read_parquet(out / "ranked" / f"{t}.parquet").set_index("id")
        assert set(b.index) == passed
        assert np.array_equal(b["score_mean"].to_numpy(), a.loc[b.index, "score_mean"].to_numpy())
    html = (out / "report.html").read_text()
    assert "Two-stage screen" in html and f"scored all {kept:,} molecules" in html and "(first pass)" in html
