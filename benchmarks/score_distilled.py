"""The distilled first pass against the full ensemble on real molecules (issue 23).

1. The teacher: the shipped recipe's ensemble (models/dti_hybrid, ``--ensemble-seeds`` seeds trained 2 epochs on
   Davis, as benchmarks/score.py) screens ``--corpus`` MOSES molecules (those after the evaluation set, so the
   student never sees an evaluation molecule) against ``--targets`` Davis kinases.
2. The student: ``theraflow.pairs.distill.distill`` on that screen (an MLP over Morgan bits, one output per
   target; 10 % of the corpus held out to pick the epoch), ``--max-minutes`` at most.
3. The evaluation set, the first ``--molecules`` MOSES molecules (the set benchmarks/score_compressed.py uses), is
   screened ``--repeats`` times each way, alternating, ``--workers`` processes, no feature store (cold): the full
   ensemble, and the two-stage screen (the student over every molecule, the ``--keep`` fraction of each shard it
   ranks highest on to the ensemble). Timed end to end (reading, standardizing, featurizing, scoring, gather);
   the median is reported, every run listed.

Figures against the full screen: Spearman per target between the student's and the ensemble's scores (min and
mean), and per target the share of the ensemble's top 1 % that the two-stage screen's first pass passed on
(``top1pct_recall``: min over targets, and mean); ``speedup`` is the full screen's median seconds over the
two-stage screen's.

    python benchmarks/score_distilled.py [--molecules 100000] [--corpus 300000] [--targets 20] [--keep 0.1]

Writes score.json's ``distilled`` (other fields kept). Measures; does not assert.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import machine_info, provenance, set_entry  # noqa: E402

GOAL = {"top1pct_recall": 0.95}


def corpus_library(full: Path, skip: int, n: int, out: Path) -> Path:
    """Lines ``skip + 1`` ... ``skip + n`` of a MOSES .smi library (its ids kept), written once."""
    if out.exists():
        return out
    with full.open() as src:
        lines = [line for i, line in enumerate(src) if skip <= i < skip + n]
    if len(lines) < n:
        raise SystemExit(f"{full}: {skip + len(lines)} molecules; --molecules + --corpus asks for {skip + n}")
    tmp = out.with_name(out.name + ".part")
    tmp.write_text("".join(lines))
    tmp.rename(out)
    return out


def timed_screen(lib: Path, models, outdir: Path, targets: Path, workers: int, chunk: int, first_pass=None,
                 keep: float = 0.1) -> tuple[float, dict]:
    import shutil

    from theraflow.pairs.screen import score_library

    shutil.rmtree(outdir, ignore_errors=True)
    t = time.perf_counter()
    summary = score_library(lib, models, outdir, targets=targets, store=None, chunk_size=chunk, workers=workers,
                            top_k=50, first_pass=first_pass, first_pass_keep=keep)
    return time.perf_counter() - t, summary


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--molecules", type=int, default=100_000, help="the evaluation set (the first N of MOSES)")
    ap.add_argument("--corpus", type=int, default=300_000, help="molecules the student learns from (the next N)")
    ap.add_argument("--targets", type=int, default=20)
    ap.add_argument("--ensemble-seeds", type=int, default=3)
    ap.add_argument("--keep", type=float, default=0.1, help="share of each shard the first pass passes on")
    ap.add_argument("--max-minutes", type=float, default=10.0, help="the student's training budget")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--chunk-size", type=int, default=25_000)
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "theraflow-score-benchmark"))
    ap.add_argument("--out", default=str(HERE / "results" / "score.json"))
    args = ap.parse_args()

    import numpy as np
    from _moses import make_library
    from score import default_models, target_table

    from theraflow.pairs.distill import distill, fingerprints, load_first_pass, per_partner, teacher_scores

    work = Path(args.workdir)
    models = default_models(work, seeds=tuple(range(args.ensemble_seeds)), recipe="dti_hybrid")
    targets = target_table(models, work, args.targets)
    full = make_library(args.molecules + args.corpus, "smi", work / "moses")
    evaluation = corpus_library(full, 0, args.molecules, work / "moses" / f"eval_{args.molecules}.smi")
    corpus = corpus_library(full, args.molecules, args.corpus,
                            work / "moses" / f"corpus_{args.molecules}_{args.corpus}.smi")
    stamp = provenance()

    teacher_dir = work / f"distill_teacher_{args.corpus}"
    t = time.perf_counter()
    if not (teacher_dir / "summary.json").exists():
        timed_screen(corpus, models, teacher_dir, targets, args.workers, args.chunk_size)
    teacher_seconds = time.perf_counter() - t
    print(f"teacher screen of {args.corpus:,} molecules: {teacher_seconds:.0f} s", flush=True)

    student_dir = work / f"first_pass_{args.corpus}"
    t = time.perf_counter()
    meta = distill(teacher_dir, student_dir, max_minutes=args.max_minutes, progress=False)
    print(f"student: {meta['training']['epochs']} epochs, {meta['training']['seconds']} s; held out: "
          f"{json.dumps(meta['validation'])}", flush=True)

    full_runs, two_runs, fp_steps = [], [], []
    for r in range(args.repeats):
        sec, _ = timed_screen(evaluation, models, work / "eval_full", targets, args.workers, args.chunk_size)
        full_runs.append(sec)
        sec2, s2 = timed_screen(evaluation, models, work / "eval_two_stage", targets, args.workers,
                                args.chunk_size, first_pass=student_dir, keep=args.keep)
        two_runs.append(sec2)
        fp_steps.append(s2["seconds_by_step"].get("first_pass"))
        print(f"repeat {r + 1}: full {sec:.1f} s, two-stage {sec2:.1f} s "
              f"({s2['first_pass']['passed']:,} of {s2['first_pass']['scored']:,} passed on)", flush=True)

    # agreement, read once at the end: the full screen's scores, the student's, the first pass's choice
    import pandas as pd

    mols, tids, ref, _ = teacher_scores(work / "eval_full")  # the full screen's ensemble means
    student = load_first_pass(student_dir)
    pred = student.predict(fingerprints(mols["smiles"].tolist(), False))
    pred = pred[:, student.columns_for(tids)]
    first = pd.read_parquet(work / "eval_two_stage" / "first_pass.parquet", columns=["id", "passed"])
    passed = first.set_index("id")["passed"].reindex(mols["id"]).fillna(False).to_numpy(bool)
    rho, recall = per_partner(ref, pred, passed, top=0.01)
    full_s, two_s = statistics.median(full_runs), statistics.median(two_runs)
    distilled = {
        "speedup": round(full_s / two_s, 3), "spearman_min": round(min(rho), 4),
        "top1pct_recall": round(min(recall), 4), "top1pct_recall_mean": round(float(np.mean(recall)), 4),
        "spearman_mean": round(float(np.mean(rho)), 4), "keep": args.keep, "goal": GOAL,
        "cut": "per shard: the molecules with the best first-pass rank for any target",
        "molecules": int(len(ref)), "targets": len(tids), "models": len(models), "workers": args.workers,
        "chunk_size": args.chunk_size, "store": "none (cold)",
        "seconds_full": round(full_s, 1), "seconds_two_stage": round(two_s, 1),
        "seconds_full_runs": [round(x, 1) for x in full_runs],
        "seconds_two_stage_runs": [round(x, 1) for x in two_runs],
        "first_pass_step_seconds_runs": fp_steps,
        "passed": int(passed.sum()),
        "per_target": [{"target_id": t, "spearman": round(a, 4), "top1pct_recall": round(b, 4)}
                       for t, a, b in zip(tids, rho, recall)],
        "teacher": {"molecules": args.corpus, "seconds": round(teacher_seconds, 1),
                    "note": "0 when an earlier run's teacher screen was reused"},
        "student": {"hidden": meta["hidden"], "epochs": meta["training"]["epochs"],
                    "seconds": meta["training"]["seconds"], "energy": meta["training"].get("energy"),
                    "held_out": meta["validation"]},
        "machine": machine_info(), **stamp,
    }
    out = Path(args.out)
    set_entry(out, "distilled", distilled)
    print(f"\n{'screen':>10} {'median s':>9} {'runs'}")
    print(f"{'full':>10} {full_s:>9.1f} {distilled['seconds_full_runs']}")
    print(f"{'two-stage':>10} {two_s:>9.1f} {distilled['seconds_two_stage_runs']}")
    print(f"speed-up {distilled['speedup']:.2f}x; Spearman min {distilled['spearman_min']:.3f} "
          f"(mean {distilled['spearman_mean']:.3f}); top-1 % recall at a {args.keep:.0%} cut: min "
          f"{distilled['top1pct_recall']:.3f}, mean {distilled['top1pct_recall_mean']:.3f}; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
