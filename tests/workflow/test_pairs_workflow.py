"""The pair rules (pipelines/rules/pairs.smk, one {task} wildcard) end to end on tiny data, and dry runs of the
shipped benchmark configs:

- drug–target affinity on the offline RDKit demo: dataset → chem → split → train → evaluate → table;
- a user's binary drug–target table shipped as train/valid/test files (a threshold on its pKd column), two seeds:
  the binary metrics and plots, the probability calibration of the ensemble, and a small screen whose report
  shows calibrated probabilities;
- drug–drug interaction types on the offline demo set, then scoring from the CLI, both orders;
- config/kiba.yaml (download first) and config/davis.yaml planned by a dry run.
"""

import json
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).parents[2]


def _model(workdir: Path, name: str, **training) -> None:
    """A copy of models/<name>/config.yaml in the working directory (a user's own model config wins), with a
    shorter training."""
    cfg = yaml.safe_load((REPO / "models" / name / "config.yaml").read_text())
    cfg["training"].update(training)
    (workdir / "models" / name).mkdir(parents=True)
    (workdir / "models" / name / "config.yaml").write_text(yaml.safe_dump(cfg))


@pytest.mark.slow
def test_tiny_dti_run_on_cpu(tmp_path, snakemake):
    config = {
        "dti": {
            "datasets": {"demo": {"source": "rdkit_demo"}},
            "splits": [{"kind": "random"}, {"kind": "scaffold"}],
            "models": ["dti_demo_gin_id"],
            "seeds": [0],
            "threads": 1,
            "bootstrap": 50,
            "max_minutes": 1,
        }
    }
    _model(tmp_path, "dti_demo_gin_id", max_epochs=8)
    t0 = time.perf_counter()
    snakemake(tmp_path, config)
    elapsed = time.perf_counter() - t0
    res = tmp_path / "results" / "dti" / "demo"
    info = json.loads((res / "dataset.json").read_text())
    assert info["label_kind"] == "regression" and info["pairs"] == 1041 and info["entities"]["target"] == 2
    for name in ("pairs.parquet", "molecules.csv", "classes.tsv", "folds.json", "rejects.tsv"):
        assert (res / name).exists(), name
    assert pd.read_csv(res / "molecules.csv").columns.tolist() == ["id", "smiles"]
    table = pd.read_csv(res / "metrics.tsv", sep="\t")
    assert set(table["split"]) == {"random", "scaffold"} and set(table["part"]) == {"valid", "test"}
    summary = pd.read_csv(res / "metrics.summary.tsv", sep="\t")
    assert {"ci_mean", "mse_mean", "pearson_mean", "spearman_mean"} <= set(summary.columns)
    for split in ("random", "scaffold"):
        run = res / split / "dti_demo_gin_id" / "seed0"
        meta = json.loads((run / "model.json").read_text())
        assert meta["epochs_trained"] <= 8  # the working directory's model config was used
        m = json.loads((run / "metrics.json").read_text())
        assert m["label_kind"] == "regression" and 0 <= m["parts"]["test"]["metrics"]["ci"] <= 1
        assert (run / "scatter.png").stat().st_size > 1000
        assert len(pd.read_parquet(run / "predictions.parquet")) == m["counts"]["valid"]["given"] + \
            m["counts"]["test"]["given"]
        assert (res / "splits" / f"{split}.audit.json").exists()
        assert not (run.parent / "calibration.json").exists()  # one seed: nothing to calibrate
    assert (res / "metrics.png").exists()
    print(f"tiny DTI workflow: {elapsed:.0f} s")
    assert elapsed < 120  # the issue: a tiny end-to-end run finishes on CPU in under 2 minutes


def _binary_table(workdir: Path) -> dict[str, str]:
    """The RDKit demo's pairs as a user's table: 600 of them, no drug ids (the InChIKey is the id), the user's
    own column names, pKd as the label, shipped as train/valid/test files."""
    from theraflow.pairs.sources.rdkit_demo import rdkit_demo_pairs

    pairs = rdkit_demo_pairs().sample(frac=1.0, random_state=0).head(600)
    table = pairs.rename(columns={"smiles": "Drug", "target_id": "Target", "label": "pKd"})[["Drug", "Target", "pKd"]]
    files = {}
    for part, rows in (("train", table[:420]), ("valid", table[420:510]), ("test", table[510:])):
        files[part] = str(workdir / "data" / f"kinase_{part}.csv")
        Path(files[part]).parent.mkdir(exist_ok=True)
        rows.to_csv(files[part], index=False)
    return files


