"""Recipe probes for the hippocampus model: variants of models/seg_unet_hippocampus at equal wall clock.

Issue 12 asks for a recipe chosen from measured steps: learning curves at equal CPU time, not epochs.
Each variant below is the base recipe with one change; every variant trains for the same ``--minutes``
on the same 160/40 split as ``benchmarks/seg_hippocampus.py`` (sorted file names; only the 40
validation cases are read), one after the other, never two at once. Each row holds the curve (mean
whole-scan validation Dice every ``val_every`` epochs, no TTA) and the final validation Dice without
and with the recipe's inference (mirror TTA, largest component), scored by theraflow's measure code.

    .venv/bin/python benchmarks/seg_recipe.py --minutes 10                     # every variant
    .venv/bin/python benchmarks/seg_recipe.py --minutes 10 --variants unet dynunet_ds

Writes ``benchmarks/results/seg_recipe.json`` (``probes``: one row per variant and budget, each with
its commit and date) and a PNG of the curves. The models stay under ``--out`` (default /tmp).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

# name -> (what changes, function of the base config returning the variant's config)
VARIANTS = {
    "unet": ("the base recipe: MONAI UNet, first block strided (no full-resolution encoder features)",
             lambda c: c),
    "unet_fullres": ("UNet with a stride-1 first block: full-resolution features reach the decoder",
                     lambda c: {**c, "network": {"name": "unet", "params": {
                         **c["network"]["params"], "strides": [1, 2, 2, 2]}}}),
    "dynunet_ds": ("nnU-Net-like DynUNet: 5 stages 16-256 filters, stride-1 first stage, deep supervision (2 heads)",
                   lambda c: {**c, "network": {"name": "dynunet", "params": {
                       "kernel_size": [3, 3, 3, 3, 3], "strides": [1, 2, 2, 2, 2],
                       "upsample_kernel_size": [2, 2, 2, 2], "filters": [16, 32, 64, 128, 256],
                       "norm_name": "instance", "res_block": False, "deep_supervision": True,
                       "deep_supr_num": 2}}}),
    "unet_patch32": ("crops of 32x48x32 centred on the labels half the time (nnU-Net samples 40x56x40 patches; this "
                     "UNet needs multiples of 16) instead of whole 48x64x48 volumes: 3x fewer voxels per step; "
                     "inference stays whole-volume",
                     lambda c: {**c, "train": {**c["train"], "patch_size": [32, 48, 32], "sampling": "foreground"},
                                "infer": {**c.get("infer", {}), "roi_size": [48, 64, 48]}}),
    "unet_sgd_poly": ("nnU-Net's optimiser on the base UNet: SGD, Nesterov momentum 0.99, lr 0.01, poly schedule",
                      lambda c: {**c, "train": {**c["train"], "optimizer": "sgd", "lr": 0.01, "momentum": 0.99,
                                                "schedule": "poly", "weight_decay": 3.0e-5}}),
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    p.add_argument("--minutes", type=float, default=10.0, help="training budget of each variant (wall clock)")
    p.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "hippocampus"))
    p.add_argument("--model-config", default=str(REPO / "models" / "seg_unet_hippocampus" / "config.yaml"))
    p.add_argument("--out", default="/tmp/theraflow-seg-probes", help="where the probe models are kept")
    p.add_argument("--cache", default=str(REPO / "resources" / "imaging_cache"))
    p.add_argument("--json", default=str(REPO / "benchmarks" / "results" / "seg_recipe.json"))
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--skip-train", action="store_true", help="score the variants already trained in --out")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from _common import learning_curves, machine_info, merge_rows, provenance, write_json
    from seg_hippocampus import SPLIT, hippocampus_cases, score_inference, validation_curve

    from theraflow import imaging
    from theraflow.imaging.modelconfig import label_names, resolve

    data = Path(args.data)
    if not (data / "images").is_dir():
        print(f"no data at {data} (expected images/ and labels/)", file=sys.stderr)
        return 2
    base = yaml.safe_load(Path(args.model_config).read_text())
    names = label_names(resolve(base))
    datalist, _, val_ids = hippocampus_cases(data, base["labels"])
    val_dl = datalist[datalist["id"].isin(val_ids)]

    rows = []
    for name in args.variants:
        what, change = VARIANTS[name]
        cfg = change(copy.deepcopy(base))
        cfg["train"] = {**cfg["train"], "max_minutes": args.minutes}
        out = Path(args.out) / f"{name}_{args.minutes:g}min"
        print(f"\n== {name}: {what} ({args.minutes:g} minutes)", flush=True)
        load = os.getloadavg()[0]
        if args.skip_train:
            record = json.loads((out / "model.json").read_text())["record"]
        else:
            record = imaging.train(datalist, out, model_config=cfg, cache_dir=args.cache, split=SPLIT)
        history = pd.read_csv(out / "history.tsv", sep="\t")
        curve = validation_curve(history)
        final = score_inference(out, val_dl, names)
        rows.append({"variant": name, "model": name, "split": f"{args.minutes:g} minutes", "what": what,
                     "budget_minutes": args.minutes, "network": cfg["network"], "parameters": record.get("parameters"),
                     "minutes": round(history["seconds"].iloc[-1] / 60, 2), "epochs": int(len(history)),
                     "seconds_per_epoch": round(float(history["seconds"].diff().median()), 1), "curve": curve,
                     "dice_mean_plain": final["plain"]["dice_mean"], "dice_plain": final["plain"]["dice"],
                     "dice_mean": final["tta_lcc"]["dice_mean"], "dice": final["tta_lcc"]["dice"],
                     "hd95_mm": final["tta_lcc"]["hd95_mm_mean"], "load_average_at_start": round(load, 2),
                     **provenance()})
        r = rows[-1]
        print(f"{name}: {r['epochs']} epochs ({r['seconds_per_epoch']} s each), val Dice {r['dice_mean_plain']:.4f} "
              f"plain, {r['dice_mean']:.4f} with TTA + largest component", flush=True)

        out_json = Path(args.json)
        old = json.loads(out_json.read_text()) if out_json.exists() else {}
        probes = merge_rows(old.get("probes", []), [r], ("variant", "budget_minutes"))
        write_json({"benchmark": "seg_recipe", "base": os.path.relpath(args.model_config, REPO),
                    "data": "../shared/data/hippocampus: first 160 by sorted name train, last 40 validate",
                    "measures": "mean Dice of anterior and posterior on the 40 validation scans; the curve without "
                                "TTA, dice_mean with the recipe's inference (mirror TTA, largest component)",
                    "machine": machine_info(torch_threads=torch.get_num_threads()), "probes": probes}, out_json)
        learning_curves(probes, out_json.with_suffix(".png"), key="dice", ylabel="validation Dice (no TTA)",
                        title="Hippocampus recipe probes at equal wall clock")

    print(f"\n{'variant':15s} {'budget':>6s} {'epochs':>6s} {'s/epoch':>7s} {'plain':>7s} {'TTA+LCC':>7s}  commit")
    for r in probes:
        print(f"{r['variant']:15s} {r['budget_minutes']:6g} {r['epochs']:6d} {r['seconds_per_epoch']:7.1f} "
              f"{r['dice_mean_plain']:7.4f} {r['dice_mean']:7.4f}  {r['commit']}{' (dirty)' if r['dirty'] else ''}")
    print(f"wrote {out_json} and {out_json.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
