"""The stages on files, as the workflow runs them: a binary drug–target table shipped as train/test files without
ids trains as a classifier (dataset → given split → train → evaluate → calibrate); an ensemble's regression
spread is calibrated; the metrics table; the CLI's calibrate and table."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from theraflow.errors import InputError
from theraflow.pairs.stages import (
    calibrate_stage,
    evaluate_stage,
    metrics_table,
    prepare_dataset,
    split_stage,
    train_stage,
)

from ...inprocess import cli
from .helpers import small_dti, write_molecules

SEQUENCES = {"CHEMBL2321810": "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQ",
             "MET": "MKAPAVLAPGILVLLFTLVQRSNGECKEALAKSEMNVNMKYQLPNFTAETPIQNVILHEHHIFLGATNYIYVLNEEDLQKVAEYKTGPVLEHPDCF"}


@pytest.fixture(scope="module")
def binary(tmp_path_factory):
    """The RDKit demo pairs as a user's binary table (pKd >= 7: 1) of SMILES, sequence and label only, shipped as
    train and test files; a training row without a label and a test molecule RDKit cannot read."""
    from theraflow.pairs.sources.rdkit_demo import rdkit_demo_pairs

    root = tmp_path_factory.mktemp("binary")
    raw = rdkit_demo_pairs()
    table = pd.DataFrame({"smiles": raw["smiles"], "sequence": raw["target_id"].map(SEQUENCES),
                          "label": (raw["label"] >= 7).astype(int).astype(str)})
    test = np.random.default_rng(0).random(len(table)) < 0.2
    train_df, test_df = table[~test].copy(), table[test].copy()
    train_df.iloc[5, 2] = ""  # line 7 of train.csv: no label
    test_df = pd.concat([test_df, pd.DataFrame([{"smiles": "C1CC", "sequence": SEQUENCES["MET"], "label": "1"}])])
    train_df.to_csv(root / "train.csv", index=False)
    test_df.to_csv(root / "test.csv", index=False)
    ds = root / "ds"
    info = prepare_dataset("dti", {"source": "table", "parts": {"train": str(root / "train.csv"),
                                                                "test": str(root / "test.csv")}}, ds)
    molecules = write_molecules(ds)
    manifest = split_stage(ds / "pairs.parquet", "given", ds / "splits", seed=0)
    model = ds / "given" / "tiny" / "seed0"
    meta = train_stage(pairs_path=ds / "pairs.parquet", split_path=ds / "splits" / "given.parquet",
                       molecules_path=molecules, store=root / "store", model_config=small_dti(max_epochs=4),
                       outdir=model, seed=0, progress=False)
    result = evaluate_stage(model_dir=model, pairs_path=ds / "pairs.parquet", split_path=ds / "splits" / "given.parquet",
                            molecules_path=molecules, store=root / "store", outdir=model, n_boot=50)
    return {"root": root, "ds": ds, "info": info, "manifest": manifest, "model": model, "meta": meta,
            "result": result, "train": train_df, "test": test_df}


def test_a_binary_table_without_ids_trains_as_a_classifier(binary):
    info, meta, model = binary["info"], binary["meta"], binary["model"]
    assert info["label_kind"] == "binary" and info["label_kind_reason"].startswith("every label is 0 or 1")
    assert set(info["ids_defaulted"]) == {"drug", "target"} and info["entities"]["target"] == 2
    pairs = pd.read_parquet(binary["ds"] / "pairs.parquet")
    assert pairs["target_id"].str.startswith("seq_").all() and pairs["drug_id"].str.len().eq(27).sum() > 1000
    assert meta["monitor"] == "val_auroc" and 0.5 < meta["best_val"] <= 1
    assert "val_auroc" in pd.read_csv(model / "history.csv")
    preds = pd.read_parquet(model / "predictions.parquet")
    assert preds["prediction"].between(0, 1).all() and set(preds["predicted"]) <= {"0", "1"}
    m = json.loads((model / "metrics.json").read_text())
    assert m["label_kind"] == "binary" and m["task"]["label"] == "binary"
    test = m["parts"]["test"]
    assert {"auroc", "auprc", "accuracy", "f1", "brier"} <= set(test["metrics"]) and "auroc" in test["ci95"]
    assert test["metrics"]["auroc"] > 0.6  # substituents of one series: learnable in a few epochs
    assert (model / "roc.png").read_bytes()[:4] == b"\x89PNG"


def test_the_given_parts_keep_the_test_file_and_carve_validation_from_train(binary):
    manifest, train, test = binary["manifest"], binary["train"], binary["test"]
    assert binary["info"]["given_parts"] == {"train": len(train) - 1, "test": len(test)}
    assert manifest["kind"] == "given" and manifest["counts"]["test"] == len(test)
    assert manifest["counts"]["train"] + manifest["counts"]["valid"] == len(train) - 1
    assert 0.05 < manifest["counts"]["valid"] / (len(train) - 1) < 0.15  # valid_frac 0.1 of the train file
    pairs = pd.read_parquet(binary["ds"] / "pairs.parquet")
    part = pd.read_parquet(binary["ds"] / "splits" / "given.parquet")
    tested = pairs.merge(part, on="pair_id").query("part == 'test'")
    assert sorted(tested["smiles"]) == sorted(test["smiles"])


def test_evaluate_counts_the_pairs_given_scored_and_rejected(binary):
    counts = binary["result"]["counts"]
    n_test = len(binary["test"])
    assert counts["test"] == {"given": n_test, "scored": n_test - 1, "rejected": 1}  # C1CC: no graph
    assert counts["valid"]["given"] == counts["valid"]["scored"] and counts["valid"]["rejected"] == 0
    assert json.loads((binary["model"] / "metrics.json").read_text())["counts"] == counts
    assert binary["result"]["parts"]["test"]["metrics"]["n"] == n_test - 1


def test_rejected_rows_carry_file_line_column_and_reason(binary):
    rejects = pd.read_csv(binary["ds"] / "rejects.tsv", sep="\t")
    assert rejects.values.tolist() == [[str(binary["root"] / "train.csv"), "line 7", "label", "empty label"]]
    assert binary["info"]["rejected_rows"] == 1 and binary["info"]["rows_given"] == len(binary["train"]) + \
        len(binary["test"])


def test_calibrate_a_classifier(binary, tmp_path):
    s = calibrate_stage([binary["model"]], tmp_path / "cal.json", tmp_path / "reliability.png")
    assert s["kind"] == "binary" and s["label_kind"] == "binary" and s["models"] == [str(binary["model"])]
    assert s["fitted_on"] == "validation part" and s["measured_on"] == "test part"
    assert 0 <= s["after"]["ece"] <= 1 and 0 <= s["before"]["ece"] <= 1
    assert json.loads((tmp_path / "cal.json").read_text())["after"] == s["after"]
    assert (tmp_path / "reliability.png").read_bytes()[:4] == b"\x89PNG"


@pytest.fixture(scope="module")
def evaluated_ensemble(tmp_path_factory, dti_demo, demo_ensemble):
    """The two-seed demo ensemble evaluated as the workflow lays runs out: <dataset>/<split>/<model>/seed<N>."""
    root = tmp_path_factory.mktemp("results") / "rdkit_demo" / "random" / "tiny"
    dirs = []
    for d in demo_ensemble:
        out = root / d.name
        out.mkdir(parents=True)
        for name in ("model.json", "model.safetensors", "train_drugs.smi"):
            shutil.copy(d / name, out)
        evaluate_stage(model_dir=out, pairs_path=dti_demo.pairs, split_path=dti_demo.split,
                       molecules_path=dti_demo.molecules, store=dti_demo.store, outdir=out, n_boot=20,
                       binary_threshold=7.0)
        dirs.append(out)
    return dirs


def test_calibrate_a_regression_ensemble(evaluated_ensemble, tmp_path):
    m = json.loads((evaluated_ensemble[0] / "metrics.json").read_text())
    assert {"ci", "mse", "pearson", "auroc"} <= set(m["parts"]["test"]["metrics"])  # AUROC of labels >= 7
    assert (evaluated_ensemble[0] / "scatter.png").exists()
    with pytest.raises(InputError, match="no ensemble: no uncertainty"):
        calibrate_stage(evaluated_ensemble[:1])
    s = calibrate_stage(evaluated_ensemble, tmp_path / "cal.json", tmp_path / "coverage.png")
    assert s["kind"] == "regression spread" and s["label_kind"] == "regression"
    assert s["models"] == [str(d) for d in evaluated_ensemble]
    assert set(s["coverage"]) >= {"0.8", "0.95"} and 0 < s["coverage"]["0.95"] <= 1
    assert s["calibration"]["pairs"] == m["counts"]["valid"]["scored"]
    assert (tmp_path / "coverage.png").read_bytes()[:4] == b"\x89PNG"
    rc, out, err = cli(["dti", "calibrate", *sum((["--model", d] for d in evaluated_ensemble), []),
                        "-o", tmp_path / "cli.json"])
    assert rc == 0, err
    assert json.loads((tmp_path / "cli.json").read_text())["coverage"] == s["coverage"] and "80 % intervals" in out


def test_calibrate_names_what_is_missing(evaluated_ensemble, binary, tmp_path):
    with pytest.raises(InputError, match="not one ensemble"):
        calibrate_stage([evaluated_ensemble[0], binary["model"]])
    d = tmp_path / "seed9"
    d.mkdir()
    shutil.copy(evaluated_ensemble[0] / "model.json", d)
    with pytest.raises(InputError, match=r"seed9/predictions.parquet: no predictions.*run the evaluate stage"):
        calibrate_stage([evaluated_ensemble[0], d])
    pd.DataFrame({"pair_id": [0], "part": ["test"], "label": [1.0], "prediction": [1.0]}).to_parquet(
        d / "predictions.parquet")
    with pytest.raises(InputError, match="predicts other pairs"):
        calibrate_stage([evaluated_ensemble[0], d])


def test_the_metrics_table(evaluated_ensemble, tmp_path):
    files = [d / "metrics.json" for d in evaluated_ensemble]
    summary = metrics_table(files, tmp_path / "metrics.tsv", tmp_path / "metrics.png")
    table = pd.read_csv(tmp_path / "metrics.tsv", sep="\t", dtype={"seed": str})
    assert sorted(zip(table["seed"], table["part"])) == [("0", "test"), ("0", "valid"), ("1", "test"), ("1", "valid")]
    assert set(table[["dataset", "split", "model"]].itertuples(index=False, name=None)) == {
        ("rdkit_demo", "random", "tiny")}
    assert {"pairs_given", "pairs_rejected", "ci_lo", "ci_hi"} <= set(table.columns)
    test = summary[summary["part"] == "test"].iloc[0]
    assert test["mse_count"] == 2
    assert test["mse_mean"] == pytest.approx(table.loc[table["part"] == "test", "mse"].mean())
    assert (tmp_path / "metrics.summary.tsv").exists() and (tmp_path / "metrics.png").exists()
    # what training the seeds cost: each run's seconds and estimated energy (its card's), summed once per run
    runs = table.drop_duplicates("seed")
    assert (runs["train_energy_wh"] >= 0).all() and (runs["train_seconds"] > 0).all()
    assert test["train_seconds_total"] == pytest.approx(runs["train_seconds"].sum())
    assert test["train_energy_wh_total"] == pytest.approx(runs["train_energy_wh"].sum())
    assert "codecarbon" in test["train_energy_method"]
    rc, out, err = cli(["dti", "table", *files, "-o", tmp_path / "cli.tsv"])
    assert rc == 0 and "rdkit_demo" in out, err
