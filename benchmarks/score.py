"""End-to-end screening throughput and memory, on 2 cores.

For each library size (default 100,000 and 400,000 molecules: RDKit's NCI set repeated
with unique ids — it holds 4,965 distinct standardizable structures, which the report
states), runs the whole screen the way `theraflow score run --workers 2` does:
read → standardize → feature store → ensemble scoring → gather (ranked tables, top-k):

- cold: an empty feature store: molecules/s end to end, featurization included;
- warm: the same library again with the store filled: pairs/s end to end;
- peak RSS of the scoring worker processes and of the gather step, per size
  (memory should depend on the shard size, not on the library size).

The model is an ensemble over seeds (default: 2 seeds of the Davis benchmark
architecture, models/dti_gin_cnn, trained briefly on the shared Davis data — training
quality does not change the timing), scored against a panel of targets (default 20
Davis kinases, by sequence). Writes benchmarks/results/score.json. Measures; does not assert.

    python benchmarks/score.py [--sizes 100000 400000] [--workers 2] [--chunk-size 25000]
                               [--targets 20] [--model DIR ...] [--cold-max 100000]
                               [--repeats 3] [--repeat-max 100000]

Times are medians over ``--repeats`` runs (sizes up to ``--repeat-max``); each run is a
fresh process, so the gather step's peak RSS belongs to that run alone.

``--scale`` measures real molecules instead (issue 22): MOSES (../shared/data/moses, see benchmarks/_moses.py)
as a library of each ``--scale-formats`` at each ``--scale-sizes``, screened cold (an empty feature store) by
an ensemble of ``--ensemble-seeds`` models of the shipped recipe (models/dti_hybrid, trained 2 epochs on Davis:
enough weights to time scoring) against ``--targets`` Davis kinases, with RDKit's parse-only rate measured in
the same run. Its rows go to score.json's ``scale`` list (other rows and fields kept; a row measured again is
replaced), each with the commit and date it was measured at:

    python benchmarks/score.py --scale [--scale-formats smi csv parquet sdf] [--scale-sizes 100000 1584663]

A screen longer than a sitting (10 M molecules: hours) runs in parts with ``--resume``: stop it, run the same
command again, and it goes on from the shards it finished; the row's seconds are the parts' sum (``parts``).

``--regather`` measures the gather step again on rows already screened (``--scale-formats`` × ``--scale-sizes``,
their shards kept in ``--workdir``), in a fresh process with the current code (the group merges first when the
screen has more than 64 shards): the row's ``peak_rss_mb_gather`` becomes the largest of the gather's and the
merges', and ``regather`` records the commit, the merge and gather seconds and the flat gather's figures
(the row's ``seconds`` stay those of the full screen)::

    python benchmarks/score.py --scale --regather --scale-sizes 10000000 --scale-formats smi --workdir /tmp/tf-scale

``--dag N`` times the workflow's DAG on an N-molecule MOSES ``.smi`` library instead: the score_count job once
(the library's first indexing), then ``snakemake -n`` three times, and the jobs per rule it plans (score.json's
``dag_seconds``, with ``submissions_per_stage``):

    python benchmarks/score.py --dag 10000000
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import machine_info  # noqa: E402

REPO = HERE.parent
SHARED = REPO.parent / "shared" / "data"
# what a screen measured in parts runs: parts at commits that differ here are not one measurement
MEASURED = ("src", "pyproject.toml", "benchmarks/_moses.py")


def make_library(n: int, path: Path) -> None:
    from rdkit import RDConfig

    lines = [line.split() for line in (Path(RDConfig.RDDataDir) / "NCI" / "first_5K.smi").read_text().splitlines()
             if line.strip()]
    with open(path, "w") as fh:
        for i in range(n):
            smi, name = lines[i % len(lines)][0], lines[i % len(lines)][-1]
            fh.write(f"{smi} {name}-r{i // len(lines)}\n")


def default_models(work: Path, seeds=(0, 1), recipe: str = "dti_gin_cnn") -> list[Path]:
    """Seeds of a Davis recipe (models/<recipe>), trained 2 epochs (enough weights to time scoring)."""
    import pandas as pd
    import yaml

    from theraflow.chem import featurize, standardize
    from theraflow.pairs.data import Molecules, build_pair_data
    from theraflow.pairs.loaders import load_deepdta, load_deepdta_folds
    from theraflow.pairs.splits import make_split
    from theraflow.pairs.task import task_spec
    from theraflow.pairs.train import train_model

    spec = task_spec("dti", "regression")
    pairs = load_deepdta(SHARED / "davis")
    part = make_split(pairs, "setting1", spec.task, folds=load_deepdta_folds(SHARED / "davis")).to_numpy()
    drugs = pairs[["drug_id", "smiles"]].drop_duplicates("drug_id")
    kept, _ = standardize(pd.DataFrame({"record": range(1, len(drugs) + 1), "id": drugs["drug_id"],
                                        "input": drugs["smiles"], "kind": "smiles"}))
    res = featurize(kept["smiles"].tolist(), "default")
    ps = build_pair_data(spec, pairs, Molecules({d: i for i, d in enumerate(kept["id"])}, res.graphs))
    cfg = yaml.safe_load((REPO / "models" / recipe / "config.yaml").read_text())
    out = []
    for s in seeds:
        d = work / ("model" if recipe == "dti_gin_cnn" else f"model_{recipe}") / f"seed{s}"
        if not (d / "model.json").exists():
            train_model(ps, part, cfg, d, seed=s, training={"max_epochs": 2, "max_minutes": 10}, progress=False)
        out.append(d)
    return out


def _screen(library: Path, models, outdir: Path, store: Path, targets: Path | None, workers: int,
            chunk: int, started: Path | None = None) -> tuple[dict, float]:
    from theraflow.pairs.screen import score_library

    t0 = time.perf_counter()
    if started is not None:  # when the clock started (a screen in parts: a stopped part is timed from it)
        started.write_text(f"{time.time()}\n")
    summary = score_library(library, models, outdir, targets=targets, store=store, chunk_size=chunk,
                            workers=workers, top_k=50)
    return summary, time.perf_counter() - t0


def run_screen(library: Path, models, outdir: Path, store: Path, targets: Path | None, workers: int,
               chunk: int, *, fresh: bool = True, started: Path | None = None) -> tuple[dict, float]:
    """One screen in a fresh process, so that the gather step's peak RSS is this screen's alone
    (a process's peak RSS never goes down). The clock starts once theraflow is imported. ``fresh=False``
    keeps what ``outdir`` holds (a screen resumed: its finished shards are not scored again)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    if fresh and outdir.exists():
        shutil.rmtree(outdir)
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(_screen, library, models, outdir, store, targets, workers, chunk, started).result()


def target_table(models, work: Path, n: int) -> Path | None:
    import pandas as pd

    meta = json.loads((models[0] / "model.json").read_text())
    partners = meta.get("partners") or {}
    if partners.get("values"):  # the pair engine's model.json: the targets it trained on, by id and sequence
        t = pd.DataFrame({"target_id": partners["ids"], "sequence": partners["values"]})
    elif meta.get("target_sequences"):
        t = pd.DataFrame({"target_id": meta["target_ids"], "sequence": meta["target_sequences"]})
    else:
        return None
    t = t[t["sequence"] != ""].head(n)
    out = work / f"targets_{n}.tsv"
    t.to_csv(out, sep="\t", index=False)
    return out


def resumed_screen(lib: Path, models, outdir: Path, store: Path, targets: Path | None, args,
                   stamp: dict) -> tuple[dict, float, list[dict]]:
    """A screen that may take several invocations (``--resume``): its shards, store and a log of its parts
    (``<outdir>.parts.json``) are kept in the work folder; an invocation that is stopped counts the time from
    its clock's start (as for a screen in one go: once theraflow is imported) to the last shard it finished
    (what it left half done is scored again, and counted again,
    by the next part: the sum overstates the work by at most a shard per worker). A part refuses to continue
    a screen whose earlier parts ran other code (a commit that differs in what the screen runs: ``MEASURED``)
    or with uncommitted changes."""
    import subprocess

    from theraflow.io import write_json

    log_path = outdir.parent / f"{outdir.name}.parts.json"
    started = outdir.parent / f"{outdir.name}.part-start"
    parts = json.loads(log_path.read_text()) if log_path.exists() else []
    if not parts:  # a screen started afresh: nothing from an earlier screen is reused
        shutil.rmtree(outdir, ignore_errors=True)
        shutil.rmtree(store, ignore_errors=True)
    elif parts[-1].get("end") is None:  # the last part was stopped: it ends with the last shard it finished
        if started.exists():  # the stopped screen's clock start (later than the part's: imports)
            parts[-1]["start"] = max(parts[-1]["start"], float(started.read_text()))
        stats = [p.stat().st_mtime for p in (outdir / "shards").glob("*.stats.json")
                 if p.stat().st_mtime >= parts[-1]["start"]]
        parts[-1]["end"] = max(stats, default=parts[-1]["start"])
        parts[-1]["stopped"] = True
    for part in parts:
        changed = []
        if part["commit"] != stamp["commit"]:
            diff = subprocess.run(["git", "diff", "--name-only", part["commit"], "HEAD", "--", *MEASURED], cwd=REPO,
                                  capture_output=True, text=True)
            changed = diff.stdout.split() if diff.returncode == 0 else [f"{part['commit']} is not in this clone"]
        if part["dirty"] or stamp["dirty"] or changed:
            raise SystemExit(f"{log_path}: a part ran at {part['commit']}{' (dirty)' if part['dirty'] else ''}, "
                             f"now {stamp['commit']}{' (dirty)' if stamp['dirty'] else ''}"
                             f"{' (changed: ' + ', '.join(changed[:5]) + ')' if changed else ''}: commit, or delete "
                             f"{log_path.name} to start afresh")
    part = {"start": time.time(), "end": None, "commit": stamp["commit"], "dirty": stamp["dirty"],
            "date": stamp["date"]}
    parts.append(part)
    write_json(log_path, parts)
    summary, seconds = run_screen(lib, models, outdir, store, targets, args.workers, args.chunk_size, fresh=False,
                                  started=started)
    part["start"] = float(started.read_text())
    part["end"] = part["start"] + seconds
    started.unlink()
    write_json(log_path, parts)
    out = [{"seconds": round(p["end"] - p["start"], 1), "commit": p["commit"], "date": p["date"],
            **({"stopped": True} if p.get("stopped") else {})} for p in parts]
    log_path.unlink()  # finished: a later --resume run starts afresh
    return summary, sum(p["end"] - p["start"] for p in parts), out


def scale(args, work: Path) -> int:
    """MOSES libraries per format and size, cold store, the shipped recipe's ensemble (see the docstring)."""
    from _common import provenance
    from _moses import DISTINCT, make_library, parse_only_rate

    models = [Path(m) for m in args.model] if args.model else \
        default_models(work, seeds=tuple(range(args.ensemble_seeds)), recipe="dti_hybrid")
    targets = target_table(models, work, args.targets)
    parse_rate = parse_only_rate()
    print(f"RDKit parse only: {parse_rate:.0f} molecules/s on one core", flush=True)
    rows = []
    for n in args.scale_sizes:
        for fmt in args.scale_formats:
            t = time.perf_counter()
            lib = make_library(n, fmt, work / "moses")
            made = time.perf_counter() - t
            store = work / f"store_scale_{fmt}_{n}" if args.resume else work / "store_scale"
            outdir = work / f"scale_{fmt}_{n}"
            stamp = provenance()  # the code the screen imports is the code at its start
            if args.resume:
                summary, seconds, parts = resumed_screen(lib, models, outdir, store, targets, args, stamp)
            else:
                shutil.rmtree(store, ignore_errors=True)
                summary, seconds = run_screen(lib, models, outdir, store, targets, args.workers, args.chunk_size)
                parts = None
            row = {"format": fmt, "molecules": n, "distinct": min(n, DISTINCT), "kept": summary["kept"],
                   "rejected": summary["records"] - summary["kept"], "targets": len(summary["targets"]),
                   "models": len(models), "workers": args.workers, "chunk_size": args.chunk_size,
                   "shards": summary["shards"], "seconds": round(seconds, 1), "mol_per_s": round(n / seconds, 1),
                   "seconds_per_million": round(seconds / n * 1e6, 1),
                   "peak_rss_mb_worker": max(summary["shard_peak_rss_mb"]),
                   "peak_rss_mb_gather": max([summary["gather_peak_rss_mb"], *summary.get("merge_peak_rss_mb", [])]),
                   "index_seconds": summary["index"]["seconds"], "store_misses": summary["store_misses"],
                   "seconds_by_step": summary["seconds_by_step"], "library_bytes": lib.stat().st_size,
                   "library_write_seconds": round(made, 1), "parse_only_mol_per_s_one_core": round(parse_rate, 1),
                   **({"parts": parts} if parts else {}), **stamp}
            rows.append(row)
            print(json.dumps(row), flush=True)
            write_scale(Path(args.out), rows, models, args)  # each row as it is measured: a stopped run keeps it
    return 0


def _regather(outdir: Path, workers: int) -> dict:
    """The merges (if any) and the gather of a screen's kept shards, in this process (see regather)."""
    from theraflow.pairs.screen import _merge_groups, gather_scores

    shards = outdir / "shards"
    scores = sorted(str(p) for p in shards.glob("*.scores.arrow"))
    t0 = time.perf_counter()
    files, merge_stats = _merge_groups(scores, outdir / "merged", workers)
    merged = time.perf_counter() - t0
    summary = gather_scores(files, outdir, top_k=50, stats_files=sorted(shards.glob("*.stats.json")),
                            reject_files=sorted(shards.glob("*.rejects.parquet")), merge_stats_files=merge_stats)
    shutil.rmtree(outdir / "merged", ignore_errors=True)
    return {**summary, "merge_wall_seconds": round(merged, 3)}


def regather(args, work: Path) -> int:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    from _common import merge_rows, provenance

    out = Path(args.out)
    report = json.loads(out.read_text())
    rows = []
    for n in args.scale_sizes:
        for fmt in args.scale_formats:
            row = next((r for r in report.get("scale", []) if r["format"] == fmt and r["molecules"] == n), None)
            outdir = work / f"scale_{fmt}_{n}"
            if row is None or not (outdir / "shards").is_dir():
                raise SystemExit(f"no {fmt} row of {n} molecules with its shards in {outdir}: run --scale first")
            old = json.loads((outdir / "summary.json").read_text())
            stamp = provenance()
            with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
                summary = pool.submit(_regather, outdir, args.workers).result()
            merges = summary.get("merge_peak_rss_mb", [])
            flat = row.get("regather", {}).get("flat") or {"peak_rss_mb_gather": row["peak_rss_mb_gather"],
                                                           "gather_seconds": old.get("gather_seconds")}
            new = {**row, "peak_rss_mb_gather": max([summary["gather_peak_rss_mb"], *merges]),
                   "regather": {"groups": summary.get("merge_groups", 0),
                                "peak_rss_mb_final_gather": summary["gather_peak_rss_mb"],
                                "peak_rss_mb_merges": merges, "merge_wall_seconds": summary["merge_wall_seconds"],
                                "gather_seconds": summary["gather_seconds"], "flat": flat,
                                "commit": stamp["commit"], "dirty": stamp["dirty"], "date": stamp["date"]}}
            rows.append(new)
            print(json.dumps(new["regather"]), flush=True)
            print(f"{fmt} {n}: gather peak RSS {flat['peak_rss_mb_gather']} MB in one gather -> "
                  f"{new['peak_rss_mb_gather']} MB ({new['regather']['groups']} groups); merge "
                  f"{summary['merge_wall_seconds']:.0f} s + gather {summary['gather_seconds']:.0f} s", flush=True)
    report["scale"] = merge_rows(report["scale"], rows, ("format", "molecules"))
    from theraflow.io import write_text

    write_text(out, json.dumps(report, indent=2) + "\n")
    return 0


def write_scale(out: Path, rows: list[dict], models, args) -> None:
    """Merge ``rows`` into score.json's ``scale`` list (and the top-level numbers bars read); print the table."""
    from _common import merge_rows

    from theraflow.io import write_text

    report = json.loads(out.read_text()) if out.exists() else {}
    report["scale"] = merge_rows(report.get("scale", []), rows, ("format", "molecules"))
    report["scale_setup"] = {
        "library": "MOSES (train, test, test_scaffolds; concatenated again with new ids above 1,936,962)",
        "models": f"{len(models)} seeds of models/dti_hybrid (2 epochs on Davis: weights for timing only)",
        "targets": args.targets, "machine": machine_info(),
        "store": "cold (emptied before each row; above 1,936,962 molecules the library repeats MOSES, and the "
                 "repeats find their graphs in the store the row has filled)"}
    cold = [r for r in report["scale"] if r["format"] == "smi"]
    if cold:
        best = max(cold, key=lambda r: r["molecules"])
        # top-level numbers (what bars read), with the row they come from beside them
        report["cold_mol_per_s"] = best["mol_per_s"]
        report["parse_only_mol_per_s_one_core"] = best["parse_only_mol_per_s_one_core"]
        report["cold_mol_per_s_detail"] = {"molecules": best["molecules"], "format": "smi",
                                           "workers": best["workers"], "goal": 2000, "commit": best["commit"],
                                           "date": best["date"]}
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text(out, json.dumps(report, indent=2) + "\n")  # atomic: a run stopped mid-write keeps the old file
    print(f"\n{'format':>8} {'molecules':>10} {'seconds':>8} {'mol/s':>7} {'s per M':>8} {'worker MB':>10} "
          f"{'gather MB':>10}")
    for r in sorted(report["scale"], key=lambda r: (r["molecules"], r["format"])):
        print(f"{r['format']:>8} {r['molecules']:>10} {r['seconds']:>8.0f} {r['mol_per_s']:>7.0f} "
              f"{r['seconds_per_million']:>8.0f} {r['peak_rss_mb_worker']:>10.0f} {r['peak_rss_mb_gather']:>10.0f}")
    print(f"wrote {out}")


def dag(args, work: Path) -> int:
    """The workflow's DAG on a ``--dag N`` MOSES library: the score_count checkpoint once (the first indexing,
    timed), then ``snakemake -n`` (timed, the median of 3) and the jobs per rule it plans; written as
    score.json's ``dag_seconds`` and ``submissions_per_stage`` (the whole row under ``dag``)."""
    import re
    import subprocess

    import yaml
    from _common import provenance
    from _moses import make_library

    models = [Path(m) for m in args.model] if args.model else \
        default_models(work, seeds=tuple(range(args.ensemble_seeds)), recipe="dti_hybrid")
    targets = target_table(models, work, args.targets)
    t = time.perf_counter()
    lib = make_library(args.dag, "smi", work / "moses")
    print(f"library {lib}: {lib.stat().st_size / 1e6:.0f} MB, written in {time.perf_counter() - t:.0f} s", flush=True)
    d = work / f"dag_{args.dag}"
    d.mkdir(parents=True, exist_ok=True)
    cfg = {"results": str(d / "results"), "store": str(d / "store"),
           "score": {"libraries": {"moses": {"path": str(lib), "chunk_size": args.chunk_size}},
                     "model_dirs": [str(m) for m in models], "targets": str(targets) if targets else None}}
    (d / "config.yaml").write_text(yaml.safe_dump(cfg))
    base = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(d),
            "--configfile", str(d / "config.yaml"), "--workflow-profile", str(REPO / "profiles" / "default"),
            "--cores", "1"]
    count = d / "results" / "score" / "moses" / "library.json"
    count.unlink(missing_ok=True)
    t = time.perf_counter()
    subprocess.run([*base, str(count)], check=True, capture_output=True)
    first = time.perf_counter() - t
    runs, out = [], ""
    for _ in range(3):
        t = time.perf_counter()
        proc = subprocess.run([*base, "-n", "--quiet", "rules"], check=True, capture_output=True, text=True)
        runs.append(time.perf_counter() - t)
        out = proc.stdout + proc.stderr
    jobs = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", out, re.M) if m.group(1) != "total"}
    info = json.loads(count.read_text())
    row = {"molecules": args.dag, "chunk_size": args.chunk_size, "shards": info["shards"],
           "first_count_and_index_seconds": round(first, 1), "index_seconds": info.get("index_seconds"),
           "dag_seconds": round(statistics.median(runs), 1), "dag_seconds_runs": [round(x, 1) for x in runs],
           "jobs_per_rule": jobs,
           "submissions_per_stage": {r: n for r, n in jobs.items() if r != "all"},  # `all` runs on the login node
           "machine": machine_info(), **provenance()}
    print(json.dumps(row, indent=1), flush=True)
    out_path = Path(args.out)
    report = json.loads(out_path.read_text()) if out_path.exists() else {}
    report["dag_seconds"] = row["dag_seconds"]  # top-level numbers (what bars read); the row beside them
    report["submissions_per_stage"] = row["submissions_per_stage"]
    report["dag"] = row
    out_path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out_path}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 400_000])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--chunk-size", type=int, default=25_000)
    ap.add_argument("--targets", type=int, default=20, help="Davis kinases to score against (by sequence)")
    ap.add_argument("--model", action="append", help="trained model directory (repeat); default: see docstring")
    ap.add_argument("--cold-max", type=int,
                    help="measure the cold store only up to this size; larger sizes run warm on the store of the "
                         "previous size (the library repeats the same structures, so that store holds them all)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per measurement; the median is reported")
    ap.add_argument("--repeat-max", type=int, default=100_000,
                    help="repeat only sizes up to this (larger ones run once)")
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "theraflow-score-benchmark"))
    ap.add_argument("--out", default=str(HERE / "results" / "score.json"))
    ap.add_argument("--scale", action="store_true", help="MOSES per format and size instead (see the docstring)")
    ap.add_argument("--scale-formats", nargs="+", default=["smi", "csv", "parquet", "sdf"],
                    choices=["smi", "csv", "tsv", "parquet", "sdf"])
    ap.add_argument("--scale-sizes", type=int, nargs="+", default=[100_000, 1_584_663])
    ap.add_argument("--ensemble-seeds", type=int, default=3)
    ap.add_argument("--resume", action="store_true",
                    help="--scale: a screen that may take several invocations (stop it, run the same command "
                         "again: finished shards are kept and the parts' times summed; see resumed_screen)")
    ap.add_argument("--regather", action="store_true",
                    help="--scale: measure the gather again on rows already screened (see the docstring)")
    ap.add_argument("--dag", type=int, metavar="N",
                    help="time the workflow's DAG (snakemake -n) on an N-molecule MOSES library instead")
    args = ap.parse_args()

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    if args.scale and args.regather:
        return regather(args, work)
    if args.scale:
        return scale(args, work)
    if args.dag:
        return dag(args, work)
    models = [Path(m) for m in args.model] if args.model else default_models(work)
    targets = target_table(models, work, args.targets)
    rows = []
    for n in args.sizes:
        lib = work / f"library_{n}.smi"
        if not lib.exists():
            make_library(n, lib)
        reps = args.repeats if args.repeat_max is None or n <= args.repeat_max else 1
        cold, cold_times, warm_times = None, [], []
        for _ in range(reps):  # the median of a few runs: a shared machine's timings wander by 10-15 %
            if args.cold_max is None or n <= args.cold_max or not rows:
                store = work / f"store_{n}"
                shutil.rmtree(store, ignore_errors=True)
                cold, cold_s = run_screen(lib, models, work / f"cold_{n}", store, targets, args.workers,
                                          args.chunk_size)
                cold_times.append(cold_s)
            warm, warm_s = run_screen(lib, models, work / f"warm_{n}", store, targets, args.workers,
                                      args.chunk_size)
            warm_times.append(warm_s)
        cold_s = statistics.median(cold_times) if cold_times else None
        warm_s = statistics.median(warm_times)
        runs = [r for r in (cold, warm) if r is not None]
        row = {
            "molecules": n, "distinct_input_smiles": len({line.split()[0] for line in lib.open()}),
            "kept": warm["kept"],
            "targets": len(warm["targets"]), "models": len(models), "pairs": warm["pairs"],
            "workers": args.workers, "chunk_size": args.chunk_size, "shards": warm["shards"],
            "repeats": reps, "cold_seconds_runs": [round(x, 1) for x in cold_times],
            "warm_seconds_runs": [round(x, 1) for x in warm_times],
            "cold_seconds": round(cold_s, 1) if cold else None,
            "cold_mol_per_s": round(n / cold_s, 1) if cold else None,
            "cold_store_misses": cold["store_misses"] if cold else None,
            "warm_seconds": round(warm_s, 1), "warm_pairs_per_s": round(warm["pairs"] / warm_s, 1),
            "warm_mol_per_s": round(n / warm_s, 1), "warm_store_hits": warm["store_hits"],
            "warm_store_misses": warm["store_misses"],
            "peak_rss_mb_worker": max(x for r in runs for x in r["shard_peak_rss_mb"]),
            "peak_rss_mb_gather": max(r["gather_peak_rss_mb"] for r in runs),
            "seconds_by_step_cold": cold["seconds_by_step"] if cold else None,
            "seconds_by_step_warm": warm["seconds_by_step"],
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    report = {
        "benchmark": "end-to-end screening (read, standardize, feature store, ensemble scoring, gather)",
        "library": "RDKit NCI first_5K.smi repeated with unique ids",
        "model_dirs": [str(m) for m in models],
        "machine": machine_info(),
        "targets_goal": {"cold_mol_per_s": 2000, "warm_pairs_per_s": 20000, "rss": "flat in library size"},
        "results": rows,
    }
    if len(rows) > 1:
        report["rss_growth_worker_mb"] = round(rows[-1]["peak_rss_mb_worker"] - rows[0]["peak_rss_mb_worker"], 1)
        report["rss_growth_gather_mb"] = round(rows[-1]["peak_rss_mb_gather"] - rows[0]["peak_rss_mb_gather"], 1)
    out = Path(args.out)
    if out.exists():  # the scale rows (--scale) and other parts stay
        earlier = json.loads(out.read_text())
        report = {**{k: v for k, v in earlier.items() if k not in report and not k.startswith("rss_growth")},
                  **report}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{'molecules':>10} {'cold mol/s':>11} {'warm pairs/s':>13} {'worker RSS MB':>14} {'gather RSS MB':>14}")
    for r in rows:
        cold = f"{r['cold_mol_per_s']:>11.0f}" if r["cold_mol_per_s"] else f"{'(warm only)':>11}"
        print(f"{r['molecules']:>10} {cold} {r['warm_pairs_per_s']:>13.0f} "
              f"{r['peak_rss_mb_worker']:>14.0f} {r['peak_rss_mb_gather']:>14.0f}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
