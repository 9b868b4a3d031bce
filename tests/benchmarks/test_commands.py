"""The README's benchmark commands work from a fresh shell: no activated venv, PATH without its bin/.

Each `.venv/bin/python benchmarks/X.py ...` line of the README runs its `--help` with this
interpreter and a PATH that lacks this environment's bin directory; the Davis benchmark, which
drives the workflow, also runs a tiny configuration end to end (a relative --config included)
and must write its JSON.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = str(Path(sys.executable).parent)


def bare_env() -> dict[str, str]:
    """This process's environment without the venv: PATH minus its bin/, no VIRTUAL_ENV."""
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and os.path.abspath(p) != BIN]
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = os.pathsep.join(path or ["/usr/bin", "/bin"])
    env["PYTHONUNBUFFERED"] = "1"
    return env


def readme_benchmark_scripts() -> list[str]:
    text = (REPO / "README.md").read_text()
    return sorted(set(re.findall(r"^\.venv/bin/python (benchmarks/\w+\.py)", text, flags=re.M)))


def test_the_readme_lists_the_benchmarks():
    scripts = readme_benchmark_scripts()
    assert "benchmarks/dti_davis.py" in scripts and len(scripts) >= 4, scripts
    assert all((REPO / s).is_file() for s in scripts), scripts


