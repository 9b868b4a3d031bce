"""Every record a run loses is counted by its reason, and the counts travel: a drug–target table shipped as
train/valid/test files with inorganic drugs ([Zn], [Mg+2], water), a molecule over 150 heavy atoms, an
unlabelled row and contradicting replicates goes through the stages as the workflow runs them (dataset →
chemistry → given split → train → evaluate → table → summary → a scoring report); metrics.json, the metrics
table, the run summary and the report show the same counts per part. The Python scoring API rejects what the
workflow rejects, with the same reason."""

import json

import numpy as np
import pandas as pd
import pytest

from theraflow.chem.standardize import reject_category
from theraflow.pairs.rejects import counts_line, parse_reasons, reason_category, reasons_text

from ...inprocess import cli
from .helpers import small_dti

ORGANIC = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "CCN(CC)CC", "O=C(O)c1ccccc1", "c1ccc2[nH]ccc2c1",
           "CCOC(=O)C", "CC(C)O", "c1ccncc1", "CCCCN", "OCC(O)CO", "CC(=O)O", "c1ccsc1", "CN1CCCC1", "COc1ccccc1",
           "CCS", "NC(=O)N", "C1CCCCC1O", "Cc1ccccc1", "CC#N"]
BIG = "C" * 151  # 151 heavy atoms
TARGETS = {"T1": "MKTAYIAKQR", "T2": "MSEQNNTEMTFQIQRIYTKD", "T3": "MALWMRLLPLLALLALW"}


def test_reasons_are_counted_by_their_kind():
    assert reject_category("fragment", "no organic (carbon-containing) fragment") == "no carbon fragment"
    assert reject_category("size", "151 heavy atoms; limit is 150") == "over 150 heavy atoms"
    assert reject_category("size", "700 atoms; limit is 150 heavy atoms") == "over 150 heavy atoms"
    assert reject_category("parse", "unparsable SMILES: SMILES Parse Error: syntax error") == "unparsable SMILES"
    assert reject_category("featurize", "atom type X unknown") == "featurization failed"
    assert reason_category("contradicting replicates: 5.0, 9.5 (spread 4.5 > 1.0; line 2, line 3)") == \
        "contradicting replicates"
    assert reason_category("empty label") == "empty label"
    assert reason_category("not a finite number: 'n.d.'") == "label not a number"
    assert reason_category("an exact repeat of line 2") == "exact repeat"
    assert reason_category("something new: with detail") == "something new"
    line = counts_line("test", 5010, 4321, {"over 150 heavy atoms": 39, "no carbon fragment": 650})
    assert line == "test: 5,010 given, 4,321 scored, 689 rejected (no carbon fragment 650, over 150 heavy atoms 39)"
    reasons = {"no carbon fragment": 650, "over 150 heavy atoms": 39}
    assert parse_reasons(reasons_text(reasons)) == reasons and parse_reasons(float("nan")) == {}


