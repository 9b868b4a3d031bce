"""A third pair task registered from one file under tests/ (tests/plugins/similarity_task.py), with no edit
under src/ or pipelines/: it runs through the CLI (every stage) and through a tiny workflow.

The task: the Tanimoto similarity of two NCI molecules (RDKit's sample) as regression, pairs without an
order. The checks: the plugin's name reaches the CLI's choices and the config schema, the stages run, the
model learns something (test MSE below the constant's, the label variance) and its head has no order
(a pair and its mirror score the same).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PLUGIN = REPO / "tests" / "plugins" / "similarity_task.py"
sys.path.insert(0, str(PLUGIN.parent))
import similarity_task  # noqa: E402  (the plugin itself: its table maker and model config)


def tf(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run(["theraflow", "--no-progress", "--plugin", str(PLUGIN), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"theraflow {' '.join(args)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("similarity")
    similarity_task.similarity_table(d / "pairs.csv")
    (d / "models" / "similarity_morgan").mkdir(parents=True)
    (d / "models" / "similarity_morgan" / "config.yaml").write_text(yaml.safe_dump(similarity_task.MODEL_CONFIG))
    return d


def test_the_plugin_task_reaches_the_cli_and_the_schema(work):
    names = json.loads(tf("registry", "--json", cwd=work).stdout)
    assert "similarity" in names["tasks"] and {"dti", "ddi"} <= set(names["tasks"])
    help_text = tf("similarity", "dataset", "--help", cwd=work).stdout
    assert "--source" in help_text and "smiles1" in help_text
    from theraflow.registry import load_plugins
    from theraflow.schemas import load_schema

    load_plugins([str(PLUGIN)])
    schema = load_schema(REPO / "pipelines" / "schemas" / "config.schema.yaml")
    assert "similarity" in schema["properties"]
    assert "datasets" in schema["properties"]["similarity"]["properties"]


@pytest.mark.slow
def test_every_stage_through_the_cli(work):
    d = work / "cli"
    tf("similarity", "dataset", "--path", str(work / "pairs.csv"), "--outdir", str(d), cwd=work)
    info = json.loads((d / "dataset.json").read_text())
    assert info["label_kind"] == "regression" and "numbers" in info["label_kind_reason"]
    assert info["pairs"] == 900 and info["rejected_rows"] == 0
    # the chemistry stages the workflow runs, by hand: standardize, featurize, gather
    chem = d / "chem"
    tf("standardize", str(d / "molecules.csv"), "--format", "csv", "--id-column", "id", "-o",
       str(chem / "std.parquet"), "--rejects", str(chem / "std-rejects.parquet"), "--stats", str(chem / "std.json"),
       cwd=work)
    tf("featurize", str(chem / "std.parquet"), "-o", str(chem / "features.parquet"), "--rejects",
       str(chem / "feat-rejects.parquet"), "--store", str(work / "store"), "--stats", str(chem / "feat.json"), cwd=work)
    tf("gather", "--standardized", str(chem / "std.parquet"), "--features", str(chem / "features.parquet"),
       "--rejects", str(chem / "std-rejects.parquet"), str(chem / "feat-rejects.parquet"), "--stats",
       str(chem / "std.json"), str(chem / "feat.json"), "--molecules", str(chem / "molecules.parquet"),
       "--rejects-out", str(chem / "rejects.tsv"), "--summary", str(chem / "summary.json"), cwd=work)
    tf("similarity", "split", "--pairs", str(d / "pairs.parquet"), "--kind", "random", "--outdir", str(d / "splits"),
       cwd=work)
    run = d / "model" / "seed0"
    common = ["--pairs", str(d / "pairs.parquet"), "--split", str(d / "splits" / "random.parquet"), "--molecules",
              str(chem / "molecules.parquet"), "--store", str(work / "store")]
    tf("similarity", "train", *common, "--model-config", str(work / "models" / "similarity_morgan" / "config.yaml"),
       "--outdir", str(run), "--max-epochs", "25", "--threads", "1", cwd=work)
    tf("similarity", "evaluate", "--model", str(run), *common, "--outdir", str(run), "--bootstrap", "20", cwd=work)
    m = json.loads((run / "metrics.json").read_text())
    test = m["parts"]["test"]["metrics"]
    labels = pd.read_parquet(d / "pairs.parquet")["label"]
    assert test["mse"] < float(labels.var()), (test, float(labels.var()))  # learned more than the mean
    assert (run / "scatter.png").exists()

    # no order: a pair and its mirror score the same
    from theraflow.pairs.data import Molecules, build_pair_data
    from theraflow.pairs.train import load_model, predict

    model, meta, spec = load_model(run)
    pairs = pd.read_parquet(d / "pairs.parquet").head(50)
    mirror = pairs.rename(columns={"mol1": "mol2", "smiles1": "smiles2", "mol2": "mol1", "smiles2": "smiles1"})
    mols = Molecules.from_table(chem / "molecules.parquet", work / "store", meta["featurizer"])
    a = predict(model, build_pair_data(spec, pairs, mols, vocab=meta["vocab"]))
    b = predict(model, build_pair_data(spec, mirror, mols, vocab=meta["vocab"]))
    assert abs(a - b).max() < 1e-5

    scores = work / "scores.tsv"
    (work / "query.smi").write_text("c1ccccc1O phenol\nCCOC(=O)c1ccccc1 ethylbenzoate\n")
    tf("similarity", "score", str(work / "query.smi"), "--model", str(run), "--store", str(work / "store"), "-o",
       str(scores), cwd=work)
    s = pd.read_csv(scores, sep="\t")
    assert set(s["molecule"]) == {"phenol", "ethylbenzoate"} and s["partner"].nunique() > 10


@pytest.mark.slow
def test_a_tiny_workflow_of_the_plugin_task(work, snakemake_cmd):
    config = {
        "plugins": [str(PLUGIN)],
        "similarity": {"datasets": {"nci_sim": {"source": "table", "path": str(work / "pairs.csv")}},
                       "splits": [{"kind": "random"}, {"kind": "one_unseen"}], "seeds": [0], "threads": 1,
                       "bootstrap": 20, "max_minutes": 1},
    }
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    snakemake_cmd(work, "--configfile", str(work / "config.yaml"))
    res = work / "results" / "similarity" / "nci_sim"
    table = pd.read_csv(res / "metrics.summary.tsv", sep="\t")
    assert set(table["split"]) == {"random", "one_unseen"}
    assert {"ci_mean", "mse_mean"} <= set(table.columns)
    assert (res / "metrics.png").exists()
    meta = json.loads((res / "random" / "similarity_morgan" / "seed0" / "model.json").read_text())
    assert meta["task"]["task"] == "similarity"


@pytest.fixture()
def snakemake_cmd():
    def run(workdir: Path, *args: str):
        cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
               "--cores", "2", "--profile", str(REPO / "profiles" / "default"), *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, f"snakemake failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        return proc

    return run
