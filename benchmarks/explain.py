"""Predictions a scientist can check: attributions, calibrated intervals and segmentation uncertainty, measured.

Three parts, each run on its own or together (``--parts``), each writing its fields into
``benchmarks/results/explain.json`` (a part run later keeps the others' fields; every part records
its commit and date):

- ``substructure``: a GIN trained to say whether a molecule of RDKit's NCI sample holds a nitro group
  (validation carved from training, the test molecules read once); integrated-gradient attributions
  of the positive test molecules; ``substructure_overlap`` = share whose top-3 atoms lie mostly on a
  nitro group (``theraflow.explain.sanity``).
- ``calibration``: Davis setting-1 with the benchmark model (``config/davis.yaml``'s recipe, 3 seeds,
  trained by ``benchmarks/dti_davis.py`` in its workdir — run here first when its predictions are
  missing); the ensemble spread's variance scaling fitted on the validation pairs, ``coverage_80`` and
  ``coverage_95`` on the test fold, the Spearman correlation of |error| with the spread, a coverage PNG.
- ``segmentation``: the hippocampus model kept by ``benchmarks/seg_hippocampus.py`` segments its 40
  validation cases with mirror TTA; ``seg_uncertainty_dice_spearman`` = Spearman(uncertainty score,
  mean Dice), the QC threshold chosen on those cases, and which of the worst cases it flags; the
  imaging report of those cases is written beside the model.

    .venv/bin/python benchmarks/explain.py                          # all three parts
    .venv/bin/python benchmarks/explain.py --parts substructure segmentation
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
PARTS = ("substructure", "calibration", "segmentation")


def run_substructure(args) -> dict:
    import tempfile

    from theraflow.chem import featurize
    from theraflow.explain import explain_pairs, nci_smiles, substructure_overlap, substructure_pairs
    from theraflow.pairs.data import Molecules, build_pair_data
    from theraflow.pairs.splits import make_split
    from theraflow.pairs.task import task_spec
    from theraflow.pairs.train import train_model

    pairs = substructure_pairs(nci_smiles(), "nitro", seed=0)
    spec = task_spec("dti", "binary", ("0", "1"))  # holds a nitro group or not: a binary label
    res = featurize(pairs["smiles"].tolist(), "default")
    ps = build_pair_data(spec, pairs, Molecules({d: i for i, d in enumerate(pairs["drug_id"])}, res.graphs))
    part = make_split(pairs, "random", spec.task, seed=0).to_numpy()
    cfg = {"name": "nitro", "drug_encoder": {"type": "gin", "hidden": 64, "layers": 3, "dropout": 0.0,
                                             "pool": "add+max"},
           "target_encoder": {"type": "id", "id": {"dim": 4}}, "head": {"hidden": [64], "dropout": 0.0, "proj": 32},
           "training": {"max_epochs": 30, "batch_mode": "random", "batch_size": 64, "threads": args.threads,
                        "patience": 30, "max_minutes": 3, "lr": 2e-3}}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        meta = train_model(ps, part, cfg, Path(tmp) / "m", seed=0, progress=False)
        test = pairs[(part == "test") & (pairs["label"] == 1)].rename(columns={"drug_id": "id"})
        attrs = explain_pairs(test, [Path(tmp) / "m"], progress=False)
    ov = substructure_overlap(attrs, "nitro")
    print(f"substructure: {ov['overlap']:.3f} of {ov['molecules']} positive test molecules have their top "
          f"{ov['top_k']} atoms mostly on the nitro group (top-1 atom on it: {ov['top1_on_pattern']:.3f})")
    return {"substructure_overlap": ov["overlap"], "substructure": {
        **ov, "pattern": "nitro", "molecules": int(len(pairs)), "positives": int(pairs["label"].sum()),
        "model": cfg, "epochs": meta.get("epochs_trained"), "seconds": round(time.perf_counter() - t0, 1),
        "data": "rdkit/Data/NCI/first_5K.smi; label = holds a nitro group; 2 negatives per positive"}}


def run_calibration(args) -> dict:
    from theraflow.explain.calibration import calibrate_ensemble

    run = Path(args.davis_workdir) / "results" / "dti" / "davis" / "setting1" / args.davis_model
    files = [run / f"seed{s}" / "predictions.parquet" for s in args.davis_seeds]
    if not all(f.exists() for f in files):
        cmd = [sys.executable, str(REPO / "benchmarks" / "dti_davis.py"), "--models", "theraflow", "--splits",
               "setting1", "--seeds", *map(str, args.davis_seeds), "--workdir", args.davis_workdir]
        print("calibration: training the Davis ensemble first:", " ".join(cmd), flush=True)
        if subprocess.run(cmd).returncode:
            raise SystemExit("the Davis benchmark failed; its output is above")
    png = Path(args.out).with_name("explain_coverage.png")
    s = calibrate_ensemble([f.parent for f in files], out_png=png,
                           title=f"Davis setting-1 test fold, {len(files)}-seed ensemble")
    print(f"calibration: 80 % intervals cover {s['coverage']['0.8']:.3f}, 95 % cover {s['coverage']['0.95']:.3f} of "
          f"{s['test_pairs']} test pairs (uncalibrated {s['coverage_uncalibrated']['0.8']:.3f} / "
          f"{s['coverage_uncalibrated']['0.95']:.3f}); Spearman(|error|, spread) {s['spearman_abs_error_sd']:.3f}")
    return {"coverage_80": s["coverage"]["0.8"], "coverage_95": s["coverage"]["0.95"],
            "calibration": {**s, "model": args.davis_model, "seeds": args.davis_seeds, "predictions": str(run),
                            "fitted_on": "validation pairs carved from the DeepDTA train folds",
                            "measured_on": "the setting-1 test fold", "plot": str(png.relative_to(REPO))}}


def run_segmentation(args) -> dict:
    import pandas as pd

    from theraflow import imaging
    from theraflow.imaging.bundle import load_bundle
    from theraflow.imaging.modelconfig import label_names
    from theraflow.imaging.qc import apply_qc, fit_qc
    from theraflow.io import write_table

    model = Path(args.seg_model)
    if not (model / "model.json").exists():
        raise SystemExit(f"no segmentation model in {model}: run benchmarks/seg_hippocampus.py --models theraflow")
    _, cfg, _ = load_bundle(model)
    names = label_names(cfg)
    data = Path(args.seg_data)
    datalist, _ = imaging.make_datalist(images=data / "images", labels=data / "labels",
                                        label_values=list(cfg["labels"]), on_error="stop")
    split = pd.read_csv(model / "split.tsv", sep="\t")
    val_dl = datalist[datalist["id"].isin(set(split.loc[split["split"] == "val", "id"]))]
    out = model / "val_uncertainty"
    t0 = time.perf_counter()
    preds, failed = imaging.segment(model, val_dl, out / "masks")
    if len(failed):
        raise SystemExit(f"inference failed on {len(failed)} validation cases: {failed}")
    table, _ = imaging.measure(preds, val_dl, labels=names)
    table["split"] = "val"
    qc = fit_qc(table)
    table = apply_qc(table, qc["threshold"])
    write_table(table, out / "measurements.tsv")
    ov = imaging.overlays(preds, out / "overlays", labels=names, datalist=val_dl, measurements=table)
    imaging.build_report(table, out / "report.html", labels=names, model=model, overlays=ov,
                         title="hippocampus validation cases: uncertainty and QC")
    worst = table.sort_values("dice_mean").head(qc["poor_cases"])
    print(f"segmentation: Spearman(uncertainty, Dice) {qc['spearman_uncertainty_dice']:.3f} over {qc['cases']} "
          f"validation cases; threshold {qc['threshold']:.4g} flags {qc['flagged']}, {qc['poor_flagged']} of the "
          f"{qc['poor_cases']} worst; report {out / 'report.html'}")
    return {"seg_uncertainty_dice_spearman": qc["spearman_uncertainty_dice"], "segmentation": {
        **qc, "model": str(model.relative_to(REPO)) if model.is_relative_to(REPO) else str(model),
        "worst_cases": [{"id": r["id"], "dice_mean": float(r["dice_mean"]), "uncertainty": float(r["uncertainty"]),
                         "flagged": bool(r["qc_flag"])} for r in worst.to_dict("records")],
        "cases": [{"id": r["id"], "dice_mean": float(r["dice_mean"]), "uncertainty": float(r["uncertainty"])}
                  for r in table.to_dict("records")],
        "uncertainty": "mean voxel-wise spread (max over classes of the sd over 8 mirror passes) over the "
                       "region any pass labels as hippocampus",
        "seconds": round(time.perf_counter() - t0, 1),
        "report": str((out / "report.html").relative_to(REPO)) if out.is_relative_to(REPO) else str(out / "report.html")}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    ap.add_argument("--davis-workdir", default="/tmp/theraflow-davis-benchmark",
                    help="benchmarks/dti_davis.py's workdir (its setting-1 predictions are read from there)")
    ap.add_argument("--davis-model", default="dti_hybrid", help="the recipe of config/davis.yaml to calibrate")
    ap.add_argument("--davis-seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--seg-model", default=str(REPO / "resources" / "models" / "seg_hippocampus"))
    ap.add_argument("--seg-data", default=str(REPO.parent / "shared" / "data" / "hippocampus"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "explain.json"))
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from _common import machine_info, provenance, write_json

    out = Path(args.out)
    report = json.loads(out.read_text()) if out.exists() else {"benchmark": "explain"}
    runners = {"substructure": run_substructure, "calibration": run_calibration, "segmentation": run_segmentation}
    for part in args.parts:
        fields = runners[part](args)
        detail = next(k for k in fields if isinstance(fields[k], dict))
        fields[detail].update(provenance())
        report.update(fields)
        report["machine"] = machine_info(torch_threads=torch.get_num_threads())
        write_json(report, out)  # after each part: a later failure keeps what was measured
    print("\n" + "\n".join(f"{k:32s} {report[k]:.4f}" for k in
                           ("substructure_overlap", "coverage_80", "coverage_95", "seg_uncertainty_dice_spearman")
                           if isinstance(report.get(k), float)))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
