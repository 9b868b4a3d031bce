"""Pretraining in the workflow: a `pretrain:` entry makes a bundle (rule pretrain), and a pair model whose
config names it waits for it (its training jobs take the bundle as input)."""

import json
import os
import re
import time

import yaml


def planned(proc) -> set[str]:
    """The rules of a dry run's job table (``--quiet rules``)."""
    return set(re.findall(r"^\s*([a-z_]+)\s+\d+\s*$", proc.stdout + proc.stderr, flags=re.M)) - {"total"}


def test_a_pretrained_bundle_is_made_and_awaited(tmp_path, snakemake, nci_smi, repo):
    lines = [line for line in nci_smi.read_text().splitlines() if line.strip()][:400]
    lib = tmp_path / "corpus.smi"
    lib.write_text("\n".join(lines) + "\n")
    model = yaml.safe_load((repo / "models" / "dti_demo_gin_id" / "config.yaml").read_text())
    model["name"] = "demo_pretrained"
    model["drug_encoder"]["pretrained"] = {"bundle": "results/pretrain/tiny", "freeze": True}
    (tmp_path / "models" / "demo_pretrained").mkdir(parents=True)
    (tmp_path / "models" / "demo_pretrained" / "config.yaml").write_text(yaml.safe_dump(model))
    enc = model["drug_encoder"]
    config = {
        "pretrain": {"tiny": {"library": str(lib), "hidden": enc["hidden"], "layers": enc["layers"],
                              "pool": enc.get("pool", "add+max"), "max_minutes": 0.1, "threads": 1}},
        "dti": {"datasets": {"demo": {"source": "rdkit_demo"}}, "splits": [{"kind": "random"}],
                "models": ["demo_pretrained"], "seeds": [0], "threads": 1, "max_minutes": 1},
    }
    # asked for the trained model only, the DAG plans the bundle first: the training job takes it as input
    trained = "results/dti/demo/random/demo_pretrained/seed0/model.json"
    dry = snakemake(tmp_path, config, "-n", trained, "--quiet", "rules")
    assert {"pretrain", "pair_train"} <= planned(dry), dry.stdout
    # the bundle alone, for real: the rule's command line reaches `theraflow pretrain`
    snakemake(tmp_path, config, "--cores", "2", "results/pretrain/tiny/card.md")  # (a flag ends --configfile)
    meta = json.loads((tmp_path / "results" / "pretrain" / "tiny" / "model.json").read_text())
    assert meta["corpus"]["molecules"] + meta["corpus"]["rejected"] == 400 and meta["encoder"]["hidden"] == enc["hidden"]
    assert meta["training"]["minutes_budget"] == 0.1 and (tmp_path / "results/pretrain/tiny/loss.png").exists()
    # made: not planned again, while the training job that takes it as input still is; also not when the corpus
    # is laid out again (a fresh mtime, as a shared copy gets): an hour's pretraining is not redone for that
    os.utime(lib, (time.time() + 60, time.time() + 60))
    dry = snakemake(tmp_path, config, "-n", trained, "--quiet", "rules")
    assert "pair_train" in planned(dry) and "pretrain" not in planned(dry), dry.stdout
