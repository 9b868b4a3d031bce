"""The workflow's plan and validation as library code (theraflow.workflow): what common.smk calls."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from theraflow.errors import InputError
from theraflow.workflow import Plan, validate_config

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "pipelines" / "schemas" / "config.schema.yaml"


def config(**extra) -> dict:
    cfg = {
        "dti": {"datasets": {"demo": {"source": "rdkit_demo"}},
                "splits": [{"kind": "random"}, {"kind": "scaffold", "seeds": [5]}],
                "models": ["dti_demo_gin_id", {"name": "graphdta_gin", "seeds": [0]}], "seeds": [0, 1, 2]},
        "ddi": {"datasets": {"dd": {"source": "demo"}}, "splits": [{"kind": "random"}]},
        "score": {"libraries": {"lib": {"path": "/nowhere/library.smi", "chunk_size": 100}},
                  "model": {"dataset": "demo", "split": "random", "name": "dti_demo_gin_id"}},
    }
    cfg.update(extra)
    return cfg


def test_validation_fills_defaults_and_leaves_the_config_as_given():
    given = config()
    before = copy.deepcopy(given)
    cfg = validate_config(given, SCHEMA, ["my.yaml"])
    assert given == before  # validated copy: the config itself is not changed
    assert cfg["results"] == "results" and cfg["dti"]["bootstrap"] == 1000
    assert cfg["dti"]["datasets"]["demo"]["on_error"] == "reject"
    assert cfg["ddi"]["seeds"] == [0]


@pytest.mark.parametrize("change, message", [
    (lambda c: c["dti"].update(unknown=1), r"my\.yaml\): dti: unknown key\(s\) 'unknown'"),
    (lambda c: c["ddi"]["datasets"].update(demo={"source": "demo"}), r"dti.datasets.demo: the name 'demo' is used by ddi"),
    (lambda c: c["ddi"]["datasets"]["dd"].update(source="deepdta", path="x"), r"ddi.datasets.dd.source: deepdta reads dti"),
    (lambda c: c["ddi"]["splits"].append({"kind": "cold_target"}), r"ddi.splits: cold_target splits tasks that join two"),
    (lambda c: c["dti"]["splits"].append({"kind": "given"}), r"dti.splits: given uses the parts a data set came with"),
    (lambda c: c["dti"]["datasets"]["demo"].update(label="nope"), r"dti.datasets.demo.label: 'nope' is not one of"),
    (lambda c: c.update(plugins=["/no/such/plugin.py"]), r"plugins: plugin /no/such/plugin.py: file not found"),
])
def test_a_wrong_config_names_the_file_and_the_key(change, message):
    cfg = config()
    change(cfg)
    with pytest.raises(InputError, match=message):
        validate_config(cfg, SCHEMA, ["my.yaml"])


def test_a_table_missing_a_column_is_named_from_its_header_alone(tmp_path):
    table = tmp_path / "pairs.csv"
    table.write_text("SMILES,Protein,Y\nCCO,MKV,1\n")
    cfg = config()
    cfg["dti"]["datasets"]["mine"] = {"source": "table", "path": str(table), "columns": {"smiles": "SMILES"}}
    with pytest.raises(InputError, match=r"dti.datasets.mine: .*pairs.csv: missing column\(s\) .*label \('label'\)"):
        validate_config(cfg, SCHEMA)
    cfg["dti"]["datasets"]["mine"]["columns"] |= {"sequence": "Protein", "label": "Y"}
    validate_config(cfg, SCHEMA)  # ids are optional: SMILES, sequence and label are enough


def test_the_plan_cross_product_and_seed_precedence():
    plan = Plan(validate_config(config(), SCHEMA))
    files = plan.metrics_files("dti", "demo")
    # random: the model's own seeds, else the task's; scaffold: the split's seeds beat the task's
    assert "results/dti/demo/random/dti_demo_gin_id/seed2/metrics.json" in files
    assert "results/dti/demo/random/graphdta_gin/seed0/metrics.json" in files
    assert "results/dti/demo/random/graphdta_gin/seed1/metrics.json" not in files
    assert "results/dti/demo/scaffold/dti_demo_gin_id/seed5/metrics.json" in files
    assert len(files) == 3 + 1 + 1 + 1
    # calibration for every (split, model) with two or more seeds, of any task
    assert plan.calibration_files("dti", "demo") == ["results/dti/demo/random/dti_demo_gin_id/calibration.json",
                                                      "results/dti/demo/random/dti_demo_gin_id/calibration.png"]
    assert plan.calibration_files("ddi", "dd") == []
    assert plan.models("ddi") == {"ddi_morgan": None}  # no models listed: the task's default recipe


def test_the_plan_reads_no_library_and_counts_shards_from_the_checkpoint(tmp_path):
    plan = Plan(validate_config(config(results=str(tmp_path / "r")), SCHEMA))  # the library does not exist
    targets = plan.targets()
    assert f"{tmp_path}/r/score/lib/report.html" in targets
    assert f"{tmp_path}/r/chem/dti_demo/molecules.parquet" in targets
    assert not any("chem/score_lib" in t for t in targets)  # scored libraries are gathered by the score rules
    assert plan.molecule_inputs("score_lib") == ["/nowhere/library.smi", f"{tmp_path}/r/score/lib/library.json"]
    count = Path(plan.count_file("lib"))
    count.parent.mkdir(parents=True)
    count.write_text(json.dumps({"records": 250, "chunk_size": 100, "shards": 3}))
    assert plan.shard_ids("score_lib") == ["0000", "0001", "0002"]
    assert plan.n_shards("dti_demo") == 1
    # the count makes the library's index where every shard job of the set reads it; shards are capped
    assert plan.count_args("lib").startswith("--chunk-size 100 --max-shards 200 ")
    assert f"--index-dir {tmp_path}/r/chem/score_lib/index" in plan.count_args("lib")
    assert f"--index-dir {tmp_path}/r/chem/score_lib/index" in plan.read_args("score_lib")


def test_rule_arguments():
    plan = Plan(validate_config(config(plugins=[str(REPO / "tests" / "plugins" / "similarity_task.py")]), SCHEMA))
    assert plan.cli.startswith("theraflow --no-progress --plugin ") and plan.cli.endswith("similarity_task.py")
    assert plan.dataset_args("dti", "demo") == "--source rdkit_demo --on-error reject"
    assert plan.split_args("dti", "scaffold") == "--kind scaffold --name scaffold --seed 0 --test-frac 0.1 " \
                                                 "--valid-frac 0.1"
    assert plan.score_model_dirs() == [f"results/dti/demo/random/dti_demo_gin_id/seed{s}" for s in (0, 1, 2)]
    assert plan.score_calibration_files() == ["results/dti/demo/random/dti_demo_gin_id/calibration.json"]
    # the report's grid size and domain threshold follow the config (defaults 200 and 0.3)
    assert plan.score_report_args("lib").endswith("--grid-rows 200 --ad-threshold 0.3")
    plan_one = Plan(validate_config(config(score={"libraries": {}, "model": {"dataset": "demo", "split": "random",
                                                                             "name": "dti_demo_gin_id", "seeds": [0]}}),
                                    SCHEMA))
    assert plan_one.score_calibration_files() == []  # one seed: no ensemble to calibrate


def test_a_table_data_set_with_parts_and_a_threshold(tmp_path):
    for part in ("train", "test"):
        (tmp_path / f"{part}.csv").write_text("smiles,sequence,label\nCCO,MKV,7.5\n")
    cfg = config()
    cfg["dti"]["datasets"] = {"mine": {"source": "table", "parts": {"train": str(tmp_path / "train.csv"),
                                                                    "test": str(tmp_path / "test.csv")},
                                       "threshold": 7.0}}
    cfg["dti"]["splits"] = [{"kind": "given"}]
    cfg["score"] = {}
    plan = Plan(validate_config(cfg, SCHEMA))
    args = plan.dataset_args("dti", "mine")
    assert f"--test {tmp_path}/test.csv" in args and f"--train {tmp_path}/train.csv" in args
    assert "--threshold 7.0" in args
    assert plan.dataset_inputs("dti", "mine") == [str(tmp_path / "test.csv"), str(tmp_path / "train.csv")]


def test_two_configs_with_different_results_folders_keep_separate_logs():
    first = Plan(validate_config(config(results="runs/a"), SCHEMA))
    second = Plan(validate_config(config(results="runs/b"), SCHEMA))
    assert first.logs == "runs/a/logs" and first.bench == "runs/a/logs/benchmarks"
    assert second.logs == "runs/b/logs" and second.bench == "runs/b/logs/benchmarks"
    assert Plan(validate_config(config(), SCHEMA)).logs == "results/logs"
