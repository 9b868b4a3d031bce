"""Davis benchmark: the recipe of `snakemake --configfile config/davis.yaml`, measured.

Runs that workflow (in a scratch working directory, so results/ of the repository are
untouched; the feature store is shared) and collects, per split:

- test CI, MSE and Pearson, per seed and mean ± sd over seeds (bootstrap 95 % intervals per run);
- training wall time per seed and peak memory (Snakemake's benchmark records of the
  training jobs), epochs trained, and the device.

Writes benchmarks/results/dti_davis.json and prints a table beside the published
setting-1 baselines. Hyper-parameters come from models/<model>/config.yaml, chosen on a
validation split carved from the train folds; the test fold is only evaluated here.

    python benchmarks/dti_davis.py [--workdir /tmp/tf-davis] [--seeds 0 1 2] [--cold-seeds 0]
                                   [--max-minutes 15] [--data ../shared/data/davis]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import machine_info  # noqa: E402

REPO = HERE.parent
PUBLISHED = {  # Davis setting-1 test fold (CI / MSE), as cited in ../shared/data/README.md
    "DeepDTA": {"ci": 0.878, "mse": 0.261},
    "GraphDTA GIN": {"ci": 0.893, "mse": 0.229},
    "GraphDTA GAT_GCN": {"ci": 0.881, "mse": 0.245},
    "MGraphDTA": {"ci": 0.900, "mse": 0.207},
}
TARGET = {"ci": 0.900, "mse": 0.215, "minutes_per_seed": 15, "cores": 2}


def mean_sd(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"mean": round(statistics.fmean(values), 4),
            "sd": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
            "per_seed": [round(v, 4) for v in values]}


def config_label(path: Path) -> str:
    """The config as the JSON names it: relative to the repository when it lies inside it."""
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=str(REPO / "config" / "davis.yaml"))
    ap.add_argument("--workdir", default="/tmp/theraflow-davis-benchmark")
    ap.add_argument("--data", help="Davis directory (default: the config's path, relative to the repository)")
    ap.add_argument("--seeds", type=int, nargs="+", help="setting-1 seeds (default: the config's)")
    ap.add_argument("--cold-seeds", type=int, nargs="+", help="cold-split seeds (default: the config's)")
    ap.add_argument("--max-minutes", type=float, help="training budget per run (default: the config's)")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="keep earlier results in the workdir (resume)")
    ap.add_argument("--out", default=str(HERE / "results" / "dti_davis.json"))
    ap.add_argument("--store", default=str(REPO / "resources" / "feature_store"),
                    help="feature store shared with other runs (default: the repository's resources/)")
    args = ap.parse_args()

    config_path = Path(args.config).resolve()
    if not config_path.is_file():
        ap.error(f"--config {args.config}: no such file")
    cfg = yaml.safe_load(config_path.read_text())
    dti = cfg["dti"]
    (ds_name, ds), = dti["datasets"].items()
    ds["path"] = str(Path(args.data).resolve()) if args.data else str((REPO / ds["path"]).resolve())
    for sp in dti["splits"]:
        if sp["kind"] == "setting1" and args.seeds:
            sp["seeds"] = args.seeds
        elif sp["kind"] != "setting1" and args.cold_seeds:
            sp["seeds"] = args.cold_seeds
    if args.max_minutes:
        dti["max_minutes"] = args.max_minutes
    cfg["store"] = str(Path(args.store).resolve())
    work = Path(args.workdir)
    if work.exists() and not args.keep:
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))

    # Snakemake of this interpreter's environment: `.venv/bin/python benchmarks/dti_davis.py` works from a
    # shell without the venv on PATH (the workflow's rules find the theraflow CLI beside that interpreter)
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(work),
           "--configfile", str(work / "config.yaml"), "--cores", str(args.cores),
           "--workflow-profile", str(REPO / "profiles" / "default")]
    print("running:", " ".join(cmd), flush=True)
    t0 = time.time()
    proc = subprocess.run(cmd, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    wall = time.time() - t0
    if proc.returncode != 0:
        print(f"workflow failed ({proc.returncode}); see {work}/logs", file=sys.stderr)
        return proc.returncode

    results = work / "results" / "dti" / ds_name
    bench = work / "logs" / "benchmarks" / "dti" / ds_name
    report = {"dataset": ds_name, "models": dti["models"], "config": config_label(config_path),
              "max_minutes_per_seed": dti.get("max_minutes"), "workflow_wall_seconds": round(wall, 1),
              "target": TARGET, "published_setting1": PUBLISHED,
              "machine": machine_info(cores_used=args.cores),
              "splits": {}}
    for sp in dti["splits"]:
        name = sp.get("name", sp["kind"])
        for model in dti["models"]:
            runs = []
            for seed in sp.get("seeds") or dti.get("seeds", [0]):
                run = results / name / model / f"seed{seed}"
                m = json.loads((run / "metrics.json").read_text())
                meta = json.loads((run / "model.json").read_text())
                tsv = (bench / f"train.{name}.{model}.seed{seed}.tsv").read_text().splitlines()
                header, values = tsv[0].split("\t"), tsv[1].split("\t")
                b = dict(zip(header, values))
                test = m["parts"]["test"]
                runs.append({"seed": seed, "test": test["metrics"], "test_ci95": test.get("ci95", {}),
                             "train_seconds": meta["train_seconds"], "epochs": meta["epochs_trained"],
                             "job_seconds": float(b["s"]), "peak_rss_mb": float(b["max_rss"]),
                             "device": meta["device"]})
            report["splits"][f"{name}/{model}"] = {
                "kind": sp["kind"], "model": model, "seeds": [r["seed"] for r in runs],
                "test_ci": mean_sd([r["test"]["ci"] for r in runs]),
                "test_mse": mean_sd([r["test"]["mse"] for r in runs]),
                "test_pearson": mean_sd([r["test"]["pearson"] for r in runs]),
                "train_seconds": [r["train_seconds"] for r in runs],
                "peak_rss_mb": [r["peak_rss_mb"] for r in runs],
                "epochs": [r["epochs"] for r in runs],
                "device": runs[0]["device"],
                "runs": runs,
            }
    s1 = next((v for v in report["splits"].values() if v["kind"] == "setting1"), None)
    if s1:
        report["target_met"] = bool(s1["test_ci"]["mean"] >= TARGET["ci"] and s1["test_mse"]["mean"] <= TARGET["mse"]
                                    and max(s1["train_seconds"]) <= TARGET["minutes_per_seed"] * 60 + 30)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")

    print(f"\n{'split/model':<32} {'test CI':>16} {'test MSE':>16} {'Pearson':>8} {'train s/seed':>14} {'peak MB':>8}")
    for key, v in report["splits"].items():
        print(f"{key:<32} {v['test_ci']['mean']:>8.3f} ± {v['test_ci']['sd']:.3f} {v['test_mse']['mean']:>8.3f} ± "
              f"{v['test_mse']['sd']:.3f} {v['test_pearson']['mean']:>8.3f} {statistics.fmean(v['train_seconds']):>14.0f} "
              f"{max(v['peak_rss_mb']):>8.0f}")
    print("\npublished setting-1 baselines (test CI / MSE):")
    for k, v in PUBLISHED.items():
        print(f"  {k:<18} {v['ci']:.3f} / {v['mse']:.3f}")
    if s1:
        print(f"\ntarget CI >= {TARGET['ci']} and MSE <= {TARGET['mse']} in <= {TARGET['minutes_per_seed']} min/seed "
              f"on {TARGET['cores']} cores: {'met' if report['target_met'] else 'NOT met'}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
