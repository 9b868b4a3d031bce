"""Pretraining's own benchmark: the MOSES bundle, and what starting from it does to each split.

1. The bundle: the config's ``pretrain.<name>`` (``config/davis.yaml``: attribute masking of dti_hybrid's GIN —
   128 features, 4 layers, add + max readout — on ``../shared/data/moses/train.csv.gz``, 60 minutes on 2 cores)
   made with ``theraflow.pretrain.pretrain`` into ``resources/pretrain/<name>/`` — resumed if a run was
   interrupted, kept if finished (``--again`` makes it anew). The side-by-side benchmarks copy it into their
   workflows instead of pretraining again.
2. The effect: read from the side-by-side reports, where the runs with and without the bundle were trained by
   one script on the same split files at the same budget — ``dti_davis.json`` and ``dti_kiba.json``
   (``theraflow_pretrained`` against ``theraflow``: dti_hybrid, which differs by the GIN's starting weights
   only) and ``ddi_drugbank.json`` (``theraflow_pretrained`` against ``theraflow_gin``). Each effect row has
   the test metric without and with (mean over the seeds both have), and the same on validation; pretraining
   is shipped for a split only where it helps on validation (``helps_on_validation``), whatever the test says.

It writes ``benchmarks/results/pretrain.json``: ``{"corpus", "molecules", "minutes", "objective", "bundle",
"effect": [{"task", "split", "metric", "without", "with", "valid_without", "valid_with", "seeds",
"helps_on_validation", "commit", "date"}, ...]}``.

    .venv/bin/python benchmarks/pretrain.py                 # the bundle (about 75 minutes), then the effect rows
    .venv/bin/python benchmarks/pretrain.py --effect-only   # re-read the side-by-side reports
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _common as common  # noqa: E402

REPO = HERE.parent
RESULTS = HERE / "results"
# task -> (report, the run without, the run with, test metrics compared)
COMPARISONS = {
    "dti_davis": ("dti_davis.json", "theraflow", "theraflow_pretrained", ("ci", "mse")),
    "dti_kiba": ("dti_kiba.json", "theraflow", "theraflow_pretrained", ("ci", "mse")),
    "ddi_drugbank": ("ddi_drugbank.json", "theraflow_gin", "theraflow_pretrained", ("accuracy", "macro_f1")),
}
LOWER_IS_BETTER = {"mse"}


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=str(REPO / "config" / "davis.yaml"), help="the config whose pretrain: "
                    "section names the bundle (default: config/davis.yaml)")
    ap.add_argument("--name", default="moses", help="the pretrain.<name> entry (default: moses)")
    ap.add_argument("--root", default=str(REPO / "resources" / "pretrain"), help="where bundles are kept")
    ap.add_argument("--store", default=str(REPO / "resources" / "feature_store"))
    ap.add_argument("--again", action="store_true", help="pretrain anew even where a finished bundle is kept")
    ap.add_argument("--effect-only", action="store_true", help="do not pretrain; re-read the reports only")
    ap.add_argument("--made-at", help="the commit a kept bundle was made at, when it was made outside this script "
                    "(e.g. by `theraflow pretrain`); recorded as bundle_commit")
    ap.add_argument("--preparation-minutes", type=float, help="for a bundle made outside this script: minutes from "
                    "its start to its first training step (reading, standardizing and featurizing the corpus)")
    ap.add_argument("--out", default=str(RESULTS / "pretrain.json"))
    return ap, ap.parse_args(argv)


def _shown(library: str) -> str:
    """The corpus path as the repository's configs name it (``../shared/...``) where it is the shared copy."""
    return "../shared/" + library.split("/shared/", 1)[1] if "/shared/" in library else library


def make_bundle(entry: dict, outdir: Path, store: str, again: bool) -> dict:
    """The bundle of a ``pretrain.<name>`` config entry in ``outdir`` (made, resumed or kept); its model.json, and
    the wall seconds this call took (reading, standardizing and featurizing the corpus included)."""
    from theraflow.pretrain import pretrain

    if (outdir / "model.json").exists() and not again:
        return {**json.loads((outdir / "model.json").read_text()), "wall_seconds_this_call": 0.0, "kept": True}
    encoder = {"type": entry.get("encoder", "gin"), "hidden": entry.get("hidden", 128),
               "layers": entry.get("layers", 4), "dropout": 0.1, "pool": entry.get("pool", "add+max")}
    started = time.monotonic()
    meta = pretrain(str((REPO / entry["library"]).resolve()), outdir, encoder=encoder, store=store,
                    objective=entry.get("objective", "attribute_masking"),
                    max_molecules=entry.get("max_molecules"), max_minutes=float(entry.get("max_minutes", 60)),
                    seed=int(entry.get("seed", 0)), resume=not again)
    return {**meta, "wall_seconds_this_call": round(time.monotonic() - started, 1), "kept": False}


def _mean_on(row: dict, metric: str, seeds: list[int], valid: bool = False) -> float | None:
    """A row's mean of ``metric`` (test, or validation) over ``seeds`` only."""
    vals = (row.get("valid") or {}).get(metric) if valid else row.get(metric)
    if not vals:
        return None
    per = dict(zip(row["seeds"], vals.get("per_seed") or [vals["mean"]]))
    got = [per[s] for s in seeds if s in per]
    return round(sum(got) / len(got), 4) if got else None


