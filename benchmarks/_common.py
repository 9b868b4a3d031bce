"""Helpers shared by the benchmark scripts."""

from __future__ import annotations

import os
import platform
import sys


def machine_info(**extra) -> dict:
    """What the figures were measured on."""
    return {"processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "python": sys.version.split()[0], **extra}


def provenance() -> dict:
    """The commit (and whether the working tree had changes outside ``benchmarks/results``) and the date a
    row is measured at."""
    import datetime as dt
    import subprocess
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"commit": git("rev-parse", "--short=12", "HEAD") or "unknown",
            # the results a benchmark writes are not the code it measures: a run in parts rewrites them
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!benchmarks/results")),
            "date": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()}


def merge_rows(old: list[dict], new: list[dict], key: tuple[str, ...]) -> list[dict]:
    """Rows of ``old`` not measured again, then ``new``: a benchmark run in parts keeps its other rows."""
    fresh = {tuple(r.get(k) for k in key) for r in new}
    return [r for r in old if tuple(r.get(k) for k in key) not in fresh] + list(new)


def mean_sd(values) -> dict | None:
    """Mean, sample sd and the values (rounded) of a metric over seeds; None when none is given."""
    import statistics

    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"mean": round(statistics.fmean(values), 4),
            "sd": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
            "per_seed": [round(v, 4) for v in values]}


