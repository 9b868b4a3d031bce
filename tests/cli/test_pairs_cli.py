"""theraflow <task> <stage>: one command family for every registered pair task, and what goes with it
(theraflow registry, theraflow score count). Errors are one line naming the file, never a traceback."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.inprocess import cli

STAGES = {"dataset", "split", "train", "evaluate", "calibrate", "table", "score"}


def _subparsers(parser):
    return next(a for a in parser._actions if a.dest in ("command", "stage")).choices


def _option(parser, dest):
    return next(a for a in parser._actions if a.dest == dest)


def test_every_task_has_the_same_stages_with_choices_from_the_registries():
    from theraflow.cli.main import build_parser
    from theraflow.registry import LABELS, SOURCES, SPLITS, TASKS

    commands = _subparsers(build_parser())
    assert {"dti", "ddi"} <= set(TASKS.names())
    for name in TASKS.names():
        stages = _subparsers(commands[name])
        assert set(stages) == STAGES, name
        sources = _option(stages["dataset"], "source").choices
        assert sources == [s for s in SOURCES.names() if SOURCES.get(s).serves(name)], name
        assert _option(stages["dataset"], "on_error").default == "reject"
        assert set(_option(stages["dataset"], "label").choices) <= set(LABELS.names())
        assert _option(stages["split"], "kind").choices == SPLITS.names()
        score = {a.dest for a in stages["score"]._actions}
        assert "partners" in score and "panel" not in score
    dti, ddi = (_option(_subparsers(commands[t])["dataset"], "source").choices for t in ("dti", "ddi"))
    assert {"table", "deepdta", "rdkit_demo"} <= set(dti) and "drugbank" not in dti
    assert {"table", "drugbank", "demo"} <= set(ddi) and "deepdta" not in ddi


def test_help_and_registry_list_the_tasks(theraflow_cmd):
    out = subprocess.run([*theraflow_cmd, "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("dti", "ddi", "score", "registry"):
        assert command in out, command
    rc, out, err = cli(["registry", "--json"])
    assert rc == 0, err
    names = json.loads(out)
    assert {"dti", "ddi"} <= set(names["tasks"]) and {"regression", "binary", "multiclass"} <= set(names["labels"])
    assert {"table", "deepdta", "drugbank", "rdkit_demo", "demo"} <= set(names["sources"])


def test_score_count(tmp_path):
    """What the workflow's score_count checkpoint runs: records and shards of a library, read once."""
    lib = tmp_path / "lib.smi"
    lib.write_text("CCO a\nC1CC( bad\nCCN b\nc1ccccc1 c\nCCC d\n")
    rc, out, err = cli(["score", "count", str(lib), "--chunk-size", "2", "-o", str(tmp_path / "library.json")])
    assert rc == 0, err
    counted = json.loads((tmp_path / "library.json").read_text())
    assert counted["records"] == 5 and counted["shards"] == 3 and counted["chunk_size"] == 2  # a bad record counts
    rc, out, err = cli(["score", "count", str(tmp_path / "nothere.smi"), "-o", str(tmp_path / "x.json")])
    assert rc == 2 and "nothere.smi" in err and "Traceback" not in err
    assert not (tmp_path / "x.json").exists()


def test_score_count_caps_the_shards_and_keeps_the_index(tmp_path):
    """A library larger than chunk_size x max_shards gets larger shards (jobs per stage stay bounded); the index
    is made once and kept where the shard jobs read it."""
    from theraflow.pairs.screen import shard_plan

    assert shard_plan(10_000_000, 50_000, 200) == (50_000, 200)
    assert shard_plan(20_000_000, 50_000, 200) == (100_000, 200)
    assert shard_plan(10_000_001, 50_000, 200) == (50_001, 200)
    assert shard_plan(120, 50, None) == (50, 3) and shard_plan(0, 50, 200) == (50, 1)
    lib = tmp_path / "lib.smi"
    lib.write_text("".join(f"CCO m{i}\n" for i in range(1000)) + "CCN m7\n")
    out = tmp_path / "library.json"
    rc, _, err = cli(["score", "count", str(lib), "--chunk-size", "50", "--max-shards", "8", "--index-dir",
                      str(tmp_path / "index"), "-o", str(out)])
    assert rc == 0, err
    counted = json.loads(out.read_text())
    assert (counted["records"], counted["shards"], counted["chunk_size"], counted["chunk_size_asked"]) == \
        (1001, 8, 126, 50)
    assert counted["duplicate_ids"] == 1 and Path(counted["index"]).parent == tmp_path / "index"
    assert counted["identity"]["size"] == lib.stat().st_size
    # a shard job reads its records through that index: shard 7 of 8 holds the duplicate, rejected with its reason
    rc, _, err = cli(["standardize", str(lib), "--shard", "7/8", "--index-dir", str(tmp_path / "index"),
                      "-o", str(tmp_path / "s.parquet"), "--rejects", str(tmp_path / "r.parquet")])
    assert rc == 0, err
    import pandas as pd

    kept, rej = pd.read_parquet(tmp_path / "s.parquet"), pd.read_parquet(tmp_path / "r.parquet")
    assert len(kept) + len(rej) == 1001 - 7 * 126 and rej["reason"].tolist() == \
        ["duplicate id 'm7' (first seen at record 8)"]


def test_dataset_of_a_binary_table_and_errors_naming_the_file(tmp_path):
    table = tmp_path / "pairs.csv"
    table.write_text("smiles,target_id,active\nCCO,t1,1\nCCN,t1,0\nCCC,t2,1\nc1ccccc1O,t2,0\nCCO,t2,0\n")
    ds = tmp_path / "ds"
    rc, out, err = cli(["dti", "dataset", "--path", str(table), "--column", "label=active", "--outdir", str(ds)])
    assert rc == 0, err
    info = json.loads((ds / "dataset.json").read_text())
    assert info["label_kind"] == "binary" and "0 or 1" in info["label_kind_reason"]  # inferred, said why
    assert info["pairs"] == 5 and info["ids_defaulted"]  # no drug ids: standardized InChIKeys
    assert "binary labels" in out

    # a stage of another task refuses the data set, naming it and the command to use
    rc, out, err = cli(["ddi", "split", "--pairs", str(ds / "pairs.parquet"), "--kind", "random",
                        "--outdir", str(tmp_path / "split")])
    assert rc == 2 and "pairs.parquet: a dti data set, not ddi" in err and "theraflow dti split" in err, err
    assert not (tmp_path / "split").exists()
    # a missing pairs table is named (not the dataset.json beside it)
    rc, out, err = cli(["dti", "split", "--pairs", str(tmp_path / "nothere.parquet"), "--kind", "random",
                        "--outdir", str(tmp_path / "split")])
    assert rc == 2 and "nothere.parquet: not found" in err and "Traceback" not in err, err
    # the old option of ddi score is gone: --partners
    rc, out, err = cli(["ddi", "score", str(table), "--panel", str(table), "--model", str(ds), "-o",
                        str(tmp_path / "s.tsv")])
    assert rc == 2 and "--panel" in err
