"""The compressed scoring paths against the float32 ensemble, on real molecules (issue 23).

MOSES molecules (the first ``--molecules``, default 100,000; benchmarks/_moses.py) are standardized and featurized
once; then each engine (theraflow.pairs.engines: ``torch``, the reference, then ``onnx`` and ``onnx_int8``) scores
them with the shipped recipe's ensemble (models/dti_hybrid, ``--ensemble-seeds`` seeds trained 2 epochs on Davis,
as benchmarks/score.py) against ``--targets`` Davis kinases, in this process, ``--threads`` threads, ``--repeats``
times (the median is reported, every run listed). The timed step is what the engines replace: the ensemble's
per-molecule encoders and pair heads over the whole library (``Ensemble.score_graphs``); reading,
standardization and featurization are the same for every engine and are not timed here.

Agreement with torch, per target: Spearman's rank correlation of the ensemble-mean scores, and the share of
torch's top 100 molecules in the engine's top 100; the minimum over targets is reported. ``compressed.path`` is
the fastest engine that keeps Spearman >= 0.99 and top-100 overlap >= 95 % and is faster than torch (torch if
none is); ``compressed.engines`` lists every engine's figures.

    python benchmarks/score_compressed.py [--molecules 100000] [--targets 20] [--repeats 3] [--threads 2]

Writes score.json's ``compressed`` (other fields kept). Measures; does not assert.
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
from _common import (  # noqa: E402
    engine_rows_with_torch_first,
    fastest_that_holds,
    machine_info,
    provenance,
    set_entry,
)

GOAL = {"spearman_min": 0.99, "top100_overlap_min": 0.95}


def graphs_of(lib: Path, store: Path):
    """Standardized SMILES and graphs of a library (through the feature store), and what was rejected."""
    import pandas as pd

    from theraflow.chem import featurize, standardize

    smiles = [line.split()[0] for line in lib.read_text().splitlines() if line.strip()]
    kept, rejected = standardize(pd.DataFrame({"record": range(1, len(smiles) + 1),
                                               "id": [f"m{i}" for i in range(len(smiles))], "input": smiles,
                                               "kind": "smiles"}))
    res = featurize(kept["smiles"].tolist(), "default", store=store)
    return res, len(rejected) + len(res.errors)


def agreement(ref, got, k: int = 100) -> tuple[float, float]:
    """(min Spearman, min top-k overlap) over targets of [molecules, targets] ensemble means."""
    import numpy as np
    from scipy.stats import spearmanr

    rho, overlap = [], []
    for t in range(ref.shape[1]):
        rho.append(float(spearmanr(ref[:, t], got[:, t]).statistic))
        a = set(np.argsort(-ref[:, t], kind="stable")[:k].tolist())
        b = set(np.argsort(-got[:, t], kind="stable")[:k].tolist())
        overlap.append(len(a & b) / k)
    return min(rho), min(overlap)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--molecules", type=int, default=100_000)
    ap.add_argument("--targets", type=int, default=20)
    ap.add_argument("--ensemble-seeds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    from theraflow.registry import ENGINES

    ap.add_argument("--engines", nargs="+", choices=ENGINES.choices(), default=ENGINES.choices())
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "theraflow-score-benchmark"))
    ap.add_argument("--out", default=str(HERE / "results" / "score.json"))
    args = ap.parse_args()

    import numpy as np
    import pandas as pd
    import torch
    from _moses import make_library
    from score import default_models, target_table

    from theraflow.pairs.scoring import load_ensemble

    torch.set_num_threads(args.threads)
    work = Path(args.workdir)
    models = default_models(work, seeds=tuple(range(args.ensemble_seeds)), recipe="dti_hybrid")
    targets = pd.read_csv(target_table(models, work, args.targets), sep="\t")
    lib = make_library(args.molecules, "smi", work / "moses")
    stamp = provenance()
    t = time.perf_counter()
    res, rejected = graphs_of(lib, work / "store_compressed")
    print(f"{len(res.index):,} molecules featurized ({rejected} rejected) in {time.perf_counter() - t:.0f} s",
          flush=True)
    rows, ref = [], None
    for engine in engine_rows_with_torch_first(args.engines):
        ens = load_ensemble(models, engine=engine)
        enc = ens.encode_partners(targets.rename(columns={"target_id": "id", "sequence": "value"}))
        ens.score_graphs(res.graphs.take(np.arange(min(256, len(res.index)))), enc)  # export, sessions
        runs, scores = [], None
        for _ in range(args.repeats):
            t = time.perf_counter()
            scores = ens.score_graphs(res.graphs, enc)
            runs.append(time.perf_counter() - t)
        mean = scores.mean(axis=0)  # [molecules, targets]: the ensemble's ranking score
        if ref is None:
            ref, ref_s = mean, statistics.median(runs)
        rho, overlap = agreement(ref, mean)
        sec = statistics.median(runs)
        row = {"engine": engine, "runs": ens.engines_used()["models"], "seconds_runs": [round(x, 2) for x in runs],
               "seconds": round(sec, 2), "mol_per_s": round(len(res.index) / sec, 1),
               "speedup": round(ref_s / sec, 3), "spearman_min": round(rho, 5), "top100_overlap_min": overlap}
        rows.append(row)
        print(json.dumps(row), flush=True)
    best = fastest_that_holds(rows, lambda r: r["spearman_min"] >= GOAL["spearman_min"]
                              and r["top100_overlap_min"] >= GOAL["top100_overlap_min"])
    compressed = {"path": best["engine"], "speedup": best["speedup"], "spearman_min": best["spearman_min"],
                  "top100_overlap_min": best["top100_overlap_min"], "goal": GOAL,
                  "step": "Ensemble.score_graphs (encoders + pair heads) over the whole library",
                  "molecules": len(res.index), "targets": len(targets), "models": len(models),
                  "threads": args.threads, "engines": rows, "machine": machine_info(), **stamp}
    out = Path(args.out)
    set_entry(out, "compressed", compressed)
    print(f"\n{'engine':>10} {'seconds':>9} {'mol/s':>8} {'speedup':>8} {'Spearman min':>13} {'top-100 min':>12}")
    for r in rows:
        print(f"{r['engine']:>10} {r['seconds']:>9.1f} {r['mol_per_s']:>8.0f} {r['speedup']:>8.2f} "
              f"{r['spearman_min']:>13.4f} {r['top100_overlap_min']:>12.2f}")
    print(f"compressed path: {best['engine']}; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