def _part(drugs: list[tuple[str, str]], rng, extra: list[tuple] = ()) -> pd.DataFrame:
    rows = [(d, s, t, q, round(float(rng.normal(6.5, 1)), 2)) for d, s in drugs for t, q in TARGETS.items()]
    return pd.DataFrame([*rows, *extra], columns=["drug_id", "smiles", "target_id", "sequence", "label"])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The stages on files, laid out as the workflow lays them out (results/dti/mine/..., results/chem/dti_mine/)."""
    from theraflow.chem.shards import featurize_file, gather
    from theraflow.chem.standardize import standardize_file
    from theraflow.io import write_json
    from theraflow.pairs.stages import train_stage

    root = tmp_path_factory.mktemp("counts")
    rng = np.random.default_rng(0)
    organic = [(f"D{i}", s) for i, s in enumerate(ORGANIC)]
    train = _part(organic[:12], rng, [("ZN", "[Zn]", "T1", TARGETS["T1"], 6.0),
                                      ("MG", "[Mg+2]", "T2", TARGETS["T2"], 6.0),
                                      ("WATER", "O", "T3", TARGETS["T3"], 5.0),
                                      ("BIG", BIG, "T1", TARGETS["T1"], 7.0),
                                      ("D0", ORGANIC[0], "T1", TARGETS["T1"], 6.0)])  # D0-T1 again: merged
    train.loc[3, "label"] = np.nan  # line 5 of train.csv: no label
    valid = _part(organic[12:15], rng, [("WATER", "O", "T2", TARGETS["T2"], 5.0)])
    test = _part(organic[15:19], rng, [("ZN", "[Zn]", "T2", TARGETS["T2"], 6.0),
                                       ("WATER", "O", "T1", TARGETS["T1"], 5.5),
                                       ("BIG", BIG, "T3", TARGETS["T3"], 7.0),
                                       ("D19", ORGANIC[19], "T1", TARGETS["T1"], 5.0),   # pKd 5.0 and 9.5:
                                       ("D19", ORGANIC[19], "T1", TARGETS["T1"], 9.5)])  # contradicting
    for name, df in (("train", train), ("valid", valid), ("test", test)):
        df.to_csv(root / f"{name}.csv", index=False)
    res = root / "results"
    ds, chem = res / "dti" / "mine", res / "chem" / "dti_mine"
    rc, out, err = cli(["dti", "dataset", "--train", root / "train.csv", "--valid", root / "valid.csv",
                        "--test", root / "test.csv", "--outdir", ds])
    assert rc == 0, err
    chem.mkdir(parents=True)
    counts = standardize_file(ds / "molecules.csv", chem / "std.parquet", chem / "std-rejects.parquet", id_column="id")
    write_json(chem / "std.json", {"stage": "standardize", **counts, "seconds": 0})
    write_json(chem / "feat.json", featurize_file(chem / "std.parquet", chem / "feat.parquet",
                                                  chem / "feat-rejects.parquet", store=root / "store"))
    gather(standardized=[chem / "std.parquet"], features=[chem / "feat.parquet"],
           rejects=[chem / "std-rejects.parquet", chem / "feat-rejects.parquet"],
           stats=[chem / "std.json", chem / "feat.json"], molecules_out=chem / "molecules.parquet",
           rejects_out=chem / "rejects.tsv", summary_out=chem / "summary.json")
    rc, out, err = cli(["dti", "split", "--pairs", ds / "pairs.parquet", "--kind", "given", "--outdir", ds / "splits"])
    assert rc == 0, err
    model = ds / "given" / "tiny" / "seed0"
    train_stage(pairs_path=ds / "pairs.parquet", split_path=ds / "splits" / "given.parquet",
                molecules_path=chem / "molecules.parquet", store=root / "store", model_config=small_dti(max_epochs=2),
                outdir=model, seed=0, progress=False)
    rc, evaluate_out, err = cli(["dti", "evaluate", "--model", model, "--pairs", ds / "pairs.parquet",
                                 "--split", ds / "splits" / "given.parquet", "--molecules", chem / "molecules.parquet",
                                 "--store", root / "store", "--outdir", model, "--bootstrap", "10"])
    assert rc == 0, err
    rc, out, err = cli(["dti", "table", model / "metrics.json", "-o", ds / "metrics.tsv"])
    assert rc == 0, err
    rc, summary_out, err = cli(["summary", res])
    assert rc == 0, err
    pd.DataFrame({"id": ["ethanol", "zinc", "water", "magnesium"],
                  "smiles": ["CCO", "[Zn]", "O", "[Mg+2]"]}).to_csv(root / "library.csv", index=False)
    rc, out, err = cli(["dti", "score", root / "library.csv", "--model", model, "--store", root / "store",
                        "-o", root / "scores.tsv", "--report", root / "report.html"])
    assert rc == 0, err
    return {"root": root, "ds": ds, "chem": chem, "model": model, "metrics": json.loads((model / "metrics.json").read_text()),
            "summary": summary_out, "evaluate": evaluate_out}


EXPECTED = {
    # 12 drugs x 3 targets, an unlabelled row among them; [Zn], [Mg+2], water, the 151-atom chain; D0-T1 twice
    # (agreeing replicates: one pair; its second row is counted as merged)
    "train": (41, 35, {"no carbon fragment": 3, "over 150 heavy atoms": 1, "empty label": 1}),
    "valid": (10, 9, {"no carbon fragment": 1}),
    # 4 drugs x 3 targets; [Zn], water, the chain; D19-T1 measured 5.0 and 9.5
    "test": (17, 12, {"no carbon fragment": 2, "over 150 heavy atoms": 1, "contradicting replicates": 2}),
}


def test_metrics_json_counts_every_part_by_reason(run):
    m = run["metrics"]
    for part, (given, scored, rejected) in EXPECTED.items():
        assert (m["n_given"][part], m["n_scored"][part], m["n_rejected"][part]) == (given, scored, rejected), part
        assert m["n_given"][part] == m["n_scored"][part] + m["n_merged"][part] + sum(m["n_rejected"][part].values())
    assert m["n_merged"] == {"train": 1, "valid": 0, "test": 0}
    assert m["n_replicates_merged"] == 1
    assert m["n_rejected_before_split"] == {}  # a set shipped in parts: every rejected row belongs to its part
    assert m["parts"]["test"]["metrics"]["n"] == EXPECTED["test"][1]  # what was scored is what is measured
    info = json.loads((run["ds"] / "dataset.json").read_text())
    assert info["n_replicates_merged"] == 1 and info["rejected_by_part"]["test"] == {"contradicting replicates": 2}


def test_the_table_the_summary_and_the_report_show_the_same_counts(run):
    m = run["metrics"]
    table = pd.read_csv(run["ds"] / "metrics.summary.tsv", sep="\t").set_index("part")
    per_run = pd.read_csv(run["ds"] / "metrics.tsv", sep="\t").set_index("part")
    html = (run["root"] / "report.html").read_text()
    for part in ("train", "valid", "test"):
        given, scored, rejected = m["n_given"][part], m["n_scored"][part], m["n_rejected"][part]
        row = table.loc[part]
        assert (row["n_given"], row["n_scored"], row["n_rejected"]) == (given, scored, sum(rejected.values()))
        assert row["n_merged"] == m["n_merged"][part]
        assert parse_reasons(row["rejected_reasons"]) == rejected
        line = counts_line(part, given, scored, rejected, m["n_merged"][part])
        assert line in run["summary"], (line, run["summary"])
        assert line in html, line
        assert line in run["evaluate"]
        if part != "train":
            assert per_run.loc[part, "n_given"] == given and parse_reasons(per_run.loc[part, "rejected_reasons"]) \
                == rejected
    assert "train: 41 given, 35 scored, 1 merged into a replicate, 5 rejected (no carbon fragment 3, empty label 1, " \
           "over 150 heavy atoms 1)" in run["summary"]
    assert "test: 17 given, 12 scored, 5 rejected (contradicting replicates 2, no carbon fragment 2, over 150 heavy " \
           "atoms 1)" in run["summary"]


def test_the_python_api_rejects_what_the_workflow_rejects(run):
    """score_pairs standardizes with the options the chemistry stage recorded for the model's molecules and
    rejects [Zn], water and [Mg+2] with the workflow's reason; they are never scored."""
    from theraflow.pairs.scoring import score_pairs

    meta = json.loads((run["model"] / "model.json").read_text())
    assert meta["standardize"] == json.loads((run["chem"] / "summary.json").read_text())["standardize"]
    assert meta["standardize"]["max_heavy_atoms"] == 150
    library = pd.DataFrame({"id": ["ethanol", "zinc", "water", "magnesium", "chain"],
                            "smiles": ["CCO", "[Zn]", "O", "[Mg+2]", BIG]})
    scores, rejects = score_pairs(library, [run["model"]], store=run["root"] / "store")
    assert set(scores["molecule"]) == {"ethanol"}
    kinds = dict(zip(rejects["id"], rejects["kind"]))
    assert kinds == {"zinc": "no carbon fragment", "water": "no carbon fragment", "magnesium": "no carbon fragment",
                     "chain": "over 150 heavy atoms"}
    workflow = pd.read_csv(run["chem"] / "rejects.tsv", sep="\t")
    by_id = {i: reject_category(s, r) for i, s, r in zip(workflow["id"], workflow["stage"], workflow["reason"])}
    assert by_id == {"ZN": "no carbon fragment", "MG": "no carbon fragment", "WATER": "no carbon fragment",
                     "BIG": "over 150 heavy atoms"}
    cli_rejects = pd.read_csv(run["root"] / "scores.rejects.tsv", sep="\t")  # `theraflow dti score`: the same
    assert dict(zip(cli_rejects["id"], cli_rejects["kind"])) == {"zinc": "no carbon fragment",
                                                                 "water": "no carbon fragment",
                                                                 "magnesium": "no carbon fragment"}