@pytest.mark.parametrize("script", readme_benchmark_scripts())
def test_help_runs_without_the_venv_on_path(script):
    assert shutil_which_free("snakemake", bare_env()), "the test environment still finds this venv's snakemake"
    proc = subprocess.run([sys.executable, script, "--help"], cwd=REPO, env=bare_env(), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "usage:" in proc.stdout


def shutil_which_free(name: str, env: dict[str, str]) -> bool:
    """True when ``name`` is not found in this venv through env's PATH."""
    import shutil

    found = shutil.which(name, path=env["PATH"])
    return found is None or os.path.dirname(os.path.abspath(found)) != BIN


def _tiny_deepdta(root: Path) -> Path:
    """A DeepDTA-format directory: 8 drugs x 5 kinase-like sequences, Kd in nM, setting-1 fold files."""
    rng = np.random.default_rng(0)
    smiles = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "CCN(CC)CC", "O=C(O)c1ccccc1", "c1ccc2[nH]ccc2c1",
              "CC(C)Cc1ccc(C(C)C(=O)O)cc1", "COc1ccc2[nH]cc(CCN)c2c1"]
    seqs = ["MKTAYIAKQRQISFVKSHFSRQ", "MSEQNNTEMTFQIQRIYTKDISFEAPNAPHVFQKDW", "MGSSHHHHHHSSGLVPRGSH",
            "MALWMRLLPLLALLALWGPDPAAA", "MTEYKLVVVGAGGVGKSALTIQLIQ"]
    root.mkdir(parents=True)
    (root / "ligands_can.txt").write_text(json.dumps({f"L{i}": s for i, s in enumerate(smiles)}))
    (root / "proteins.txt").write_text(json.dumps({f"P{j}": s for j, s in enumerate(seqs)}))
    kd = 10 ** rng.uniform(0, 4, size=(len(smiles), len(seqs)))
    (root / "Y").write_bytes(pickle.dumps(kd, protocol=2))
    order = rng.permutation(kd.size).tolist()
    (root / "folds").mkdir()
    (root / "folds" / "train_fold_setting1.txt").write_text(json.dumps([order[8:24], order[24:]]))
    (root / "folds" / "test_fold_setting1.txt").write_text(json.dumps(order[:8]))
    return root


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_davis_benchmark_runs_a_tiny_config_from_a_fresh_shell(tmp_path):
    data = _tiny_deepdta(tmp_path / "data" / "tiny")
    (tmp_path / "config").mkdir()
    cfg = yaml.safe_load((REPO / "config" / "davis.yaml").read_text())
    cfg["dti"].update(splits=[{"kind": "setting1", "valid_frac": 0.2}], seeds=[0], max_minutes=0.05, bootstrap=20)
    (tmp_path / "config" / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    # a finished bundle where benchmarks/pretrain.py keeps them: the workflow uses it instead of pretraining
    from rdkit import RDConfig

    from theraflow.pretrain import pretrain

    corpus = tmp_path / "corpus.smi"
    corpus.write_text("".join((Path(RDConfig.RDDataDir) / "NCI" / "first_5K.smi").read_text().splitlines(True)[:200]))
    pretrain(corpus, tmp_path / "bundles" / "moses", store=tmp_path / "store", max_minutes=0.05, max_epochs=2,
             progress=False)
    out = tmp_path / "out" / "dti_davis.json"
    cmd = [sys.executable, str(REPO / "benchmarks" / "dti_davis.py"), "--config", "config/tiny.yaml",  # relative
           "--data", str(data), "--workdir", str(tmp_path / "work"), "--store", str(tmp_path / "store"),
           "--out", str(out), "--cores", "1", "--pretrained-root", str(tmp_path / "bundles"),
           "--models", "theraflow", "theraflow_pretrained", "fingerprint", "constant"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=bare_env(), capture_output=True, text=True, timeout=540)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    def no_nan(token):
        raise AssertionError(f"{out} holds {token}: not strict JSON")

    report = json.loads(out.read_text(), parse_constant=no_nan)  # the constant's Pearson is null, not NaN
    assert report["config"] == str(tmp_path / "config" / "tiny.yaml")
    rows = {r["model"]: r for r in report["side_by_side"]}
    assert set(rows) == {"theraflow", "theraflow_pretrained", "fingerprint", "constant"}
    for r in rows.values():
        assert r["split"] == "setting1" and 0.0 <= r["ci"]["mean"] <= 1.0 and r["commit"] and r["date"]
        assert r["constant_mse"] == rows["constant"]["mse"]["mean"]
    assert report["splits"]["setting1/dti_hybrid"]["seeds"] == [0]
    assert out.with_suffix(".png").stat().st_size > 1000  # the learning curves
    # the bundle was copied in, not made again; the pretrained run started from it
    assert report["pretrained"]["moses"]["from"] == str(tmp_path / "bundles" / "moses")
    assert not (tmp_path / "work" / "logs" / "pretrain").exists()
    trained = json.loads((tmp_path / "work" / "results" / "dti" / "davis" / "setting1" / "dti_hybrid_pretrained" /
                          "seed0" / "model.json").read_text())
    assert "results/pretrain/moses" in json.dumps(trained)
    # the recipe shipped for the split is chosen on validation CI among theraflow's variants only
    sel = report["selected"]["setting1"]
    valid = {m: rows[m]["valid"]["ci"]["mean"] for m in ("theraflow", "theraflow_pretrained")}
    assert sel["model"] == max(valid, key=valid.get) and sel["candidates"] == {m: round(v, 4) for m, v in valid.items()}
    lead = report["leads"]["setting1"]
    assert lead["model"] == sel["model"] and set(lead["references_ci"]) == {"fingerprint"}
    assert lead["leads_on_ci"] == (rows[sel["model"]]["ci"]["mean"] > rows["fingerprint"]["ci"]["mean"])
    assert lead["references_missing"] == ["graphdta_gin"]
    # benchmarks/pretrain.py reads the effect of pretraining from the report beside its --out
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "pretrain.py"), "--effect-only", "--out",
                           str(out.parent / "pretrain.json")], cwd=tmp_path, env=bare_env(), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    effect = {(e["task"], e["split"], e["metric"]): e for e in json.loads((out.parent / "pretrain.json").read_text())["effect"]}
    ci = effect[("dti_davis", "setting1", "ci")]
    assert (ci["without"], ci["with"]) == (round(rows["theraflow"]["ci"]["mean"], 4),
                                           round(rows["theraflow_pretrained"]["ci"]["mean"], 4))
    assert ci["helps_on_validation"] == (valid["theraflow_pretrained"] > valid["theraflow"])


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_pair_table_benchmark_on_a_users_binary_table(tmp_path):
    """benchmarks/pair_table.py on a user's binary table shipped as train/valid/test files (its own column
    names, no drug ids, one unreadable test row): the JSON of the issue, every given test row scored or
    counted as rejected with its reason, the three models side by side."""
    from theraflow.pairs.sources.rdkit_demo import rdkit_demo_pairs

    pairs = rdkit_demo_pairs().sample(frac=1.0, random_state=0).reset_index(drop=True)
    table = pairs.rename(columns={"smiles": "SMILES", "target_id": "Target"})[["SMILES", "Target"]]
    table["Y"] = (pairs["label"] >= 6.5).astype(int)
    parts = {"train": table.iloc[:700], "valid": table.iloc[700:850], "test": table.iloc[850:]}
    for name, df in parts.items():
        df.to_csv(tmp_path / f"{name}.csv", index=False)
    with open(tmp_path / "test.csv", "a") as fh:
        fh.write(",MET,1\n")  # a test row without a SMILES
    out = tmp_path / "pair_table.json"
    cmd = [sys.executable, str(REPO / "benchmarks" / "pair_table.py"), "--task", "dti",
           *(x for p in ("train", "valid", "test") for x in (f"--{p}", str(tmp_path / f"{p}.csv"))),
           "--columns", "smiles=SMILES,target_id=Target,label=Y", "--minutes", "0.1", "--bootstrap", "10",
           "--workdir", str(tmp_path / "work"), "--store", str(tmp_path / "store"), "--out", str(out), "--cores", "1"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=bare_env(), capture_output=True, text=True, timeout=540)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["task"] == "dti" and report["label_kind"] == "binary"
    given, scored, rejected = (report[k]["given"]["test"] for k in ("n_given", "n_scored", "n_rejected"))
    assert given == len(parts["test"]) + 1 and rejected >= 1 and scored + rejected == given
    assert any("empty SMILES" in reason for reason in report["rejected_reasons"]["given"]["test"])
    rows = {r["model"]: r for r in report["side_by_side"]}
    assert set(rows) == {"theraflow", "fingerprint", "entity_frequency", "constant"}
    for r in rows.values():
        assert r["split"] == "given" and 0.0 <= r["auroc"] <= 1.0 and 0.0 <= r["auprc"] <= 1.0
        assert 0.0 <= r["accuracy"] <= 1.0 and r["commit"] and r["date"]
    assert rows["constant"]["auroc"] == 0.5
    # the shortcut audit: the entity-frequency row beside theraflow's, its flag per split and on every row
    shortcut = report["shortcut"]["given"]
    assert shortcut["metric"] == "auroc" and shortcut["entity_frequency"] == rows["entity_frequency"]["auroc"]
    assert shortcut["model"] == "theraflow" and shortcut["model_value"] == rows["theraflow"]["auroc"]
    flag = shortcut["entity_frequency"] >= min(0.95, shortcut["model_value"] - 0.02)
    assert shortcut["flag"] is flag and all(r["shortcut_flag"] is flag for r in rows.values())
    assert "A rule that only counts how often each drug and target carried a positive label" in shortcut["sentence"]


