"""theraflow seg: MONAI segmentation stages (datalist, preprocess, train, infer, measure, overlay, report).

Each subcommand calls one function of ``theraflow.imaging``; the Snakemake rules call
these commands, and notebooks call the same functions.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from theraflow.cli.common import parse_params, print_json, write_stats

log = logging.getLogger("theraflow.seg")


def _labels_arg(items: list[str] | None) -> dict[int, str] | None:
    if not items:
        return None
    out = {}
    for item in items:
        value, sep, name = item.partition("=")
        if not sep or not value.strip().lstrip("-").isdigit() or not name.strip():
            raise ValueError(f"--labels expects VALUE=NAME pairs (1=anterior), got {item!r}")
        out[int(value)] = name.strip()
    return out


def _label_names(args) -> dict[int, str]:
    labels = _labels_arg(getattr(args, "labels", None))
    if labels:
        return {k: v for k, v in labels.items() if k != 0}
    if getattr(args, "model", None):
        import json

        meta = Path(args.model) / "model.json"
        if not meta.is_file():
            raise FileNotFoundError(f"{meta}: not found (expected a model trained by `theraflow seg train`)")
        cfg = json.loads(meta.read_text())["config"]
        return {int(k): v for k, v in cfg["labels"].items() if int(k) != 0}
    raise ValueError("give --model (a trained model folder) or --labels 1=NAME 2=NAME to name the structures")


def _threads(n: int | None) -> None:
    if n:
        import torch

        torch.set_num_threads(max(1, n))


def _model_options(p: argparse.ArgumentParser) -> None:
    from theraflow.registry import SEG_NETWORKS  # the light declarations only: no torch, no MONAI

    p.add_argument("--model-config", help="model config YAML, or a models/<name>/ folder holding config.yaml "
                                          "(default: built-in defaults)")
    described = {n: SEG_NETWORKS.info(n).get("description") for n in SEG_NETWORKS.choices()}
    networks = "; ".join(f"{n} ({d})" if d else n for n, d in described.items())
    p.add_argument("--network", choices=SEG_NETWORKS.choices(), metavar="NAME",
                   help=f"segmentation network, as --set network.name=NAME (the config's network.params are kept) "
                        f"- {networks}")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", dest="overrides",
                   help="override a model-config key, dotted (train.max_epochs=2); repeatable")


def _overrides(args) -> dict:
    """--network, then each --set, as dotted model-config overrides."""
    out = {"network.name": args.network} if getattr(args, "network", None) else {}
    out.update(parse_params(args.overrides))
    return out


def register(sub) -> None:
    from theraflow.registry import ENGINES

    p = sub.add_parser("seg", help="medical image segmentation with MONAI (datalist → train → infer → report)",
                       description=__doc__)
    s = p.add_subparsers(dest="seg_command", metavar="STAGE", required=True)

    q = s.add_parser("synth", help="write synthetic labelled volumes (offline demo and tests)")
    q.add_argument("output", help="folder; images/ and labels/ are written inside")
    q.add_argument("--cases", type=int, default=12)
    q.add_argument("--size", type=int, nargs=3, default=[48, 48, 32], metavar=("X", "Y", "Z"))
    q.add_argument("--classes", type=int, default=2, help="structures besides the background (default 2)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--stats", help="write what was made as JSON here")
    q.set_defaults(func=run_synth)

    q = s.add_parser("download", help="download an MSD task archive (default: Task04_Hippocampus) and unpack it")
    q.add_argument("output", help="folder; images/ and labels/ are written inside")
    # defaults filled in by run_download: importing theraflow.imaging here would load MONAI and torch
    # for every theraflow command (3.4 s each, measured), chemistry jobs included
    q.add_argument("--url", help="archive URL (default: Task04_Hippocampus on MONAI's mirror)")
    q.add_argument("--checksum", help="sha256:<hex> or md5:<hex>; 'none' skips it "
                   "(default: the Task04 archive's md5 as MONAI records it)")
    q.add_argument("--stats", help="write URL, size and sha256 as JSON here")
    q.set_defaults(func=run_download)

    q = s.add_parser("datalist", help="find and check cases (NIfTI files or DICOM series folders)")
    src = q.add_mutually_exclusive_group(required=True)
    src.add_argument("--images", help="folder of images (<id>.nii.gz or <id>/ DICOM series folders)")
    src.add_argument("--csv", help="table with columns id, image, optional label (paths relative to it)")
    q.add_argument("--labels", help="folder of label files named like the images (<id>.nii.gz)")
    q.add_argument("--label-values", type=int, nargs="+", help="allowed label values (e.g. 0 1 2)")
    q.add_argument("--on-error", choices=["stop", "reject"], default="stop",
                   help="a bad case stops the run (default) or goes to the rejects table")
    q.add_argument("--require-labels", action="store_true", help="every case must have a label")
    q.add_argument("-o", "--output", required=True, help="datalist table (.tsv, .csv, .parquet)")
    q.add_argument("--rejects", help="rejects table: id, image, label, reason")
    q.add_argument("--stats", help="write counts as JSON here")
    q.set_defaults(func=run_datalist)

    q = s.add_parser("preprocess", help="fill the content-keyed preprocessing cache for a datalist")
    q.add_argument("datalist")
    _model_options(q)
    q.add_argument("--cache", required=True, help="cache folder (shared by runs; keyed on transforms + contents)")
    q.add_argument("-o", "--output", help="per-case table: id, preprocessed shape, cache hit, entry")
    q.add_argument("--stats", help="write hits, misses, chain key and seconds as JSON here")
    q.add_argument("--threads", type=int, help="torch threads")
    q.set_defaults(func=run_preprocess)

    q = s.add_parser("train", help="train a segmentation model (PyTorch Lightning; resumes from its checkpoint)")
    q.add_argument("datalist")
    _model_options(q)
    q.add_argument("--cache", required=True, help="preprocessing cache folder")
    q.add_argument("-o", "--output", required=True, help="model folder: model.json, model.safetensors, "
                                                          "history.tsv, split.tsv, checkpoints/")
    g = q.add_argument_group("split")
    g.add_argument("--split-mode", choices=["fixed", "kfold"], default="fixed")
    g.add_argument("--val-fraction", type=float, default=0.2, help="fixed: share of cases for validation")
    g.add_argument("--val-count", type=int, help="fixed: number of validation cases (overrides the fraction)")
    g.add_argument("--split-order", choices=["sorted", "shuffled"], default="sorted",
                   help="fixed: the last cases of this order validate (default: sorted by id)")
    g.add_argument("--folds", type=int, default=5)
    g.add_argument("--fold", type=int, default=0)
    g.add_argument("--split-seed", type=int, default=0)
    q.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                   help="continue from <output>/checkpoints/last.ckpt when present (default)")
    q.add_argument("--accelerator", default="auto", help="auto, cpu, gpu (default: auto)")
    q.add_argument("--devices", default="auto", help="devices for Lightning (default: auto)")
    q.add_argument("--threads", type=int, help="torch threads")
    q.add_argument("--stats", help="write the training record as JSON here")
    q.set_defaults(func=run_train)

    q = s.add_parser("infer", help="segment images with a trained model; masks on each input's own grid",
                     description="Segment a folder of NIfTI files / DICOM series folders, one file, or a datalist. "
                                 "Writes <output>/<id>.nii.gz, predictions.tsv and measurements.tsv (volumes "
                                 "in mL per structure; Dice and HD95 too where --datalist gives labels). With "
                                 "mirror TTA, <output>/uncertainty/<id>.nii.gz holds each case's voxel-wise "
                                 "spread over the mirror passes and the tables its uncertainty score.")
    q.add_argument("input", help="folder of images, a NIfTI file, a DICOM series folder, or a datalist table")
    q.add_argument("--model", required=True, help="model folder (from `theraflow seg train`)")
    q.add_argument("-o", "--output", required=True, help="folder for the masks")
    q.add_argument("--predictions", help="predictions table (default: <output>/predictions.tsv)")
    q.add_argument("--measurements", help="measurements table (default: <output>/measurements.tsv)")
    q.add_argument("--rejects", help="cases that could not be segmented (default: <output>/rejects.tsv)")
    q.add_argument("--datalist", help="datalist with reference labels: adds Dice and HD95 to the measurements")
    q.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None,
                   help="mirror test-time augmentation (default: the model's setting)")
    q.add_argument("--lcc", action=argparse.BooleanOptionalAction, default=None,
                   help="keep the largest connected component per class (default: the model's setting)")
    q.add_argument("--uncertainty", action=argparse.BooleanOptionalAction, default=True,
                   help="with TTA, write the mirror-pass spread maps and scores (default: on)")
    q.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 (default: auto)")
    q.add_argument("--on-error", choices=["stop", "reject"], default="reject")
    q.add_argument("--threads", type=int, help="torch threads")
    q.add_argument("--engine", choices=ENGINES.choices(), default="torch",
                   help="on a CPU: torch (as trained), onnx (ONNX Runtime), onnx_int8 (int8 weights); default torch")
    q.set_defaults(func=run_infer)

    q = s.add_parser("measure", help="volumes (mL) per structure; Dice and HD95 where labels exist")
    q.add_argument("predictions", help="predictions table (id, image, mask) from `theraflow seg infer`")
    q.add_argument("--datalist", help="datalist with reference labels")
    q.add_argument("--split", help="split table (id, split) to carry into the measurements")
    q.add_argument("--model", help="model folder (for the structure names)")
    q.add_argument("--labels", nargs="+", metavar="VALUE=NAME", help="structure names, e.g. 1=anterior 2=posterior")
    q.add_argument("-o", "--output", required=True, help="measurements table")
    q.add_argument("--summary", help="write mean/median/sd per structure (and split) as JSON here")
    q.set_defaults(func=run_measure)

    q = s.add_parser("overlay", help="PNG mid-slices in three planes with per-class contours")
    q.add_argument("predictions", help="predictions table (id, image, mask)")
    q.add_argument("-o", "--output", required=True, help="folder for <id>.png")
    q.add_argument("--datalist", help="datalist with reference labels (drawn dashed)")
    q.add_argument("--measurements", help="measurements table (Dice in the titles)")
    q.add_argument("--model", help="model folder (for the structure names)")
    q.add_argument("--labels", nargs="+", metavar="VALUE=NAME")
    q.add_argument("--index", help="table of the PNGs written (id, png)")
    q.set_defaults(func=run_overlay)

    q = s.add_parser("report", help="HTML report: summary, Dice distribution, learning curve, worst cases")
    q.add_argument("measurements", help="measurements table")
    q.add_argument("-o", "--output", required=True, help="HTML file")
    q.add_argument("--model", help="model folder (record and learning curve)")
    q.add_argument("--labels", nargs="+", metavar="VALUE=NAME")
    q.add_argument("--history", help="learning curve table (default: <model>/history.tsv)")
    q.add_argument("--rejects", nargs="*", default=[], help="rejects tables to list")
    q.add_argument("--overlays", help="overlay index table (id, png) for the worst cases")
    q.add_argument("--worst", type=int, default=5, help="how many worst cases to show (default 5)")
    q.add_argument("--figures", help="folder to also write the figures as PNG")
    q.add_argument("--summary", help="write the summary as JSON here")
    q.add_argument("--title", default="theraflow segmentation report")
    q.add_argument("--benchmarks", action="append", default=[], metavar="DIR",
                   help="a folder of Snakemake benchmark files of the stages behind the report (repeat): time and "
                        "estimated energy per stage")
    q.set_defaults(func=run_report)

    from theraflow.cli import federate

    federate.register(s)


def run_synth(args) -> int:
    from theraflow.imaging.synth import make_synthetic

    info = make_synthetic(args.output, cases=args.cases, size=tuple(args.size), classes=args.classes, seed=args.seed)
    log.info("wrote %d synthetic cases to %s", info["cases"], args.output)
    write_stats(args.stats, info)
    return 0


def run_download(args) -> int:
    from theraflow.imaging.download import MSD_TASK04_CHECKSUM, MSD_TASK04_URL, download_msd

    checksum = args.checksum or MSD_TASK04_CHECKSUM
    checksum = None if str(checksum).lower() == "none" else checksum
    info = download_msd(args.output, url=args.url or MSD_TASK04_URL, checksum=checksum)
    log.info("unpacked %d images and %d labels into %s (archive sha256 %s)", info["images"], info["labels"],
             args.output, info["sha256"])
    write_stats(args.stats, info)
    return 0


def run_datalist(args) -> int:
    from theraflow.imaging.datalists import make_datalist
    from theraflow.io import write_table

    datalist, rejects = make_datalist(images=args.images, labels=args.labels, csv=args.csv,
                                      label_values=args.label_values, on_error=args.on_error,
                                      require_labels=args.require_labels)
    write_table(datalist, args.output)
    if args.rejects:
        write_table(rejects, args.rejects)
    labelled = int((datalist["label"] != "").sum())
    log.info("%d cases (%d labelled), %d rejected", len(datalist), labelled, len(rejects))
    write_stats(args.stats, {"cases": len(datalist), "labelled": labelled, "rejected": len(rejects),
                             "reasons": rejects["reason"].tolist()})
    return 0


def run_preprocess(args) -> int:
    from theraflow.imaging.preprocess import preprocess
    from theraflow.io import write_table

    _threads(args.threads)
    stats, table = preprocess(args.datalist, args.cache, model_config=args.model_config,
                              overrides=_overrides(args))
    if args.output:
        write_table(table, args.output)
    write_stats(args.stats, stats)
    return 0


def run_train(args) -> int:
    from theraflow.imaging.train import train
    from theraflow.progress import _enabled

    _threads(args.threads)
    split = {"mode": args.split_mode, "val_fraction": args.val_fraction, "val_count": args.val_count,
             "order": args.split_order, "folds": args.folds, "fold": args.fold, "seed": args.split_seed}
    devices = int(args.devices) if str(args.devices).isdigit() else args.devices
    record = train(args.datalist, args.output, model_config=args.model_config, overrides=_overrides(args),
                   cache_dir=args.cache, split=split, resume=args.resume, accelerator=args.accelerator,
                   devices=devices, progress_bar=_enabled)
    log.info("trained %s: %d epochs, %.2f s/epoch on %s", record["network"], record["epochs"],
             record["seconds_per_epoch"] or 0, record["device"])
    write_stats(args.stats, record)
    return 0


def run_infer(args) -> int:
    from theraflow.imaging.infer import segment
    from theraflow.imaging.measure import measure
    from theraflow.io import write_table

    _threads(args.threads)
    out = Path(args.output)
    preds, rejects = segment(args.model, args.input, out, tta=args.tta, largest_component=args.lcc,
                             device=args.device, on_error=args.on_error, uncertainty=args.uncertainty,
                             engine=args.engine)
    write_table(preds, args.predictions or out / "predictions.tsv")
    write_table(rejects, args.rejects or out / "rejects.tsv")
    table, mrejects = measure(preds, args.datalist, labels=_label_names(args))
    write_table(table, args.measurements or out / "measurements.tsv")
    log.info("wrote %d masks and measurements to %s (%d failed)", len(preds), out, len(rejects) + len(mrejects))
    return 1 if len(preds) == 0 and len(rejects) else 0


def run_measure(args) -> int:
    from theraflow.imaging.measure import measure, summarize
    from theraflow.io import write_table

    names = _label_names(args)
    table, rejects = measure(args.predictions, args.datalist, labels=names, split=args.split)
    write_table(table, args.output)
    summary = summarize(table, names)
    summary["rejected"] = rejects.to_dict("records")
    write_stats(args.summary, summary)
    if "dice_mean" in table.columns:
        log.info("%d cases, mean Dice %.4f", len(table), table["dice_mean"].mean())
    return 0


def run_overlay(args) -> int:
    from theraflow.imaging.overlays import overlays
    from theraflow.io import write_table

    names = _label_names(args)
    index = overlays(args.predictions, args.output, labels=names, datalist=args.datalist,
                     measurements=args.measurements)
    if args.index:
        write_table(index, args.index)
    log.info("wrote %d overlays to %s", len(index), args.output)
    return 0


def run_report(args) -> int:
    import pandas as pd

    from theraflow.imaging.report import build_report
    from theraflow.io import read_table

    names = _label_names(args)
    history = args.history or (Path(args.model) / "history.tsv" if args.model else None)
    rejects = [read_table(r, dtype=str, keep_default_na=False) for r in args.rejects if Path(r).exists()]
    rej = pd.concat(rejects, ignore_index=True) if rejects else None
    summary = build_report(args.measurements, args.output, labels=names, model=args.model, history=history,
                           rejects=rej, overlays=args.overlays, worst=args.worst, title=args.title,
                           figures_dir=args.figures, benchmarks=args.benchmarks)
    write_stats(args.summary, summary)
    if args.summary is None:
        print_json({k: v for k, v in summary.items() if k != "all"})
    return 0
