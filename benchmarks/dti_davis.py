"""Drug–target side by side (Davis, and KIBA with ``--config config/kiba.yaml``): theraflow's recipes against
reference designs, one run, same splits.

Every model sees the same split files, selects on validation carved from the training part (the
test part is evaluated once, at the end) and gets the same wall-clock budget per run (the config's
``dti.max_minutes``, or ``--max-minutes``) on the same cores:

- ``theraflow``: the recipe of ``config/<dataset>.yaml`` (``models/dti_hybrid``), through the workflow;
- ``theraflow_pretrained``: the same recipe with its GIN branch started from attribute masking on MOSES
  (``models/dti_hybrid_pretrained``; the config's ``pretrain: moses``; a bundle that
  ``benchmarks/pretrain.py`` already made under ``resources/pretrain/<name>`` is used instead of training
  another, ``--pretrained-root``);
- ``theraflow_attention``: attention encoders on both sides (``models/dti_attention``: a GPS graph
  transformer for the molecule, self-attention over residue patches for the target);
- ``graphdta_gin``: GraphDTA's GIN design (``models/graphdta_gin``), from its paper, through the
  same workflow and training runtime;
- ``fingerprint``: LightGBM on Morgan bits + residue composition (``theraflow.pairs.baselines``),
  early-stopped on validation, in this process (``_side_by_side.py``, shared with every pair benchmark);
- ``constant``: the training mean, the floor of every split.

Per split, the theraflow recipe with the best mean *validation* CI is the one shipped for that split
(``selected``; the test part chooses nothing), and ``leads`` says whether it leads every reference on test
CI and beats the constant's MSE. It writes ``benchmarks/results/dti_<dataset>.json`` — the per-model
``splits`` entries of earlier versions, and ``side_by_side`` rows (model, split, CI / MSE / Pearson mean ±
sd over seeds with bootstrap intervals, the same on validation, minutes, the constant's MSE on that split,
commit and date) — and a PNG of the learning curves (validation CI against minutes). Run in parts
(``--models``, ``--splits``, ``--seeds``): rows measured before are kept, and each row says the commit it
was measured at.

    .venv/bin/python benchmarks/dti_davis.py                                   # everything (hours)
    .venv/bin/python benchmarks/dti_davis.py --models theraflow --splits setting1
    .venv/bin/python benchmarks/dti_davis.py --models fingerprint constant     # minutes
    .venv/bin/python benchmarks/dti_davis.py --config config/kiba.yaml         # -> dti_kiba.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _common as common  # noqa: E402
import _side_by_side as sbs  # noqa: E402

REPO = HERE.parent
# Per dataset: published setting-1 test figures (CI / MSE; most selected on the test fold), published cold-split
# CIs where the issue cites them, and the targets of the single model on setting-1.
DATASETS = {
    "davis": {
        "published_setting1": {  # as cited in ../shared/data/README.md and the GTB-DTI re-run
            "DeepDTA": {"ci": 0.878, "mse": 0.261},
            "GraphDTA GIN": {"ci": 0.893, "mse": 0.229},
            "GraphDTA GAT_GCN": {"ci": 0.881, "mse": 0.245},
            "MGraphDTA": {"ci": 0.900, "mse": 0.207},
            "GraphDTA GIN, GTB-DTI re-run (shared settings)": {"ci": 0.871, "mse": 0.231},
            "MGraphDTA, GTB-DTI re-run (shared settings)": {"ci": 0.882, "mse": 0.218},
        },
        "published_cold": {},
        "target": {"floor": {"ci": 0.893, "mse": 0.229}, "goal": {"ci": 0.900, "mse": 0.215}},
    },
    "kiba": {
        "published_setting1": {  # ../shared/data/README.md
            "DeepDTA": {"ci": 0.863, "mse": 0.194},
            "GraphDTA GAT_GCN": {"ci": 0.891, "mse": 0.139},
            "MGraphDTA": {"ci": 0.902, "mse": 0.128},
        },
        "published_cold": {  # test CI on unseen drug / unseen target / both (issue 24)
            "MGraphDTA": {"cold_drug": 0.746, "cold_target": 0.674, "cold_both": 0.626},
            "FusionDTA (ESM-1b protein embeddings)": {"cold_drug": 0.748, "cold_target": 0.685, "cold_both": 0.641},
            "DMFF-DTA": {"cold_drug": 0.753, "cold_target": 0.748, "cold_both": 0.667},
        },
        "target": {"goal": {"ci": 0.891, "mse": 0.139}},  # GraphDTA's published figures
    },
}
BUDGET = {"minutes_per_seed": 15, "cores": 2}
LABELS = {"dti_hybrid": "theraflow", "dti_hybrid_pretrained": "theraflow_pretrained",
          "dti_attention": "theraflow_attention", "graphdta_gin": "graphdta_gin"}  # model config -> side-by-side name
VARIANTS = {  # theraflow's recipes; per split, the one with the best validation CI is shipped
    "theraflow": "dti_hybrid: GIN + Morgan + id | composition + id",
    "theraflow_pretrained": "dti_hybrid with its GIN pretrained on MOSES (attribute masking)",
    "theraflow_attention": "GPS graph transformer + Morgan + id | residue attention + composition + id",
}
REFERENCES = ("fingerprint", "constant")  # fitted here on the workflow's split files


def model_entries(dti: dict) -> list[tuple[str, list[int] | None]]:
    return [(m, None) if isinstance(m, str) else (m["name"], m.get("seeds")) for m in dti["models"]]


def seeds_of(dti: dict, split: dict, own: list[int] | None) -> list[int]:
    return own or split.get("seeds") or dti.get("seeds") or [0]


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_run_arguments(ap, config="davis.yaml", workdir="/tmp/theraflow-{dataset}-benchmark",
                             out="dti_{dataset}.json", what="DeepDTA-format directory")
    ap.add_argument("--models", nargs="+", help="side-by-side names to run (default: all); "
                    f"{', '.join([*LABELS.values(), *REFERENCES])}")
    ap.add_argument("--ref-seeds", type=int, nargs="+", help="seeds of the reference models (default: the config's)")
    sbs.add_pretrained_argument(ap)
    ap.add_argument("--plot", help="learning-curve PNG (default: the --out path with .png)")
    return ap, ap.parse_args(argv)


def main(argv=None) -> int:
    ap, args = parse_args(argv)
    config_path, cfg, dti, ds_name, budget, bootstrap, split_cfgs, wanted_splits = common.load_task_config(ap, args,
                                                                                                            "dti")
    known = DATASETS.get(ds_name, {"published_setting1": {}, "published_cold": {}, "target": {}})
    args.out, args.workdir = args.out.format(dataset=ds_name), args.workdir.format(dataset=ds_name)
    entries = model_entries(dti)
    recipe = entries[0][0]  # the config's first model is theraflow's recipe
    names = {LABELS.get(m, m): m for m, _ in entries}
    wanted = args.models or [*names, *REFERENCES]
    unknown = [m for m in wanted if m not in names and m not in REFERENCES]
    if unknown:
        ap.error(f"--models: unknown {unknown}; choose from {', '.join([*names, *REFERENCES])}")
    neural = []
    for m, own in entries:
        if LABELS.get(m, m) not in wanted:
            continue
        own = (args.seeds if LABELS.get(m, m) in VARIANTS else args.ref_seeds) or own
        neural.append({"name": m, **({"seeds": own} if own else {})})
    dti["models"] = neural or entries[:1]  # the workflow needs a model to resolve; none is trained then
    out = Path(args.out)
    report = sbs.earlier_report(ap, out)  # before any work: a bad --out stops here, not after training
    work = common.prepare_workdir(args, cfg)
    pretrained = sbs.seed_pretrained(cfg, work, Path(args.pretrained_root))
    res = work / cfg.get("results", "results") / "dti" / ds_name
    runs = {m["name"]: {s: seeds_of(dti, split_cfgs[s], m.get("seeds")) for s in wanted_splits} for m in neural}
    rc, wall, stamp = sbs.train_models(work, res, wanted_splits, runs, args.cores)
    if rc != 0:
        return rc
    rows = []
    for s in wanted_splits:
        constant_mse, split_rows = reference_rows(res, s, [m for m in REFERENCES if m in wanted] or ["constant"],
                                                  budget, args.cores, bootstrap, dti.get("binary_threshold"))
        for m in neural:
            seeds = seeds_of(dti, split_cfgs[s], m.get("seeds"))
            split_rows.append(neural_row(res, s, m["name"], seeds, bootstrap, ensemble=m["name"] == recipe))
        for r in split_rows:
            r.update(split=s, kind=split_cfgs[s]["kind"], constant_mse=constant_mse,
                     below_constant=bool(r["mse"]["mean"] < constant_mse) if r["model"] != "constant" else None, **stamp)
            if r["model"] in wanted:
                rows.append(r)
        sbs.keep_rows(out, report, rows, ("model", "split"))  # each split's rows, as soon as they are measured
    side = report.setdefault("side_by_side", [])
    order = {n: i for i, n in enumerate([*names, *REFERENCES])}
    side.sort(key=lambda r: (list(split_cfgs).index(r["split"]) if r["split"] in split_cfgs else 99,
                             order.get(r["model"], 99)))
    selected = sbs.select_on_validation(side, VARIANTS, "ci")
    report.update({
        "dataset": ds_name, "models": [m for m, _ in entries], "config": common.config_label(config_path),
        "max_minutes_per_seed": budget, "workflow_wall_seconds": round(wall, 1),
        "target": {**known["target"], **BUDGET}, "published_setting1": known["published_setting1"],
        "published_cold": known["published_cold"], "machine": common.machine_info(cores_used=args.cores),
        "protocol": ("one script, the workflow's split files for every model; selection on the validation part "
                     "carved from the training part; the test part read once after training; the same "
                     f"{budget}-minute budget per training run on {args.cores} cores; reference models run "
                     "fewer seeds where the config says so; per split, theraflow's recipe is the variant with "
                     "the best mean validation CI"),
        "variants": VARIANTS, "selected": selected, "leads": leads(side, selected, known["published_cold"]),
        "side_by_side": side,
        "commits": sorted({r["commit"] for r in side}),
    })
    if pretrained:
        report["pretrained"] = {**report.get("pretrained", {}), **pretrained}
    report["splits"] = {**report.get("splits", {}), **legacy_entries(rows)}
    target = known["target"]
    s1 = next((r for r in side if r["model"] == "theraflow" and r["kind"] == "setting1"), None)
    if s1:
        single = s1["ci"]["mean"], s1["mse"]["mean"]
        report["target_met"] = {k: bool(single[0] >= v["ci"] and single[1] <= v["mse"]) for k, v in target.items()}
    common.write_json(report, out)
    plot = Path(args.plot) if args.plot else out.with_suffix(".png")
    common.learning_curves(side, plot, key="valid_ci", ylabel="validation CI",
                           title=f"{ds_name}: validation CI against training time (seed 0 of each model)")
    print_table(side, stamp["commit"], known["published_setting1"], selected)
    if s1:
        print(f"\ntheraflow single model, setting-1: CI {s1['ci']['mean']:.3f}, MSE {s1['mse']['mean']:.3f} -- " +
              ", ".join(f"{k} (CI >= {v['ci']}, MSE <= {v['mse']}) {'met' if report['target_met'][k] else 'NOT met'}"
                        for k, v in target.items()))
    print(f"wrote {out} and {plot}")
    return 0


def leads(side: list[dict], selected: dict, published_cold: dict) -> dict:
    """Per split: the selected recipe's test CI and MSE against every other model's (not theraflow's variants) and
    the constant's MSE; where published cold-split CIs exist, whether it reaches the best of them."""
    out = {}
    for split, sel in selected.items():
        if sel["model"] is None:
            continue
        rows = {r["model"]: r for r in side if r["split"] == split}
        mine = rows[sel["model"]]
        others = {m: r["ci"]["mean"] for m, r in rows.items() if m not in VARIANTS and m != "constant"}
        entry = {"model": sel["model"], "ci": mine["ci"]["mean"], "mse": mine["mse"]["mean"],
                 "constant_mse": mine["constant_mse"], "below_constant": mine["below_constant"],
                 "references_ci": others, "leads_on_ci": bool(others) and all(mine["ci"]["mean"] > v
                                                                              for v in others.values()),
                 "references_missing": [m for m in ("graphdta_gin", "fingerprint", "constant") if m not in rows]}
        cold = {k: v[split] for k, v in published_cold.items() if split in v}
        if cold:
            entry["published_cold_best"] = max(cold.values())
            entry["reaches_published_cold"] = bool(mine["ci"]["mean"] >= max(cold.values()))
        out[split] = entry
    return out


def reference_rows(res: Path, split: str, models: list[str], budget: float | None, cores: int, bootstrap: int,
                   threshold: float | None) -> tuple[float, list[dict]]:
    """The in-process references on the workflow's split (``_side_by_side.py``); the constant's MSE."""
    rows = sbs.reference_rows(res, split, list(dict.fromkeys(["constant", *models])), budget=budget, cores=cores,
                              bootstrap=bootstrap, threshold=threshold)
    constant_mse = next(round(r["mse"]["mean"], 4) for r in rows if r["model"] == "constant")
    return constant_mse, [r for r in rows if r["model"] in models]


def neural_row(res: Path, split: str, model: str, seeds: list[int], bootstrap: int, ensemble: bool) -> dict:
    """A model trained by the workflow: its test metrics per seed, and the ensemble of its seeds."""
    return sbs.neural_row(res, split, model, seeds, bootstrap, name=LABELS.get(model, model), ensemble=ensemble)


def legacy_entries(rows: list[dict]) -> dict:
    """The ``splits`` entries of the first benchmark version, for the workflow-trained models."""
    out = {}
    for r in rows:
        if "model_config" not in r:
            continue
        out[f"{r['split']}/{r['model_config']}"] = {
            "kind": r["kind"], "model": r["model_config"], "seeds": r["seeds"], "test_ci": r["ci"],
            "test_mse": r["mse"], "test_pearson": r["pearson"],
            "train_seconds": [round(60 * m, 1) for m in r["minutes_per_seed"]], "epochs": r["epochs"],
            "device": r["device"], "commit": r["commit"], "date": r["date"]}
    return out


def print_table(rows: list[dict], commit: str, published: dict, selected: dict) -> None:
    head = (f"{'split':<12} {'model':<21} {'seeds':>5} {'test CI':>15} {'test MSE':>15} {'valid CI':>8} "
            f"{'min/run':>7} {'const MSE':>9}  ensemble CI/MSE")
    print("\n" + head + "\n" + "-" * len(head))
    for r in rows:
        ens = r.get("ensemble")
        mark = "" if r["commit"] == commit else f"  (measured at {r['commit']})"
        if (selected.get(r["split"]) or {}).get("model") == r["model"]:
            mark = "  <- selected on validation" + mark
        vci = ((r.get("valid") or {}).get("ci") or {}).get("mean")
        vci = float("nan") if vci is None else vci
        shown = f"{ens['ci']:.3f} / {ens['mse']:.3f}" if ens else ""
        print(f"{r['split']:<12} {r['model']:<21} {len(r['seeds']):>5} {r['ci']['mean']:>7.3f} ± {r['ci']['sd']:.3f} "
              f"{r['mse']['mean']:>7.3f} ± {r['mse']['sd']:.3f} {vci:>8.3f} {r['minutes']:>7.1f} "
              f"{r['constant_mse']:>9.3f}  {shown}{mark}")
    print("\npublished setting-1 figures (test CI / MSE; selected on the test fold unless marked):")
    for k, v in published.items():
        print(f"  {k:<48} {v['ci']:.3f} / {v['mse']:.3f}")

if __name__ == "__main__":
    sys.exit(main())
