"""Hippocampus segmentation benchmark: theraflow's pipeline vs a plain MONAI loop on the same machine.

Fixed split by sorted file name: the first 160 cases train, the last 40 validate (never
used to choose anything: the last epoch's weights are kept). Writes
``benchmarks/results/seg_hippocampus.json`` and prints a table; the trained model stays in
``--out`` (default ``resources/models/seg_hippocampus``, git-ignored) so that

    theraflow seg infer --model resources/models/seg_hippocampus <folder of NIfTI> -o <out>

segments any folder with it.

    python benchmarks/seg_hippocampus.py                       # train, evaluate, compare
    python benchmarks/seg_hippocampus.py --skip-train          # evaluate the kept model again
    python benchmarks/seg_hippocampus.py --epochs 2 --baseline-epochs 1 --out /tmp/x   # smoke run
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]


def plain_monai_loop(train_items: list[dict], cfg: dict, epochs: int, workers: int) -> dict:
    """The tutorial-style loop: uncached monai.data.Dataset, intensity scaling + padding, Adam, Dice+CE, fp32."""
    import monai.transforms as mt
    from monai.data import DataLoader, Dataset
    from monai.losses import DiceCELoss

    from theraflow.nn import build_seg_net

    torch.manual_seed(0)
    pad = cfg["train"]["patch_size"]
    tf = mt.Compose([
        mt.LoadImaged(keys=["image", "label"], image_only=True, ensure_channel_first=True),
        mt.ScaleIntensityd(keys=["image"]),
        mt.SpatialPadd(keys=["image", "label"], spatial_size=pad),
        mt.CenterSpatialCropd(keys=["image", "label"], roi_size=pad),
    ])
    ds = Dataset([{"image": i["image"], "label": i["label"]} for i in train_items], tf)
    loader = DataLoader(ds, batch_size=cfg["train"]["batch_size"], shuffle=True, num_workers=workers)
    net = build_seg_net(cfg["network"], out_channels=len(cfg["labels"]))
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    times, losses = [], []
    for _ in range(epochs):
        t0 = time.perf_counter()
        net.train()
        total = 0.0
        for batch in loader:
            opt.zero_grad()
            loss = loss_fn(net(batch["image"]), batch["label"])
            loss.backward()
            opt.step()
            total += float(loss)
        times.append(time.perf_counter() - t0)
        losses.append(total / len(loader))
        print(f"  plain MONAI loop epoch {len(times)}: {times[-1]:.1f} s, loss {losses[-1]:.3f}", flush=True)
    steady = times[1:] or times  # the first epoch includes one-time start-up (oneDNN kernels, worker start)
    return {"epochs_timed": epochs, "seconds_per_epoch": float(np.median(steady)), "epoch_seconds": times,
            "cases_per_second": len(ds) / float(np.median(steady)), "loss": losses,
            "what": "uncached monai.data.Dataset (LoadImaged, ScaleIntensityd, SpatialPadd), same network, "
                    "Adam 1e-3, DiceCELoss, fp32, same batch size and workers, denormals flushed as in theraflow"}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "hippocampus"))
    p.add_argument("--model-config", default=str(REPO / "models" / "seg_unet_hippocampus"))
    p.add_argument("--out", default=str(REPO / "resources" / "models" / "seg_hippocampus"))
    p.add_argument("--cache", default=str(REPO / "resources" / "imaging_cache"))
    p.add_argument("--json", default=str(REPO / "benchmarks" / "results" / "seg_hippocampus.json"))
    p.add_argument("--epochs", type=int, help="override train.max_epochs")
    p.add_argument("--baseline-epochs", type=int, default=3, help="epochs of the plain MONAI loop to time")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--skip-train", action="store_true", help="evaluate the model already in --out")
    p.add_argument("--skip-baseline", action="store_true")
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # as theraflow's training does; for both loops, so they compare fairly
    from theraflow import imaging
    from theraflow.imaging.modelconfig import load_model_config
    from theraflow.imaging.train import device_name
    from theraflow.io import write_json, write_table

    data = Path(args.data)
    if not (data / "images").is_dir():
        print(f"no data at {data} (expected images/ and labels/)", file=sys.stderr)
        return 2
    out = Path(args.out)
    overrides = {"train.max_epochs": args.epochs} if args.epochs else None
    cfg = load_model_config(args.model_config, overrides)
    names = {k: v for k, v in cfg["labels"].items() if k}
    datalist, rejects = imaging.make_datalist(images=data / "images", labels=data / "labels",
                                              label_values=list(cfg["labels"]), on_error="stop")
    write_table(datalist, out / "datalist.tsv")
    split = {"mode": "fixed", "order": "sorted", "val_count": 40}
    ids = sorted(datalist["id"])
    assert len(ids) == 200, f"expected the 200 shared cases, found {len(ids)}"
    train_ids, val_ids = set(ids[:160]), set(ids[160:])
    load = os.getloadavg()[0]

    baseline = None
    if not args.skip_baseline and args.baseline_epochs > 0:
        print(f"plain MONAI loop, {args.baseline_epochs} epochs on the 160 training cases ...", flush=True)
        items = imaging.datalists.items(datalist[datalist["id"].isin(train_ids)])
        baseline = plain_monai_loop(items, cfg, args.baseline_epochs, int(cfg["train"]["num_workers"]))

    if not args.skip_train:
        print(f"theraflow pipeline: {cfg['network']['name']}, {cfg['train']['max_epochs']} epochs ...", flush=True)
        record = imaging.train(datalist, out, model_config=args.model_config, overrides=overrides,
                               cache_dir=args.cache, split=split)
    else:
        record = json.loads((out / "model.json").read_text())["record"]
    split_df = pd.read_csv(out / "split.tsv", sep="\t")
    assert set(split_df.loc[split_df["split"] == "val", "id"]) == val_ids, "split is not the last 40 by name"

    val_dl = datalist[datalist["id"].isin(val_ids)]
    results = {}
    for variant, kw in (("tta_lcc", {}), ("plain", {"tta": False, "largest_component": False})):
        t0 = time.perf_counter()
        preds, failed = imaging.segment(out, val_dl, out / f"val_masks_{variant}", **kw)
        seconds = time.perf_counter() - t0
        table, _ = imaging.measure(preds, val_dl, labels=names)
        write_table(table, out / f"val_measurements_{variant}.tsv")
        results[variant] = {
            "dice": {n: float(table[f"dice_{n}"].mean()) for n in names.values()},
            "dice_mean": float(table["dice_mean"].mean()),
            "hd95_mm": {n: float(table[f"hd95_mm_{n}"].mean()) for n in names.values()},
            "hd95_mm_mean": float(table["hd95_mm_mean"].mean()),
            "inference_seconds_per_case": seconds / max(1, len(preds)),
            "failed": int(len(failed)),
        }
    history = pd.read_csv(out / "history.tsv", sep="\t")
    curve = history.dropna(subset=["val_dice"])[["epoch", "val_dice"]] if "val_dice" in history else None
    ours_spe = float(history["train_seconds"].iloc[1:].median() if len(history) > 1 else history["train_seconds"].median())
    main_res = results["tta_lcc"]
    summary = {
        "benchmark": "seg_hippocampus",
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "command": "python benchmarks/seg_hippocampus.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "data": "../shared/data/hippocampus (200 MSD Task04 crops)",
        "split": "fixed, sorted by file name: first 160 train, last 40 validation (not used for any choice)",
        "device": device_name(),
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "platform": platform.platform(),
                    "load_average_at_start": round(load, 2)},
        "model": {"config": os.path.relpath(args.model_config, REPO), "network": record.get("network"),
                  "parameters": record.get("parameters"), "epochs": int(len(history)),
                  "precision": record.get("precision"), "kept": os.path.relpath(out, REPO)},
        "dice": {"anterior": main_res["dice"].get("anterior"), "posterior": main_res["dice"].get("posterior"),
                 "mean": main_res["dice_mean"]},
        "hd95_mm": {**main_res["hd95_mm"], "mean": main_res["hd95_mm_mean"]},
        "postprocessing": "mirror TTA over 3 axes (8 flips) + largest connected component per class",
        "without_tta_and_lcc": {"dice": results["plain"]["dice"], "dice_mean": results["plain"]["dice_mean"],
                                "hd95_mm_mean": results["plain"]["hd95_mm_mean"]},
        "inference_seconds_per_case": main_res["inference_seconds_per_case"],
        "seconds_per_epoch": ours_spe,
        "total_training_seconds": float(history["train_seconds"].sum()),
        "throughput": {
            "theraflow": {"seconds_per_epoch": ours_spe, "cases_per_second": 160 / ours_spe,
                          "what": "content-keyed cache + augmentation (flips, intensity; batch rotation/scaling), "
                                  + ("16-bit mixed precision" if "16" in str(record.get("precision")) else
                                     "fp32 (no mixed precision on CPU)")},
            "plain_monai_loop": baseline,
        },
        "target": {"mean_dice": 0.89, "met": bool(main_res["dice_mean"] >= 0.89)},
        "learning_curve": curve.to_dict("records") if curve is not None else [],
    }
    write_json(args.json, summary)
    print()
    print(f"{'':32s} {'anterior':>9s} {'posterior':>9s} {'mean':>7s}")
    for label, r in (("Dice (TTA + LCC)", main_res), ("Dice (plain argmax)", results["plain"])):
        print(f"{label:32s} {r['dice']['anterior']:9.4f} {r['dice']['posterior']:9.4f} {r['dice_mean']:7.4f}")
    print(f"{'HD95 mm (TTA + LCC)':32s} {main_res['hd95_mm']['anterior']:9.3f} "
          f"{main_res['hd95_mm']['posterior']:9.3f} {main_res['hd95_mm_mean']:7.3f}")
    print(f"\n{'training':32s} {'s/epoch':>9s} {'cases/s':>9s}")
    print(f"{'theraflow pipeline':32s} {ours_spe:9.2f} {160 / ours_spe:9.2f}")
    if baseline:
        print(f"{'plain MONAI loop':32s} {baseline['seconds_per_epoch']:9.2f} {baseline['cases_per_second']:9.2f}")
    print(f"\n{len(history)} epochs, {summary['total_training_seconds'] / 60:.1f} min training on {summary['device']}; "
          f"target mean Dice 0.89 {'met' if summary['target']['met'] else 'NOT met'}; wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