def run_workflow(work, targets: list[str], cores: int) -> tuple[int, float]:
    """Run the workflow on ``work``/config.yaml for ``targets`` (paths in ``work``) with the Snakemake of this
    interpreter's environment: a benchmark run as ``.venv/bin/python benchmarks/X.py`` from a shell without the
    venv on PATH works (the rules find the theraflow CLI beside that interpreter). Returns (exit code, seconds)."""
    import os
    import subprocess
    import time
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "--directory", str(work),
           "--configfile", str(Path(work) / "config.yaml"), "--cores", str(cores),
           "--workflow-profile", str(repo / "profiles" / "default"), *targets]
    print(f"running the workflow in {work}: {len(targets)} targets", flush=True)
    t0 = time.time()
    proc = subprocess.run(cmd, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if proc.returncode != 0:
        print(f"workflow failed ({proc.returncode}); see {work}/logs", file=sys.stderr)
    return proc.returncode, time.time() - t0


def config_label(path) -> str:
    """A config as a benchmark's JSON names it: relative to the repository when it lies inside it."""
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    path = Path(path)
    return str(path.relative_to(repo)) if path.is_relative_to(repo) else str(path)


def learning_curves(rows: list[dict], path, *, key: str, ylabel: str, title: str) -> None:
    """One panel per split: ``key`` of each row's ``curve`` against training minutes (the constant as a
    dotted line); a PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    splits = list(dict.fromkeys(r["split"] for r in rows))
    if not splits:
        return
    fig, axes = plt.subplots(1, len(splits), figsize=(4.3 * len(splits), 3.6), squeeze=False)
    for ax, split in zip(axes[0], splits):
        for r in rows:
            if r["split"] != split or not r.get("curve"):
                continue
            xs, ys = [c["minutes"] for c in r["curve"]], [c[key] for c in r["curve"]]
            if r["model"] == "constant":
                ax.axhline(ys[0], ls=":", color="grey", label=r["model"])
            else:
                ax.plot(xs, ys, label=r["model"], lw=1.4, marker="o" if len(xs) < 3 else None)
        ax.set(title=split, xlabel="training minutes (2 CPU cores)", ylabel=ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    import textwrap

    # wrapped to the figure's width: a one-panel figure is narrower than a long title
    fig.suptitle("\n".join(textwrap.wrap(title, max(30, int(11 * 4.3 * len(splits))))), fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def add_run_arguments(ap, *, config: str, workdir: str, out: str, what: str) -> None:
    """The options every workflow-driven side-by-side benchmark takes."""
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    ap.add_argument("--config", default=str(repo / "config" / config))
    ap.add_argument("--splits", nargs="+", help="split names of the config to run (default: all)")
    ap.add_argument("--seeds", type=int, nargs="+", help="seeds of theraflow's recipe (default: the config's)")
    ap.add_argument("--max-minutes", type=float, help="training budget per run (default: the config's)")
    ap.add_argument("--workdir", default=workdir)
    ap.add_argument("--data", help=f"{what} (default: the config's path, relative to the repository)")
    ap.add_argument("--store", default=str(repo / "resources" / "feature_store"),
                    help="feature store shared with other runs (default: the repository's resources/)")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--bootstrap", type=int, help="bootstrap resamples for the intervals (default: the config's)")
    ap.add_argument("--fresh", action="store_true", help="empty the workdir first (default: reuse finished runs)")
    ap.add_argument("--out", default=str(repo / "benchmarks" / "results" / out))


def write_json(report, out) -> None:
    """``report`` to ``out`` atomically, as strict JSON: a NaN (a constant's Pearson) is written as null."""
    import json
    import math
    from pathlib import Path

    def strict(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: strict(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [strict(x) for x in v]
        return v

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(json.dumps(strict(report), indent=2, allow_nan=False) + "\n")
    os.replace(tmp, out)


def set_entry(out, key: str, value) -> None:
    """``out``'s JSON with ``key`` set to ``value`` (its other fields kept), written as :func:`write_json` does."""
    import json
    from pathlib import Path

    out = Path(out)
    report = json.loads(out.read_text()) if out.exists() else {}
    report[key] = value
    write_json(report, out)


def engine_rows_with_torch_first(engines) -> list[str]:
    """The engines a compressed-path benchmark runs: ``torch`` (the reference) first, then the others asked for."""
    return ["torch"] + [e for e in engines if e != "torch"]


def fastest_that_holds(rows: list[dict], holds) -> dict:
    """The compressed path: the fastest row other than torch's (``rows[0]``) that ``holds`` and is faster than
    torch; torch's row where none is."""
    ok = [r for r in rows[1:] if holds(r) and r["speedup"] > 1.0]
    return max(ok, key=lambda r: r["speedup"]) if ok else rows[0]


def load_task_config(ap, args, task: str):
    """The benchmark's config with the command line applied: ``(config_path, cfg, section, dataset name, budget,
    bootstrap, {split name: split config}, the splits asked for)``; a bad ``--config`` or ``--splits`` is an
    argparse error. ``--data`` replaces the dataset's path (and a download rule); a config's own path and a
    download's mirror are relative to the repository (where the workflow runs)."""
    from pathlib import Path

    import yaml

    repo = Path(__file__).resolve().parents[1]
    config_path = Path(args.config).resolve()
    if not config_path.is_file():
        ap.error(f"--config {args.config}: no such file")
    cfg = yaml.safe_load(config_path.read_text())
    section = cfg[task]
    (ds_name, ds), = section["datasets"].items()
    if args.data:
        ds["path"] = str(Path(args.data).resolve())
        ds.pop("download", None)  # the folder given replaces a download rule
    elif ds.get("path"):
        ds["path"] = str((repo / ds["path"]).resolve())
    if (ds.get("download") or {}).get("mirror"):  # a download's mirror folder, relative to the repository too
        ds["download"]["mirror"] = str((repo / ds["download"]["mirror"]).resolve())
    for pre in (cfg.get("pretrain") or {}).values():  # pretraining corpora, relative to the repository too
        pre["library"] = str((repo / pre["library"]).resolve())
    budget = section["max_minutes"] = args.max_minutes or section.get("max_minutes")
    bootstrap = section["bootstrap"] = args.bootstrap if args.bootstrap is not None else section.get("bootstrap", 1000)
    split_cfgs = {sp.get("name", sp["kind"]): sp for sp in section["splits"]}
    wanted_splits = args.splits or list(split_cfgs)
    unknown = [s for s in wanted_splits if s not in split_cfgs]
    if unknown:
        ap.error(f"--splits: {unknown} not in the config's splits ({', '.join(split_cfgs)})")
    section["splits"] = [split_cfgs[s] for s in wanted_splits]
    cfg["store"] = str(Path(args.store).resolve())
    return config_path, cfg, section, ds_name, budget, bootstrap, split_cfgs, wanted_splits


def prepare_workdir(args, cfg: dict):
    """The workflow's working directory (emptied first with ``--fresh``) holding ``config.yaml``."""
    import shutil
    from pathlib import Path

    import yaml

    work = Path(args.workdir)
    if work.exists() and args.fresh:
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    return work