@pytest.mark.slow
def test_tiny_binary_dti_run_with_calibration_and_screen(tmp_path, snakemake, nci_smi):
    lib = tmp_path / "lib.smi"
    lib.write_text("\n".join([line for line in nci_smi.read_text().splitlines() if line.strip()][:150]) + "\n")
    config = {
        "dti": {
            "datasets": {"kinase": {"source": "table", "parts": _binary_table(tmp_path),
                                    "columns": {"smiles": "Drug", "target_id": "Target", "label": "pKd"},
                                    "threshold": 6.5}},
            "splits": [{"kind": "given"}],
            "models": ["dti_demo_gin_id"],
            "seeds": [0, 1],
            "threads": 1,
            "bootstrap": 20,
            "max_minutes": 1,
        },
        "score": {"libraries": {"small": {"path": str(lib), "chunk_size": 200}},
                  "model": {"dataset": "kinase", "split": "given", "name": "dti_demo_gin_id"}, "top_k": 5},
    }
    _model(tmp_path, "dti_demo_gin_id", max_epochs=6)
    t0 = time.perf_counter()
    snakemake(tmp_path, config)
    elapsed = time.perf_counter() - t0
    res = tmp_path / "results" / "dti" / "kinase"
    info = json.loads((res / "dataset.json").read_text())
    assert info["label_kind"] == "binary" and "at or above 6.5" in info["label_kind_reason"]
    assert info["rows_given"] == 600 and info["pairs"] + info["rejected_rows"] == 600
    assert set(info["given_parts"]) == {"train", "valid", "test"} and info["ids_defaulted"]
    assert pd.read_csv(res / "classes.tsv", sep="\t")["class"].astype(str).tolist() == ["0", "1"]
    manifest = json.loads((res / "splits" / "given.manifest.json").read_text())
    assert manifest["kind"] == "given"

    summary = pd.read_csv(res / "metrics.summary.tsv", sep="\t")
    assert {"auroc_mean", "auroc_std", "auprc_mean", "auprc_std"} <= set(summary.columns)
    test = summary[summary["part"] == "test"].iloc[0]
    assert test["auroc_count"] == 2 and 0 <= test["auroc_mean"] <= 1 and 0 <= test["auprc_mean"] <= 1
    assert (res / "metrics.png").stat().st_size > 1000
    run = res / "given" / "dti_demo_gin_id"
    for seed in (0, 1):
        m = json.loads((run / f"seed{seed}" / "metrics.json").read_text())
        assert m["label_kind"] == "binary" and m["counts"]["test"]["given"] == info["given_parts"]["test"]
        assert (run / f"seed{seed}" / "roc.png").stat().st_size > 1000
    # the two seeds' probabilities calibrated on the validation part, measured on the test part
    cal = json.loads((run / "calibration.json").read_text())
    assert cal["label_kind"] == "binary" and len(cal["models"]) == 2
    assert cal["fitted_on"] == "validation part" and cal["measured_on"] == "test part"
    assert 0 <= cal["before"]["ece"] <= 1 and 0 <= cal["after"]["ece"] <= 1 and cal["test_pairs"] >= 10
    assert (run / "calibration.png").stat().st_size > 1000

    # the screen scores probabilities, and its report shows them calibrated
    out = tmp_path / "results" / "score" / "small"
    assert json.loads((out / "library.json").read_text())["shards"] == 1  # counted by the score_count checkpoint
    topk = pd.read_csv(out / "topk.tsv", sep="\t")
    assert set(topk["target_id"]) <= {"CHEMBL2321810", "MET"} and len(topk) > 0
    assert topk["score_mean"].between(0, 1).all()
    html = (out / "report.html").read_text()
    assert "the score is the probability of label 1" in html
    assert "expected calibration error went from" in html and f"{cal['after']['ece']:.3f}" in html
    print(f"tiny binary DTI workflow with a screen: {elapsed:.0f} s")