def effect_rows(results: Path) -> list[dict]:
    """With against without, per task and split measured in the side-by-side reports (seeds both runs have)."""
    rows = []
    for task, (report, without, with_, metrics) in COMPARISONS.items():
        path = results / report
        if not path.exists():
            continue
        side = json.loads(path.read_text()).get("side_by_side", [])
        for split in dict.fromkeys(r["split"] for r in side):
            a = next((r for r in side if r["split"] == split and r["model"] == without), None)
            b = next((r for r in side if r["split"] == split and r["model"] == with_), None)
            if not (a and b):
                continue
            seeds = sorted(set(a["seeds"]) & set(b["seeds"]))
            if not seeds:
                continue
            for metric in metrics:
                lo, hi = _mean_on(a, metric, seeds), _mean_on(b, metric, seeds)
                vlo, vhi = _mean_on(a, metric, seeds, valid=True), _mean_on(b, metric, seeds, valid=True)
                better = (lambda x, y: y < x) if metric in LOWER_IS_BETTER else (lambda x, y: y > x)
                rows.append({"task": task, "split": split, "kind": a.get("kind", split), "metric": metric,
                             "without": lo, "with": hi,
                             "delta": None if lo is None or hi is None else round(hi - lo, 4),
                             "valid_without": vlo, "valid_with": vhi,
                             "helps_on_validation": None if vlo is None or vhi is None else bool(better(vlo, vhi)),
                             "seeds": seeds, "without_model": a.get("model_config"), "with_model": b.get("model_config"),
                             "commit": b.get("commit"), "date": b.get("date")})
    return rows


def main(argv=None) -> int:
    import yaml

    ap, args = parse_args(argv)
    cfg = yaml.safe_load(Path(args.config).read_text())
    entry = (cfg.get("pretrain") or {}).get(args.name)
    if entry is None:
        ap.error(f"{args.config}: no pretrain.{args.name} entry")
    outdir = Path(args.root) / args.name
    out = Path(args.out)
    report = json.loads(out.read_text()) if out.exists() else {}
    stamp = common.provenance()
    if not args.effect_only:
        meta = make_bundle(entry, outdir, args.store, args.again)
        train = meta["training"]
        hist = meta.get("history") or []
        report.update({
            "corpus": _shown(meta["corpus"]["library"]), "objective": meta["objective"],
            "molecules": meta["corpus"]["molecules"], "records": meta["corpus"]["records"],
            "rejected": meta["corpus"]["rejected"], "training_molecules": train["molecules"],
            "validation_molecules": train["validation"], "minutes": round(train["seconds"] / 60, 1),
            "minutes_budget": train["minutes_budget"], "epochs": train["epochs"], "selected_epoch": train["selected"],
            "energy": train.get("energy"), "device": train.get("device"), "encoder": meta["encoder"],
            "valid_masked_accuracy": [round(h["val_accuracy"], 4) for h in hist if "val_accuracy" in h],
            "valid_loss": [round(h["val_loss"], 4) for h in hist if "val_loss" in h],
            "bundle": {"path": str(outdir.relative_to(REPO)) if outdir.is_relative_to(REPO) else str(outdir),
                       "written": dt.datetime.fromtimestamp((outdir / "model.json").stat().st_mtime,
                                                            dt.timezone.utc).replace(microsecond=0).isoformat(),
                       "wall_seconds_this_call": meta["wall_seconds_this_call"], "kept": meta["kept"]},
            "bundle_commit": (args.made_at or report.get("bundle_commit")) if meta["kept"] else stamp["commit"],
        })
        if not meta["kept"]:
            report["preparation_minutes"] = round((meta["wall_seconds_this_call"] - train["seconds"]) / 60, 1)
        elif args.preparation_minutes is not None:
            report["preparation_minutes"] = args.preparation_minutes
    report["effect"] = effect_rows(out.parent)
    report["read_at"] = stamp
    report["machine"] = common.machine_info(cores_used=2)
    report["note"] = ("with/without: the side-by-side reports' runs (same split files, same budget per run, one "
                      "script); pretraining is the default for a split only where helps_on_validation")
    common.write_json(report, out)
    print(f"corpus {report.get('corpus')}: {report.get('molecules')} molecules, {report.get('minutes')} min of "
          f"{report.get('minutes_budget')}, {report.get('epochs')} epochs, objective {report.get('objective')}")
    head = f"{'task':<13} {'split':<12} {'metric':<9} {'without':>8} {'with':>8} {'delta':>8} {'valid w/o':>9} " \
           f"{'valid w/':>9}  seeds"
    print("\n" + head + "\n" + "-" * len(head))
    for r in report["effect"]:
        f = lambda v: f"{v:8.4f}" if v is not None else f"{'-':>8}"  # noqa: E731
        print(f"{r['task']:<13} {r['split']:<12} {r['metric']:<9} {f(r['without'])} {f(r['with'])} {f(r['delta'])} "
              f"{f(r['valid_without']):>9} {f(r['valid_with']):>9}  {r['seeds']}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
