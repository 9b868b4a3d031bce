"""Compressed segmentation inference against PyTorch on the 40 hippocampus validation cases (issue 23).

The hippocampus model (``--model``: the bundle ``benchmarks/seg_hippocampus.py`` keeps, or one trained here for
``--minutes`` on the same split, the first 160 cases by sorted name, when that folder holds none) segments the
last 40 cases with each engine (``torch``, the reference, then ``onnx`` and ``onnx_int8``:
:mod:`theraflow.imaging.onnx_net`), the recipe's inference (sliding window, mirror TTA, largest component),
``--repeats`` times; the masks are scored by :func:`theraflow.imaging.measure` against the labels (Dice per
structure) and compared with torch's masks (voxels that differ). ``compressed`` in
``benchmarks/results/seg_hippocampus.json`` is the fastest engine whose mean Dice is within 0.005 of torch's and
that is faster than torch (torch if none is), with its speed-up (median seconds) and Dice change; every engine's
figures are listed. Measures; does not assert.

    python benchmarks/seg_compressed.py [--model resources/models/seg_hippocampus] [--minutes 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
DICE_TOLERANCE = 0.005


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(REPO / "resources" / "models" / "seg_hippocampus"))
    p.add_argument("--model-config", default=str(REPO / "models" / "seg_unet_hippocampus"))
    p.add_argument("--minutes", type=float, default=10.0, help="training budget when --model holds no model")
    p.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "hippocampus"))
    p.add_argument("--cache", default=str(REPO / "resources" / "imaging_cache"))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    from theraflow.registry import ENGINES

    p.add_argument("--engines", nargs="+", choices=ENGINES.choices(), default=ENGINES.choices())
    p.add_argument("--json", default=str(REPO / "benchmarks" / "results" / "seg_hippocampus.json"))
    args = p.parse_args(argv)

    import nibabel as nib
    import torch
    from _common import engine_rows_with_torch_first, fastest_that_holds, machine_info, provenance, set_entry
    from seg_hippocampus import SPLIT, scores, validation_cases

    from theraflow import imaging

    torch.set_num_threads(args.threads)
    _, names, datalist, val_dl, _, _ = validation_cases(args.data, args.model_config)
    model = Path(args.model)
    trained_here = not (model / "model.json").exists()
    if trained_here:
        print(f"no model in {model}: training {args.minutes:g} minutes on the first 160 cases ...", flush=True)
        imaging.train(datalist, model, model_config=args.model_config,
                      overrides={"train.max_minutes": args.minutes}, cache_dir=args.cache, split=SPLIT)
    stamp = provenance()
    rows, ref_masks = [], None
    for engine in engine_rows_with_torch_first(args.engines):
        runs, preds = [], None
        for r in range(args.repeats + 1):  # the first run exports the network and is not timed
            t = time.perf_counter()
            preds, failed = imaging.segment(model, val_dl, model / f"val_masks_{engine}", engine=engine)
            if len(failed):
                raise SystemExit(f"{engine}: segmentation failed on {len(failed)} cases: {failed}")
            if r:
                runs.append(time.perf_counter() - t)
        table, _ = imaging.measure(preds, val_dl, labels=names)
        s = scores(table, names)
        masks = {row.id: np.asarray(nib.load(row.mask).dataobj) for row in preds.itertuples()}
        if ref_masks is None:
            ref_masks, ref = masks, {"seconds": statistics.median(runs), "dice_mean": s["dice_mean"]}
        differ = float(np.mean([(masks[k] != ref_masks[k]).mean() for k in ref_masks]))
        sec = statistics.median(runs)
        row = {"engine": engine, "ran": preds.attrs.get("engine"), "seconds_runs": [round(x, 2) for x in runs],
               "seconds": round(sec, 2), "seconds_per_case": round(sec / len(val_dl), 3),
               "speedup": round(ref["seconds"] / sec, 3), "dice_mean": round(s["dice_mean"], 5),
               "dice": {k: round(v, 5) for k, v in s["dice"].items()},
               "dice_delta": round(s["dice_mean"] - ref["dice_mean"], 5), "voxels_differing_from_torch": differ}
        rows.append(row)
        print(json.dumps(row), flush=True)
    best = fastest_that_holds(rows, lambda r: r["ran"] == r["engine"] and abs(r["dice_delta"]) <= DICE_TOLERANCE)
    record = json.loads((model / "model.json").read_text()).get("record", {})
    compressed = {"path": best["engine"], "speedup": best["speedup"], "dice_delta": best["dice_delta"],
                  "goal": {"abs_dice_delta_max": DICE_TOLERANCE}, "cases": int(len(val_dl)),
                  "inference": "sliding window, mirror TTA over 3 axes, largest component per class",
                  "model": os.path.relpath(model, REPO) if model.is_relative_to(REPO) else str(model),
                  "model_trained_here_minutes": args.minutes if trained_here else None,
                  "model_epochs": record.get("epochs"), "threads": args.threads, "engines": rows,
                  "machine": machine_info(), **stamp}
    out = Path(args.json)
    set_entry(out, "compressed", compressed)
    print(f"\n{'engine':>10} {'s/case':>7} {'speedup':>8} {'Dice':>7} {'ΔDice':>8} {'voxels ≠ torch':>15}")
    for r in rows:
        print(f"{r['engine']:>10} {r['seconds_per_case']:>7.3f} {r['speedup']:>8.2f} {r['dice_mean']:>7.4f} "
              f"{r['dice_delta']:>+8.4f} {r['voxels_differing_from_torch']:>15.2e}")
    print(f"compressed path: {best['engine']}; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