@pytest.mark.parametrize("script", ["dti_davis.py", "ddi_drugbank.py"])
@pytest.mark.parametrize("content, why", [(b"", "the file is empty"), (b'{"side_by_side": [', "not valid JSON"),
                                          (b"[1, 2]", "not a benchmark report")])
def test_a_bad_out_file_stops_the_benchmark_before_any_work(tmp_path, script, content, why):
    """--out holds the rows of earlier runs, which this run's rows are merged into: a file there that is not
    such a report is named at once, before the workflow runs (not after hours of training)."""
    out = tmp_path / "report.json"
    out.write_bytes(content)
    work = tmp_path / "work"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / script), "--out", str(out), "--workdir", str(work),
                           "--store", str(tmp_path / "store")], cwd=tmp_path, env=bare_env(), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert f"--out {out}: " in proc.stderr and why in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert not work.exists(), "the benchmark started work before checking --out"
    assert out.read_bytes() == content  # the file is left as it was


def test_finished_rows_are_written_as_they_are_produced(tmp_path, monkeypatch):
    """keep_rows merges a split's rows into the report at --out at once: a later failure keeps them."""
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import _side_by_side as sbs

    out = tmp_path / "r.json"
    out.write_text(json.dumps({"side_by_side": [{"model": "old", "split": "s0", "x": 1}], "dataset": "d"}))
    report = sbs.earlier_report(None, out)
    sbs.keep_rows(out, report, [{"model": "m", "split": "s1", "x": 2}], ("model", "split"))
    sbs.keep_rows(out, report, [{"model": "m", "split": "s1", "x": 3}, {"model": "m", "split": "s2", "x": 4}],
                  ("model", "split"))
    written = json.loads(out.read_text())
    assert written["dataset"] == "d"
    assert [(r["model"], r["split"], r["x"]) for r in written["side_by_side"]] == [
        ("old", "s0", 1), ("m", "s1", 3), ("m", "s2", 4)]


def test_the_recipe_per_split_is_chosen_on_validation_only(monkeypatch):
    """select_on_validation reads the validation means of theraflow's variants only (never test, never a
    reference), and makes no choice on a split where a variant's row has no validation figures yet."""
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import _side_by_side as sbs

    def row(model, split, valid, test):
        return {"model": model, "split": split, "ci": {"mean": test},
                **({"valid": {"ci": {"mean": valid}}} if valid is not None else {})}

    rows = [row("a", "s1", 0.80, 0.60), row("b", "s1", 0.70, 0.90), row("ref", "s1", 0.99, 0.99),
            row("a", "s2", 0.80, 0.80), row("b", "s2", None, 0.90)]
    sel = sbs.select_on_validation(rows, {"a": "recipe", "b": "variant"}, "ci")
    assert sel["s1"]["model"] == "a" and sel["s1"]["candidates"] == {"a": 0.8, "b": 0.7}  # not b's better test CI
    assert sel["s2"]["model"] is None and sel["s2"]["missing_validation"] == ["b"]
