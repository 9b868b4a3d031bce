"""Davis benchmark, side by side: theraflow's recipe against reference designs, one run, same splits.

Every model sees the same split files, selects on validation carved from the training part (the
test part is evaluated once, at the end) and gets the same wall-clock budget per run (the config's
``dti.max_minutes``, or ``--max-minutes``) on the same cores:

- ``theraflow``: the recipe of ``config/davis.yaml`` (``models/dti_hybrid``), through the workflow;
- ``graphdta_gin``: GraphDTA's GIN design (``models/graphdta_gin``), from its paper, through the
  same workflow and training runtime;
- ``fingerprint``: LightGBM on Morgan bits + residue composition (``theraflow.pairs.baselines``),
  early-stopped on validation, in this process (``_side_by_side.py``, shared with every pair benchmark);
- ``constant``: the training mean, the floor of every split.

It writes ``benchmarks/results/dti_davis.json`` — the per-model ``splits`` entries of earlier
versions, and ``side_by_side`` rows (model, split, CI / MSE / Pearson mean ± sd over seeds with
bootstrap intervals, minutes, the constant's MSE on that split, commit and date) — and a PNG of the
learning curves (validation CI against minutes). Run in parts (``--models``, ``--splits``): rows
measured before are kept, and each row says the commit it was measured at.

    .venv/bin/python benchmarks/dti_davis.py                                   # everything (hours)
    .venv/bin/python benchmarks/dti_davis.py --models theraflow --splits setting1
    .venv/bin/python benchmarks/dti_davis.py --models fingerprint constant     # minutes
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
PUBLISHED = {  # Davis setting-1 test fold (CI / MSE), as cited in ../shared/data/README.md and the GTB-DTI re-run
    "DeepDTA": {"ci": 0.878, "mse": 0.261},
    "GraphDTA GIN": {"ci": 0.893, "mse": 0.229},
    "GraphDTA GAT_GCN": {"ci": 0.881, "mse": 0.245},
    "MGraphDTA": {"ci": 0.900, "mse": 0.207},
    "GraphDTA GIN, GTB-DTI re-run (shared settings)": {"ci": 0.871, "mse": 0.231},
    "MGraphDTA, GTB-DTI re-run (shared settings)": {"ci": 0.882, "mse": 0.218},
}
TARGET = {"floor": {"ci": 0.893, "mse": 0.229}, "goal": {"ci": 0.900, "mse": 0.215}, "minutes_per_seed": 15,
          "cores": 2}
LABELS = {"dti_hybrid": "theraflow", "graphdta_gin": "graphdta_gin"}  # model config -> side-by-side name
REFERENCES = ("fingerprint", "constant")  # fitted here on the workflow's split files


def model_entries(dti: dict) -> list[tuple[str, list[int] | None]]:
    return [(m, None) if isinstance(m, str) else (m["name"], m.get("seeds")) for m in dti["models"]]


def seeds_of(dti: dict, split: dict, own: list[int] | None) -> list[int]:
    return own or split.get("seeds") or dti.get("seeds") or [0]


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_run_arguments(ap, config="davis.yaml", workdir="/tmp/theraflow-davis-benchmark", out="dti_davis.json",
                      what="Davis directory")
    ap.add_argument("--models", nargs="+", help="side-by-side names to run (default: all); "
                    "theraflow, graphdta_gin, fingerprint, constant")
    ap.add_argument("--ref-seeds", type=int, nargs="+", help="seeds of the reference models (default: the config's)")
    ap.add_argument("--plot", help="learning-curve PNG (default: the --out path with .png)")
    return ap, ap.parse_args(argv)


def main(argv=None) -> int:
    ap, args = parse_args(argv)
    config_path, cfg, dti, ds_name, budget, bootstrap, split_cfgs, wanted_splits = common.load_task_config(ap, args,
                                                                                                            "dti")
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
        own = (args.seeds if m == recipe else args.ref_seeds) or own
        neural.append({"name": m, **({"seeds": own} if own else {})})
    dti["models"] = neural or entries[:1]  # the workflow needs a model to resolve; none is trained then
    out = Path(args.out)
    report = sbs.earlier_report(ap, out)  # before any work: a bad --out stops here, not after training
    work = common.prepare_workdir(args, cfg)
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
    report.update({
        "dataset": ds_name, "models": [m for m, _ in entries], "config": common.config_label(config_path),
        "max_minutes_per_seed": budget, "workflow_wall_seconds": round(wall, 1), "target": TARGET,
        "published_setting1": PUBLISHED, "machine": common.machine_info(cores_used=args.cores),
        "protocol": ("one script, the workflow's split files for every model; selection on the validation part "
                     "carved from the training part; the test part read once after training; the same "
                     f"{budget}-minute budget per training run on {args.cores} cores; reference models run "
                     "fewer seeds where the config says so"),
        "side_by_side": side,
        "commits": sorted({r["commit"] for r in side}),
    })
    report["splits"] = {**report.get("splits", {}), **legacy_entries(rows)}
    s1 = next((r for r in side if r["model"] == "theraflow" and r["kind"] == "setting1"), None)
    if s1:
        single = s1["ci"]["mean"], s1["mse"]["mean"]
        report["target_met"] = {k: bool(single[0] >= v["ci"] and single[1] <= v["mse"]) for k, v in
                                TARGET.items() if k in ("floor", "goal")}
    common.write_json(report, out)
    plot = Path(args.plot) if args.plot else out.with_suffix(".png")
    common.learning_curves(side, plot, key="valid_ci", ylabel="validation CI",
                    title="Davis: validation CI against training time (seed 0 of each model)")
    print_table(side, stamp["commit"])
    if s1:
        print(f"\ntheraflow single model, setting-1: CI {s1['ci']['mean']:.3f}, MSE {s1['mse']['mean']:.3f} -- floor "
              f"(CI >= {TARGET['floor']['ci']}, MSE <= {TARGET['floor']['mse']}) "
              f"{'met' if report['target_met']['floor'] else 'NOT met'}, goal (CI >= {TARGET['goal']['ci']}, "
              f"MSE <= {TARGET['goal']['mse']}) {'met' if report['target_met']['goal'] else 'NOT met'}")
    print(f"wrote {out} and {plot}")
    return 0


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


def print_table(rows: list[dict], commit: str) -> None:
    head = (f"{'split':<12} {'model':<13} {'seeds':>5} {'test CI':>15} {'test MSE':>15} {'Pearson':>7} "
            f"{'min/run':>7} {'const MSE':>9}  ensemble CI/MSE")
    print("\n" + head + "\n" + "-" * len(head))
    for r in rows:
        ens = r.get("ensemble")
        mark = "" if r["commit"] == commit else f"  (measured at {r['commit']})"
        pear = (r.get("pearson") or {}).get("mean")
        pear = float("nan") if pear is None else pear
        shown = f"{ens['ci']:.3f} / {ens['mse']:.3f}" if ens else ""
        print(f"{r['split']:<12} {r['model']:<13} {len(r['seeds']):>5} {r['ci']['mean']:>7.3f} ± {r['ci']['sd']:.3f} "
              f"{r['mse']['mean']:>7.3f} ± {r['mse']['sd']:.3f} {pear:>7.3f} {r['minutes']:>7.1f} "
              f"{r['constant_mse']:>9.3f}  {shown}{mark}")
    print("\npublished setting-1 figures (test CI / MSE; selected on the test fold unless marked):")
    for k, v in PUBLISHED.items():
        print(f"  {k:<48} {v['ci']:.3f} / {v['mse']:.3f}")



if __name__ == "__main__":
    sys.exit(main())
