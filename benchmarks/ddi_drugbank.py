"""DrugBank DDI benchmark, side by side: theraflow's recipes against a fingerprint MLP, same splits, same budget.

- ``theraflow``: the recipe of ``config/ddi.yaml`` (``models/ddi_morgan``), through the workflow, 3 seeds;
- ``theraflow_gin``: the recipe with a GIN branch beside the Morgan bits (``models/ddi_gin_morgan``), from
  scratch; ``theraflow_pretrained``: the same with its GIN started from attribute masking on MOSES
  (``models/ddi_gin_morgan_pretrained``, the config's ``pretrain: moses``; a bundle that
  ``benchmarks/pretrain.py`` made under ``resources/pretrain/<name>`` is used, ``--pretrained-root``) — the
  two differ by the pretraining only;
- ``fingerprint_mlp``: the ordered pair's Morgan fingerprints (2 × 2048 bits) into an MLP
  (``theraflow.pairs.baselines``, DeepDDI-style), in this process, on the workflow's split files
  (``_side_by_side.py``, shared with every pair benchmark).

Both fit on ``train``, select on ``valid`` (validation accuracy), read ``test`` once at the end and
get the same wall-clock budget per run on the same cores. Formulation: an 86-way softmax over the
interaction types, one row per (ordered pair, type) — an ordered pair with two types is two rows,
each counted — on a ``random`` split (whole unordered pairs to one part), a ``one_unseen`` split
(test pairs join a drug held out of training with a training drug) and a ``both_unseen`` split (both
drugs of every test pair held out of training: no test drug is in any training pair). Per split, the
theraflow recipe with the best mean *validation* accuracy is the one shipped (``selected``); ``leads``
compares it with the reference, margin against one seed's spread. It writes
``benchmarks/results/ddi_drugbank.json`` (``side_by_side`` rows: model, split, accuracy / macro-F1 /
kappa mean ± sd over seeds, the same on validation, minutes, commit, date) and a learning-curve PNG. Run in
parts with ``--models`` / ``--splits``; rows measured before are kept.

    .venv/bin/python benchmarks/ddi_drugbank.py                                # everything (hours)
    .venv/bin/python benchmarks/ddi_drugbank.py --splits both_unseen
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
LABELS = {"ddi_morgan": "theraflow", "ddi_gin_morgan": "theraflow_gin",
          "ddi_gin_morgan_pretrained": "theraflow_pretrained"}  # model config -> side-by-side name
VARIANTS = {  # theraflow's recipes; per split, the one with the best validation accuracy is shipped
    "theraflow": "ddi_morgan: Morgan bits, order-aware head",
    "theraflow_gin": "ddi_gin_morgan: GIN (from scratch) + Morgan bits",
    "theraflow_pretrained": "ddi_gin_morgan_pretrained: GIN pretrained on MOSES (attribute masking) + Morgan bits",
}
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
    ap.add_argument("--models", nargs="+", help=f"{', '.join([*LABELS.values(), *REFERENCES])} (default: all)")
    ap.add_argument("--reference-seeds", type=int, nargs="+", default=[0],
                    help="seeds of the fingerprint MLP (default: 0; each is one run at the budget)")
    sbs.add_pretrained_argument(ap)
    return ap, ap.parse_args(argv)


def main(argv=None) -> int:
    ap, args = parse_args(argv)
    config_path, cfg, ddi, ds_name, budget, bootstrap, split_cfgs, wanted_splits = common.load_task_config(ap, args,
                                                                                                            "ddi")
    entries = [(m, None) if isinstance(m, str) else (m["name"], m.get("seeds")) for m in ddi["models"]]
    names = {LABELS.get(m, m): m for m, _ in entries}
    wanted = args.models or [*names, *REFERENCES]
    unknown = [m for m in wanted if m not in names and m not in REFERENCES]
    if unknown:
        ap.error(f"--models: unknown {unknown}; choose from {', '.join([*names, *REFERENCES])}")
    neural = [{"name": m, "seeds": args.seeds or own or ddi.get("seeds") or [0]} for m, own in entries
              if LABELS.get(m, m) in wanted]
    ddi["models"] = neural or [{"name": entries[0][0]}]  # the workflow needs a model to resolve
    out = Path(args.out)
    report = sbs.earlier_report(ap, out)  # before any work: a bad --out stops here, not after training
    work = common.prepare_workdir(args, cfg)
    pretrained = sbs.seed_pretrained(cfg, work, Path(args.pretrained_root))
    res = work / cfg.get("results", "results") / "ddi" / ds_name
    runs = {m["name"]: {s: m["seeds"] for s in wanted_splits} for m in neural}
    rc, wall, stamp = sbs.train_models(work, res, wanted_splits, runs, args.cores)
    if rc != 0:
        return rc
    rows = []
    for s in wanted_splits:
        for m in neural:
            rows.append({**sbs.neural_row(res, s, m["name"], m["seeds"], bootstrap, name=LABELS.get(m["name"], m["name"])),
                         "split": s})
        if "fingerprint_mlp" in wanted:
            rows += [{**r, "split": s} for r in sbs.reference_rows(
                res, s, ["fingerprint"], budget=budget, cores=args.cores, bootstrap=bootstrap,
                seeds=args.reference_seeds, names={"fingerprint": "fingerprint_mlp"})]
        for r in rows:
            r.update(kind=split_cfgs[r["split"]]["kind"], **stamp)
        sbs.keep_rows(out, report, rows, ("model", "split"))  # each split's rows, as soon as they are measured
    side = report.setdefault("side_by_side", [])
    order = {n: i for i, n in enumerate([*LABELS.values(), *REFERENCES])}
    side.sort(key=lambda r: (list(split_cfgs).index(r["split"]) if r["split"] in split_cfgs else 99,
                             order.get(r["model"], 99)))
    selected = sbs.select_on_validation(side, VARIANTS, "accuracy")
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
        "published": PUBLISHED, "variants": VARIANTS, "selected": selected, "side_by_side": side,
        "commits": sorted({r["commit"] for r in side}),
    })
    if pretrained:
        report["pretrained"] = {**report.get("pretrained", {}), **pretrained}
    report["theraflow_leads"] = leads_of(side, selected)
    common.write_json(report, out)
    common.learning_curves(side, out.with_suffix(".png"), key="valid_accuracy", ylabel="validation accuracy",
                    title="DrugBank DDI: validation accuracy against training time (seed 0)")
    print_table(side, stamp["commit"], selected)
    print(f"wrote {out} and {out.with_suffix('.png')}")
    return 0



def leads_of(side: list[dict], selected: dict) -> dict:
    """Per split measured (in this run or before): does the recipe selected on validation lead the reference on
    the same rows, and by more than one seed's spread (the larger sd of the two rows)?"""
    leads = {}
    for s, sel in selected.items():
        if sel["model"] is None:
            continue
        t = next((r for r in side if r["split"] == s and r["model"] == sel["model"]), None)
        f = next((r for r in side if r["split"] == s and r["model"] == "fingerprint_mlp"), None)
        if t and f:
            leads[s] = {"model": sel["model"]}
            for m in METRICS:
                margin = t[m]["mean"] - f[m]["mean"]
                spread = max(t[m]["sd"] or 0.0, f[m]["sd"] or 0.0)
                leads[s][m] = bool(margin > 0)
                leads[s][f"{m}_margin"] = round(margin, 4)
                leads[s][f"{m}_beyond_spread"] = bool(margin > spread) if len(t["seeds"]) > 1 or len(f["seeds"]) > 1 \
                    else None
            leads[s]["same_test_rows"] = t.get("test_rows") == f.get("test_rows")
            if not leads[s]["same_test_rows"]:
                print(f"warning: {s}: theraflow was tested on {t.get('test_rows')} rows, the reference on "
                      f"{f.get('test_rows')}: not a like-for-like comparison", file=sys.stderr)
    return leads


def print_table(rows: list[dict], commit: str, selected: dict) -> None:
    head = f"{'split':<11} {'model':<20} {'seeds':>5} {'accuracy':>15} {'macro-F1':>15} {'kappa':>15} {'min/run':>7}"
    print("\n" + head + "\n" + "-" * len(head))
    for r in rows:
        cells = " ".join(f"{r[m]['mean']:>7.3f} ± {r[m]['sd']:.3f}" for m in METRICS)
        mark = "" if r["commit"] == commit else f"  (measured at {r['commit']})"
        if (selected.get(r["split"]) or {}).get("model") == r["model"]:
            mark = "  <- selected on validation" + mark
        print(f"{r['split']:<11} {r['model']:<20} {len(r['seeds']):>5} {cells} {r['minutes']:>7.1f}{mark}")
    print("\npublished (their own splits and formulations; not re-run here):")
    for k, v in PUBLISHED.items():
        shown = ", ".join(f"{m} {v[m]:.3f}" for m in METRICS if m in v)
        print(f"  {k}: {shown} — {v['formulation']}")



if __name__ == "__main__":
    sys.exit(main())
