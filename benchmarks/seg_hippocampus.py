"""Hippocampus segmentation side by side: theraflow's recipe and nnU-Net v2 at the same wall-clock budget.

Fixed split by sorted file name: the first 160 cases train, the last 40 validate (the recipe was
chosen on these 40; no test part is read). Both models train for at most ``--minutes`` on this
machine, then segment the 40 validation cases with their own inference (theraflow: sliding window,
mirror TTA, largest component; nnU-Net: its ``perform_actual_validation``), and the same theraflow
code (:func:`theraflow.imaging.measure`) scores both on each scan's own grid: Dice per structure
and HD95. nnU-Net (``make venv-nnunet``) runs with its own planning and preprocessing (3d_fullres,
CPU), theraflow's split as its split file and a trainer stopped by the clock
(``benchmarks/nnunet_reference.py`` says what it changes).

Writes ``benchmarks/results/seg_hippocampus.json`` — ``side_by_side`` rows (model, minutes, dice_mean,
dice per structure, hd95_mm, the learning curve, commit and date; a run of one model keeps the other's
row) — and a PNG of both learning curves, and prints a table. theraflow's model stays in ``--out``
(default ``resources/models/seg_hippocampus``, git-ignored) so that

    theraflow seg infer --model resources/models/seg_hippocampus <folder of NIfTI> -o <out>

segments any folder with it.

    .venv/bin/python benchmarks/seg_hippocampus.py                      # both, 60 minutes each
    .venv/bin/python benchmarks/seg_hippocampus.py --models theraflow   # one part (the other row is kept)
    .venv/bin/python benchmarks/seg_hippocampus.py --skip-train --models theraflow   # re-score the kept model
    .venv/bin/python benchmarks/seg_hippocampus.py --minutes 2 --out /tmp/x --json /tmp/x.json   # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
NNUNET_DATASET_ID = 904  # a number of its own, away from the MSD task numbers a user may hold


def scores(table: pd.DataFrame, names: dict[int, str]) -> dict:
    """Mean Dice per structure, their mean, and HD95 (mm) from a measurements table."""
    return {"dice": {n: float(table[f"dice_{n}"].mean()) for n in names.values()},
            "dice_mean": float(table["dice_mean"].mean()),
            "hd95_mm": {n: float(table[f"hd95_mm_{n}"].mean()) for n in names.values()},
            "hd95_mm_mean": float(table["hd95_mm_mean"].mean()), "cases": int(len(table))}


SPLIT = {"mode": "fixed", "order": "sorted", "val_count": 40}  # first 160 by sorted name train, last 40 validate
INFERENCE = {"tta_lcc": {}, "plain": {"tta": False, "largest_component": False}}  # the recipe's, and without both


def hippocampus_cases(data: Path, label_values) -> tuple[pd.DataFrame, set, set]:
    """The 200 shared cases as a datalist, and the train and validation ids of :data:`SPLIT`."""
    from theraflow import imaging

    datalist, _ = imaging.make_datalist(images=data / "images", labels=data / "labels",
                                        label_values=list(label_values), on_error="stop")
    ids = sorted(datalist["id"])
    if len(ids) != 200:
        raise SystemExit(f"expected the 200 shared cases in {data}, found {len(ids)}")
    return datalist, set(ids[:160]), set(ids[160:])


def validation_cases(data: Path, model_config) -> tuple[dict, dict, pd.DataFrame, pd.DataFrame, set, set]:
    """(the model config, its label names, the datalist, the 40 validation cases, train ids, validation ids);
    a SystemExit naming ``data`` where it holds no images/ folder."""
    from theraflow.imaging.modelconfig import label_names, load_model_config

    if not (Path(data) / "images").is_dir():
        raise SystemExit(f"no data at {data} (expected images/ and labels/)")
    cfg = load_model_config(model_config)
    datalist, train_ids, val_ids = hippocampus_cases(Path(data), cfg["labels"])
    return cfg, label_names(cfg), datalist, datalist[datalist["id"].isin(val_ids)], train_ids, val_ids


def validation_curve(history: pd.DataFrame) -> list[dict]:
    """Validation Dice against training minutes from a history.tsv (empty when training ended before
    its first validation pass)."""
    if "val_dice" not in history:
        return []
    return [{"minutes": round(r.seconds / 60, 3), "epoch": int(r.epoch), "dice": float(r.val_dice)}
            for r in history.dropna(subset=["val_dice"]).itertuples()]


def score_inference(model_dir: Path, val_dl: pd.DataFrame, names: dict[int, str]) -> dict:
    """Segment the validation cases with and without TTA + largest component, score each with
    :func:`scores`; the measurements tables are written beside the model."""
    from theraflow import imaging
    from theraflow.io import write_table

    out = {}
    for variant, kw in INFERENCE.items():
        t0 = time.perf_counter()
        preds, failed = imaging.segment(model_dir, val_dl, model_dir / f"val_masks_{variant}", **kw)
        if len(failed):
            raise SystemExit(f"{model_dir}: inference failed on {len(failed)} validation cases: {failed}")
        table, _ = imaging.measure(preds, val_dl, labels=names)
        write_table(table, model_dir / f"val_measurements_{variant}.tsv")
        out[variant] = {**scores(table, names), "inference_seconds_per_case": (time.perf_counter() - t0) / len(val_dl)}
    return out


def run_theraflow(args, datalist, val_dl, names, split, val_ids) -> dict:
    from theraflow import imaging
    from theraflow.imaging.modelconfig import load_model_config

    out = Path(args.out)
    overrides = {"train.max_minutes": args.minutes}
    if args.epochs:
        overrides["train.max_epochs"] = args.epochs
    cfg = load_model_config(args.model_config, overrides)
    if not args.skip_train:
        print(f"theraflow: {cfg['network']['name']}, at most {cfg['train']['max_epochs']} epochs or "
              f"{args.minutes:g} minutes ...", flush=True)
        record = imaging.train(datalist, out, model_config=args.model_config, overrides=overrides,
                               cache_dir=args.cache, split=split)
    else:
        record = json.loads((out / "model.json").read_text())["record"]
    split_df = pd.read_csv(out / "split.tsv", sep="\t")
    assert set(split_df.loc[split_df["split"] == "val", "id"]) == val_ids, "split is not the last 40 by name"
    variants = score_inference(out, val_dl, names)
    history = pd.read_csv(out / "history.tsv", sep="\t")
    curve = validation_curve(history)
    main = variants["tta_lcc"]
    return {"model": "theraflow", "split": "validation (40 cases)", "minutes": round(history["seconds"].iloc[-1] / 60, 2),
            "dice_mean": main["dice_mean"], "dice": main["dice"], "hd95_mm": main["hd95_mm_mean"],
            "hd95_mm_per_structure": main["hd95_mm"], "curve": curve,
            "curve_measures": "mean Dice of the 40 validation scans (sliding window, no TTA) every val_every epochs",
            "recipe": os.path.relpath(args.model_config, REPO), "network": record.get("network"),
            "parameters": record.get("parameters"), "epochs": int(len(history)), "precision": record.get("precision"),
            "inference": "sliding window, mirror TTA over 3 axes, largest component per class",
            "without_tta_and_lcc": {k: variants["plain"][k] for k in ("dice", "dice_mean", "hd95_mm_mean")},
            "inference_seconds_per_case": main["inference_seconds_per_case"], "kept": os.path.relpath(out, REPO)}


def run_nnunet(args, datalist, val_dl, names, train_ids, val_ids) -> dict:
    from theraflow import imaging
    from theraflow.imaging.nnunet_export import export_nnunet
    from theraflow.io import write_table

    work = Path(args.nnunet_work)
    raw = work / "raw"
    labels = {name: value for value, name in names.items()}
    cases = datalist.to_dict("records")
    exported = export_nnunet(cases, raw, dataset_id=NNUNET_DATASET_ID, name="Hippocampus", labels=labels,
                             train_ids=sorted(train_ids), val_ids=sorted(val_ids))
    report_path = work / "nnunet_run.json"
    if not args.skip_train:
        cmd = [sys.executable, str(REPO / "benchmarks" / "nnunet_reference.py"), "--raw", str(raw),
               "--work", str(work), "--dataset-id", str(NNUNET_DATASET_ID), "--minutes", str(args.minutes),
               "--iterations", str(args.nnunet_iterations), "--val-iterations", str(args.nnunet_val_iterations),
               "--threads", str(args.threads), "--report", str(report_path)]
        print(f"nnU-Net v2: plan, preprocess, train for at most {args.minutes:g} minutes, predict ...", flush=True)
        proc = subprocess.run(cmd, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        if proc.returncode:
            raise SystemExit(f"nnU-Net run failed (exit {proc.returncode}); its output is above")
    run = json.loads(report_path.read_text())
    case_ids = json.loads(Path(exported["folder"], "case_ids.json").read_text())
    folder = Path(run["validation_folder"])
    preds = pd.DataFrame([{"id": case_ids[f.name[: -len(".nii.gz")]]["id"], "mask": str(f)}
                          for f in sorted(folder.glob("*.nii.gz"))], columns=["id", "mask"])
    missing = sorted(val_ids - set(preds["id"]))
    if missing:
        raise SystemExit(f"nnU-Net wrote no prediction for {len(missing)} validation cases: {missing[:5]}")
    table, _ = imaging.measure(preds, val_dl, labels=names)
    write_table(table, work / "val_measurements_nnunet.tsv")
    s = scores(table, names)
    curve = [{"minutes": round(c["minutes"], 3), "epoch": c["epoch"], "dice": c["pseudo_dice"]} for c in run["curve"]]
    return {"model": "nnunet", "split": "validation (40 cases)", "minutes": round(run["seconds"]["train"] / 60, 2),
            "dice_mean": s["dice_mean"], "dice": s["dice"], "hd95_mm": s["hd95_mm_mean"],
            "hd95_mm_per_structure": s["hd95_mm"], "curve": curve,
            "curve_measures": "nnU-Net's pseudo Dice (validation patches, every epoch); the final point of the "
                              "row is the whole-scan Dice of its own inference, scored by theraflow code",
            "nnunetv2": run["nnunetv2"], "plan": run["plan"], "trainer": run["trainer"], "seconds": run["seconds"],
            "inference": "nnU-Net's perform_actual_validation: sliding window, Gaussian, mirroring",
            "epochs": run["trainer"]["epochs_run"], "processes_for_augmentation": run["processes_for_augmentation"]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", choices=("theraflow", "nnunet"), default=["theraflow", "nnunet"])
    p.add_argument("--minutes", type=float, default=60.0, help="training budget of each model (wall clock)")
    p.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "hippocampus"))
    p.add_argument("--model-config", default=str(REPO / "models" / "seg_unet_hippocampus"))
    p.add_argument("--out", default=str(REPO / "resources" / "models" / "seg_hippocampus"))
    p.add_argument("--cache", default=str(REPO / "resources" / "imaging_cache"))
    p.add_argument("--nnunet-work", default="/tmp/tf-nnunet", help="nnU-Net's raw/preprocessed/results folders")
    p.add_argument("--nnunet-iterations", type=int, default=50, help="training iterations per nnU-Net epoch")
    p.add_argument("--nnunet-val-iterations", type=int, default=10, help="pseudo-Dice batches per nnU-Net epoch")
    p.add_argument("--json", default=str(REPO / "benchmarks" / "results" / "seg_hippocampus.json"))
    p.add_argument("--epochs", type=int, help="override theraflow's train.max_epochs")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--skip-train", action="store_true", help="score the models already trained")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from _common import learning_curves, machine_info, merge_rows, provenance, write_json

    data = Path(args.data)
    if not (data / "images").is_dir():
        print(f"no data at {data} (expected images/ and labels/)", file=sys.stderr)
        return 2
    if "nnunet" in args.models and not args.skip_train:
        try:
            import nnunetv2  # noqa: F401
        except ImportError:
            p.error("nnU-Net v2 is not installed: `make venv-nnunet` installs it (torch pinned), or --models theraflow")
    _, names, datalist, val_dl, train_ids, val_ids = validation_cases(data, args.model_config)
    split = SPLIT
    load = os.getloadavg()[0]

    rows = []
    for model in args.models:
        row = (run_theraflow(args, datalist, val_dl, names, split, val_ids) if model == "theraflow"
               else run_nnunet(args, datalist, val_dl, names, train_ids, val_ids))
        rows.append({**row, "budget_minutes": args.minutes, **provenance()})

    out = Path(args.json)
    old = json.loads(out.read_text()) if out.exists() else {}
    side = merge_rows(old.get("side_by_side", []), rows, ("model",))
    by = {r["model"]: r for r in side}
    lead = None
    if {"theraflow", "nnunet"} <= set(by):
        t, n = by["theraflow"], by["nnunet"]
        lead = {"theraflow_dice_mean": t["dice_mean"], "nnunet_dice_mean": n["dice_mean"],
                "theraflow_leads": bool(t["dice_mean"] > n["dice_mean"]),
                "same_budget": t["budget_minutes"] == n["budget_minutes"],
                "same_commit": t["commit"] == n["commit"]}
    report = {
        "benchmark": "seg_hippocampus",
        "command": "python benchmarks/seg_hippocampus.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "data": "../shared/data/hippocampus (200 MSD Task04 crops)",
        "split": "fixed, sorted by file name: first 160 train, last 40 validation",
        "scored_by": "theraflow.imaging.measure on each scan's own grid (Dice, HD95 per structure)",
        "machine": machine_info(torch_threads=torch.get_num_threads(), load_average_at_start=round(load, 2)),
        "target": {"mean_dice": 0.89, "theraflow_met": bool(by.get("theraflow", {}).get("dice_mean", 0) >= 0.89)},
        "comparison": lead,
        "side_by_side": side,
    }
    write_json(report, out)
    learning_curves(side, out.with_suffix(".png"), key="dice", ylabel="validation Dice (mean of 2 structures)",
                    title="Hippocampus: theraflow vs nnU-Net v2 at equal wall clock")

    print(f"\n{'model':10s} {'minutes':>8s} {'anterior':>9s} {'posterior':>9s} {'mean':>7s} {'HD95 mm':>8s}  commit")
    for r in side:
        print(f"{r['model']:10s} {r['minutes']:8.1f} {r['dice']['anterior']:9.4f} {r['dice']['posterior']:9.4f} "
              f"{r['dice_mean']:7.4f} {r['hd95_mm']:8.3f}  {r['commit']}{' (dirty)' if r.get('dirty') else ''}")
    if lead:
        print(f"theraflow {'leads' if lead['theraflow_leads'] else 'does NOT lead'} nnU-Net at "
              f"{by['theraflow']['budget_minutes']:g} / {by['nnunet']['budget_minutes']:g} minutes")
    print(f"target mean Dice 0.89 for theraflow {'met' if report['target']['theraflow_met'] else 'not met'}; "
          f"wrote {out} and {out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