@pytest.mark.slow
def test_tiny_ddi_run_on_cpu(tmp_path, snakemake, theraflow_cmd):
    _model(tmp_path, "ddi_demo", max_epochs=6, max_minutes=1)
    config = {"ddi": {"datasets": {"tiny": {"source": "demo"}}, "splits": [{"kind": "random"}],
                      "models": ["ddi_demo"], "seeds": [0], "threads": 1, "bootstrap": 20}}
    t0 = time.perf_counter()
    snakemake(tmp_path, config)
    elapsed = time.perf_counter() - t0
    res = tmp_path / "results" / "ddi" / "tiny"
    info = json.loads((res / "dataset.json").read_text())
    assert info["pairs"] == 2400 and info["label_kind"] == "multiclass" and info["label"]["classes"] == 4
    classes = pd.read_csv(res / "classes.tsv", sep="\t", dtype=str)
    assert len(classes) == 4 and classes["description"].str.contains("#Drug1").all()  # the types and sentences
    drugs = pd.read_csv(res / "molecules.csv")
    assert drugs.columns.tolist() == ["id", "smiles"] and drugs["id"].is_unique
    run = res / "random" / "ddi_demo" / "seed0"
    metrics = json.loads((run / "metrics.json").read_text())
    test = metrics["parts"]["test"]["metrics"]
    assert {"accuracy", "macro_f1", "kappa", "micro_auprc", "macro_auprc"} <= set(test)
    assert 0 <= test["accuracy"] <= 1
    assert "one row per (pair, class)" in metrics["formulation"]
    assert (run / "confusion.png").stat().st_size > 1000
    audit = json.loads((res / "splits" / "random.audit.json").read_text())
    assert audit["groups"]["shared"]["train&test"] == 0  # no unordered pair in both train and test
    table = pd.read_csv(res / "metrics.tsv", sep="\t")
    assert set(table["part"]) == {"valid", "test"}
    print(f"tiny DDI workflow: {elapsed:.0f} s")
    assert elapsed < 120  # the issue: a tiny DDI workflow finishes on CPU in under 2 minutes

    # the trained model scores candidates against the data set's drugs, both orders, with the descriptions
    cand = tmp_path / "cand.smi"
    cand.write_text("OC(=O)c1ccccc1O aspirin_like\nNCCc1ccccc1 amine\n")
    out = tmp_path / "scores.tsv"
    proc = subprocess.run([*theraflow_cmd, "--no-progress", "ddi", "score", str(cand), "--partners",
                           str(res / "molecules.csv"), "--model", str(run), "--store",
                           str(tmp_path / "resources" / "feature_store"), "-o", str(out), "--report",
                           str(tmp_path / "ddi.html")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    scores = pd.read_csv(out, sep="\t")
    assert {"molecule", "partner", "order", "rank", "class", "score", "score_sd", "description", "ad_similarity",
            "ad_flag", "low", "high"} <= set(scores.columns)
    assert set(scores["order"]) == {"molecule → partner", "partner → molecule"}
    assert set(scores["molecule"]) == {"aspirin_like", "amine"} and scores["partner"].nunique() == len(drugs)
    assert scores["description"].str.contains("aspirin_like|amine").all()  # the description names the drugs
    assert scores["score"].between(0, 1).all()
    assert scores["score_sd"].isna().all()  # one model: no spread, not "± 0.00"
    html = (tmp_path / "ddi.html").read_text()
    assert "Best-scored pairs" in html and "no ensemble: no spread" in html


def test_kiba_config_runs_the_davis_recipe_unchanged(tmp_path, snakemake):
    """config/kiba.yaml: download rule first (the shared copy as mirror, sha256-checked), then the same models,
    splits and budget."""
    kiba = yaml.safe_load((REPO / "config" / "kiba.yaml").read_text())
    davis = yaml.safe_load((REPO / "config" / "davis.yaml").read_text())
    for key in ("splits", "models", "seeds", "max_minutes"):
        assert kiba["dti"][key] == davis["dti"][key], key
    assert kiba["dti"]["datasets"]["kiba"]["dataset"] == "kiba"
    assert kiba["pretrain"] == davis["pretrain"]
    kiba["pretrain"]["moses"]["library"] = str(tmp_path / "corpus.smi")  # the plan needs the file, not MOSES
    (tmp_path / "corpus.smi").write_text("CCO ethanol\n")
    proc = snakemake(tmp_path, kiba, "-n", "--quiet", "rules")
    out = proc.stdout + proc.stderr
    for rule in ("pair_download", "pair_dataset", "pair_split", "pretrain", "pair_train", "pair_evaluate",
                 "pair_calibrate", "pair_table"):
        assert rule in out, rule


def test_ddi_config_plans_three_splits_and_the_pretrained_variant(tmp_path, snakemake, shared_data):
    """config/ddi.yaml: random, one_unseen and both_unseen; the recipe's 3 seeds and one seed of each variant
    on each; the MOSES bundle made once, before the pretrained variant trains."""
    cfg = yaml.safe_load((REPO / "config" / "ddi.yaml").read_text())
    cfg["ddi"]["datasets"]["drugbank"]["path"] = str(shared_data / "drugbank_ddi")
    cfg["pretrain"]["moses"]["library"] = str(shared_data / "moses" / "train.csv.gz")
    assert [s["kind"] for s in cfg["ddi"]["splits"]] == ["random", "one_unseen", "both_unseen"]
    proc = snakemake(tmp_path, cfg, "-n")
    out = proc.stdout + proc.stderr
    assert out.count("rule pair_train:") == 3 * (3 + 1 + 1), out[-2000:]
    assert out.count("rule pretrain:") == 1, out[-2000:]
    assert "results/ddi/drugbank/splits/both_unseen.parquet" in out


def test_davis_config_dry_run(tmp_path, snakemake, shared_data):
    cfg = yaml.safe_load((REPO / "config" / "davis.yaml").read_text())
    cfg["dti"]["datasets"]["davis"]["path"] = str(shared_data / "davis")
    cfg["pretrain"]["moses"]["library"] = str(shared_data / "moses" / "train.csv.gz")
    proc = snakemake(tmp_path, cfg, "-n")
    out = proc.stdout + proc.stderr
    # theraflow's recipe: 3 seeds on 4 splits; the GraphDTA reference and the two variants one seed on each
    assert out.count("rule pair_train:") == 4 * 3 + 4 + 2 * 4, out[-2000:]
    # the pretrained variant's training waits for the MOSES bundle, made once
    assert out.count("rule pretrain:") == 1, out[-2000:]
    # the recipe's 3-seed ensembles are calibrated on each split; the one-seed reference is not
    assert out.count("rule pair_calibrate:") == 4, out[-2000:]
    assert "--binary-threshold 7.0" in out  # pKd >= 7 counted active for AUROC/AUPRC
