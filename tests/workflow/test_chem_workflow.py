"""The chemistry workflow: lint, config validation, a tiny run, reruns and incremental runs."""

import json
import re

import pandas as pd
import pytest


def test_lint_is_clean(tmp_path, snakemake):
    """`snakemake --lint` of the whole workflow (every rules file), run in an empty working directory."""
    proc = snakemake(tmp_path, None, "--lint")
    assert "Congratulations, your workflow is in a good condition!" in proc.stdout + proc.stderr


def test_default_config_dry_run(tmp_path, snakemake):
    proc = snakemake(tmp_path, None, "-n")
    out = proc.stdout + proc.stderr
    assert "chem_standardize" in out and "chem_featurize" in out and "chem_gather" in out


def test_wrong_config_key_or_type_fails_dry_run_naming_it(tmp_path, snakemake):
    bad_key = {"molecules": {"x": {"path": "a.smi", "shardz": 2}}}
    proc = snakemake(tmp_path, bad_key, "-n", check=False)
    assert proc.returncode != 0
    assert "shardz" in proc.stdout + proc.stderr
    bad_type = {"molecules": {"x": {"path": "a.smi", "shards": "four"}}}
    proc = snakemake(tmp_path, bad_type, "-n", check=False)
    assert proc.returncode != 0
    assert "'four' is not of type 'integer'" in proc.stdout + proc.stderr
    bad_top = {"standardise": {}}
    proc = snakemake(tmp_path, bad_top, "-n", check=False)
    assert proc.returncode != 0 and "standardise" in proc.stdout + proc.stderr


def test_two_configs_with_their_own_results_folders_write_their_own_logs(tmp_path, snakemake):
    """A rule's log and timing files live under its config's results folder: a second config with another
    results folder cannot overwrite the first run's logs."""
    lib = tmp_path / "lib.smi"
    lib.write_text("CCO ethanol\nc1ccccc1 benzene\n")
    logs = {}
    for name in ("a", "b"):
        cfg = {"results": f"runs/{name}", "molecules": {"tiny": {"path": str(lib), "shards": 1}}}
        proc = snakemake(tmp_path, cfg, "-n", "--printshellcmds", "--forceall")
        # the dry run's job list names each job's log; the shell commands redirect into them
        logs[name] = set(re.findall(r"(\S*/logs/\S+\.log)", proc.stdout + proc.stderr))
        assert logs[name], proc.stdout + proc.stderr
        assert all(p.startswith(f"runs/{name}/logs/") for p in logs[name]), logs[name]
    assert not logs["a"] & logs["b"]


def _summary(tmp_path, lib):
    return json.loads((tmp_path / "results" / "chem" / lib / "summary.json").read_text())


@pytest.mark.slow
def test_tiny_run_rerun_and_incremental(tmp_path, snakemake, nci_smi):
    lines = [line for line in nci_smi.read_text().splitlines() if line.strip()]
    base, extra = lines[:600], lines[600:606]  # 1 % more molecules
    lib = tmp_path / "lib.smi"
    lib.write_text("\n".join(base) + "\n")
    config = {"molecules": {"tiny": {"path": str(lib), "shards": 3}}}

    snakemake(tmp_path, config)
    first = _summary(tmp_path, "tiny")
    assert first["records"] == 600 and first["kept"] + first["rejected"] == 600
    assert first["store_hits"] + first["store_misses"] >= first["kept"] - 50  # duplicates share keys
    molecules = pd.read_parquet(tmp_path / "results" / "chem" / "tiny" / "molecules.parquet")
    assert len(molecules) == first["kept"] and molecules["key"].str.len().eq(32).all()
    rejects = pd.read_csv(tmp_path / "results" / "chem" / "tiny" / "rejects.tsv", sep="\t")
    assert len(rejects) == first["rejected"] and set(rejects.columns) >= {"id", "input", "stage", "reason"}

    # a second run with nothing changed does no work
    proc = snakemake(tmp_path, config, "-n")
    assert "Nothing to be done" in proc.stdout + proc.stderr

    # 1 % new molecules: features are computed for those only
    lib.write_text("\n".join(base + extra) + "\n")
    snakemake(tmp_path, config)
    second = _summary(tmp_path, "tiny")
    new_kept = second["kept"] - first["kept"]
    assert new_kept == 6
    assert second["store_misses"] == new_kept
    assert second["store_hits"] == first["store_hits"] + first["store_misses"]

    # a different featurizer is a different set of keys: computed, not confused with the first
    config["featurize"] = {"featurizer": "pyg"}
    snakemake(tmp_path, config)
    third = _summary(tmp_path, "tiny")
    assert third["featurizer"] == "pyg" and third["store_hits"] == 0
