"""DrugBank DDI benchmark, side by side: theraflow's recipe against a fingerprint MLP, same splits, same budget.

- ``theraflow``: the recipe of ``config/ddi.yaml`` (``models/ddi_morgan``), through the workflow, 3 seeds;
- ``fingerprint_mlp``: the ordered pair's Morgan fingerprints (2 × 2048 bits) into an MLP
  (``theraflow.pairs.baselines``, DeepDDI-style), in this process, on the workflow's split files
  (``_side_by_side.py``, shared with every pair benchmark).

Both fit on ``train``, select on ``valid`` (validation accuracy), read ``test`` once at the end and
get the same wall-clock budget per run on the same cores. Formulation: an 86-way softmax over the
interaction types, one row per (ordered pair, type) — an ordered pair with two types is two rows,
each counted — on a ``random`` split (whole unordered pairs to one part) and a ``one_unseen`` split
(test pairs join a drug held out of training with a training drug). It writes
``benchmarks/results/ddi_drugbank.json`` (``side_by_side`` rows: model, split, accuracy / macro-F1 /
kappa mean ± sd over seeds, minutes, commit, date) and a learning-curve PNG. Run in parts with
``--models`` / ``--splits``; rows measured before are kept.

    .venv/bin/python benchmarks/ddi_drugbank.py                                # everything (about 2 hours)
    .venv/bin/python benchmarks/ddi_drugbank.py --models fingerprint_mlp --splits random
    .venv/bin/python benchmarks/ddi_drugbank.py --models fingerprint_mlp --reference-seeds 0 1 2   # as measured
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _common as common  # noqa: E402
import _side_by_side as sbs  # noqa: E402

REPO = HERE.parent
REFERENCES = ("fingerprint_mlp",)
PUBLISHED = {  # as reported by their authors, each on its own split and formulation (not re-run here)
    "DeepDDI (Ryu et al., PNAS 2018)": {"accuracy": 0.924, "formulation": "86-way softmax, random 6:2:2 pair split, "
                                        "structural similarity profiles into a DNN"},
    "SumGNN (Yu et al., Bioinformatics 2021)": {"accuracy": 0.9221, "macro_f1": 0.8685, "kappa": 0.9032,
                                                "formulation": "86-way softmax on this SumGNN set, random split, "
                                                               "subgraphs of a biomedical knowledge graph"},
}
METRICS = ("accuracy", "macro_f1", "kappa")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_run_arguments(ap, config="ddi.yaml", workdir="/tmp/theraflow-ddi-benchmark", out="ddi_drugbank.json",
                      what="DrugBank DDI folder")
    ap.add_argument("--models", nargs="+", help="theraflow, fingerprint_mlp (default: both)")
    ap.add_argument("--reference-seeds", type=int, nargs="+", default=[0],
                    help="seeds of the fingerprint MLP (default: 0; each is one run at the budget)")
    return ap, ap.parse_args(argv)


def main(argv=None) -> int:
    ap, args = parse_args(argv)
    config_path, cfg, ddi, ds_name, budget, bootstrap, split_cfgs, wanted_splits = common.load_task_config(ap, args,
                                                                                                            "ddi")
    (recipe,) = [m if isinstance(m, str) else m["name"] for m in ddi["models"]][:1]
    wanted = args.models or ["theraflow", *REFERENCES]
    if any(m not in ("theraflow", *REFERENCES) for m in wanted):
        ap.error(f"--models: choose from theraflow, {', '.join(REFERENCES)}")
    seeds = args.seeds or ddi.get("seeds") or [0]
    ddi["models"] = [{"name": recipe, "seeds": seeds}]
    out = Path(args.out)
    report = sbs.earlier_report(ap, out)  # before any work: a bad --out stops here, not after training
    work = common.prepare_workdir(args, cfg)
    res = work / cfg.get("results", "results") / "ddi" / ds_name
    runs = {recipe: {s: seeds for s in wanted_splits}} if "theraflow" in wanted else {}
    rc, wall, stamp = sbs.train_models(work, res, wanted_splits, runs, args.cores)
    if rc != 0:
        return rc
    rows = []
    for s in wanted_splits:
        if "theraflow" in wanted:
            rows.append({**sbs.neural_row(res, s, recipe, seeds, bootstrap, name="theraflow"), "split": s})
        if "fingerprint_mlp" in wanted:
            rows += [{**r, "split": s} for r in sbs.reference_rows(
                res, s, ["fingerprint"], budget=budget, cores=args.cores, bootstrap=bootstrap,
                seeds=args.reference_seeds, names={"fingerprint": "fingerprint_mlp"})]
        for r in rows:
            r.update(kind=split_cfgs[r["split"]]["kind"], **stamp)
        sbs.keep_rows(out, report, rows, ("model", "split"))  # each split's rows, as soon as they are measured
    side = report.setdefault("side_by_side", [])
    side.sort(key=lambda r: (list(split_cfgs).index(r["split"]) if r["split"] in split_cfgs else 99, r["model"] != "theraflow"))
    info = json.loads((res / "dataset.json").read_text())
    report.update({
        "dataset": ds_name, "config": common.config_label(config_path), "max_minutes_per_run": budget, "workflow_wall_seconds": round(wall, 1),
        "machine": common.machine_info(cores_used=args.cores), "data": {
            "pairs": info["pairs"], "drugs": info["molecules"], "types": info["label"]["classes"],
            "rows_given": info["rows_given"], "rejected_rows": info["rejected_rows"]},
        "formulation": ("86-way softmax over the interaction types; one row per (ordered pair, type), an ordered "
                        "pair with two types is two rows, each counted; the split keeps every row of an unordered "
                        "pair (both orders, all types) in one part"),
        "protocol": ("one script; the workflow's split files for both models; selection on validation carved from "
                     "the training part; test read once after training; the same budget per run on the same cores; "
                     "seeds per model as each row's seeds say (the reference ran 1 seed where theraflow ran 3 "
                     "until its rows say 3)"),
        "published": PUBLISHED, "side_by_side": side, "commits": sorted({r["commit"] for r in side}),
    })
    report["theraflow_leads"] = leads_of(side)
    common.write_json(report, out)
    common.learning_curves(side, out.with_suffix(".png"), key="valid_accuracy", ylabel="validation accuracy",
                    title="DrugBank DDI: validation accuracy against training time (seed 0)")
    print_table(side, stamp["commit"])
    print(f"wrote {out} and {out.with_suffix('.png')}")
    return 0



def leads_of(side: list[dict]) -> dict:
    """Per split measured (in this run or before): does theraflow's mean lead the reference's, on the same rows?"""
    leads = {}
    for s in dict.fromkeys(r["split"] for r in side):
        t = next((r for r in side if r["split"] == s and r["model"] == "theraflow"), None)
        f = next((r for r in side if r["split"] == s and r["model"] == "fingerprint_mlp"), None)
        if t and f:
            leads[s] = {m: bool(t[m]["mean"] > f[m]["mean"]) for m in METRICS}
            leads[s]["same_test_rows"] = t.get("test_rows") == f.get("test_rows")
            if not leads[s]["same_test_rows"]:
                print(f"warning: {s}: theraflow was tested on {t.get('test_rows')} rows, the reference on "
                      f"{f.get('test_rows')}: not a like-for-like comparison", file=sys.stderr)
    return leads

def print_table(rows: list[dict], commit: str) -> None:
    head = f"{'split':<11} {'model':<16} {'seeds':>5} {'accuracy':>15} {'macro-F1':>15} {'kappa':>15} {'min/run':>7}"
    print("\n" + head + "\n" + "-" * len(head))
    for r in rows:
        cells = " ".join(f"{r[m]['mean']:>7.3f} ± {r[m]['sd']:.3f}" for m in METRICS)
        mark = "" if r["commit"] == commit else f"  (measured at {r['commit']})"
        print(f"{r['split']:<11} {r['model']:<16} {len(r['seeds']):>5} {cells} {r['minutes']:>7.1f}{mark}")
    print("\npublished (their own splits and formulations; not re-run here):")
    for k, v in PUBLISHED.items():
        shown = ", ".join(f"{m} {v[m]:.3f}" for m in METRICS if m in v)
        print(f"  {k}: {shown} — {v['formulation']}")



if __name__ == "__main__":
    sys.exit(main())
