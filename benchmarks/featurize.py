"""Featurization throughput, side by side with the reference tools, on one core.

Every method gets the same input: RDKit's bundled NCI set, standardized by theraflow
(canonical SMILES of the records that standardize), repeated to --n molecules. Each
method starts from SMILES strings and ends with graphs (or parsed molecules for the
parse-only baseline):

- RDKit parse only          Chem.MolFromSmiles
- torch_geometric from_smiles
- DeepChem MolGraphConvFeaturizer (use_edges=True), given SMILES
- theraflow default / pyg   featurize(..., store=None): parse + featurize into a GraphSet
- theraflow default store cold / warm: the same through an empty, then a filled feature
  store (dedupe off, so every input is a lookup and, when cold, a computation)

Writes benchmarks/results/featurize.json: a list of {"method", "mol_per_s", ...}, and
featurize.meta.json with the machine and the ratios the foundation issue targets.
The script measures; it does not assert.

    python benchmarks/featurize.py [--n 20000] [--repeats 3] [--cpu 0]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def pin_to_one_core(cpu: int) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})


def timed(fn, repeats: int) -> float:
    """Median wall time of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20_000, help="molecules (NCI set repeated)")
    ap.add_argument("--repeats", type=int, default=3, help="runs of each fast method (median reported)")
    ap.add_argument("--cpu", type=int, default=0, help="CPU to pin the process to")
    ap.add_argument("--out", default=str(HERE / "results" / "featurize.json"))
    args = ap.parse_args()
    pin_to_one_core(args.cpu)

    import torch
    from rdkit import Chem, RDConfig, rdBase

    torch.set_num_threads(1)
    from deepchem.feat import MolGraphConvFeaturizer
    from torch_geometric.utils import from_smiles

    from theraflow.chem import FeatureStore, featurize, read_molecules, standardize

    records, _ = read_molecules(Path(RDConfig.RDDataDir) / "NCI" / "first_5K.smi")
    kept, _ = standardize(records)
    base = kept["smiles"].tolist()
    smiles = (base * (args.n // len(base) + 1))[: args.n]
    n = len(smiles)
    print(f"{n} molecules ({len(base)} standardized NCI molecules repeated), pinned to CPU {args.cpu}")

    rows = []

    def record(method: str, seconds: float, runs: int) -> None:
        rows.append({"method": method, "mol_per_s": round(n / seconds, 1), "seconds": round(seconds, 3),
                     "molecules": n, "runs": runs})
        print(f"  {method:<40} {n / seconds:>10.0f} mol/s  ({seconds:.2f} s, median of {runs})", flush=True)

    with rdBase.BlockLogs():
        record("RDKit parse only", timed(lambda: [Chem.MolFromSmiles(s) for s in smiles], args.repeats),
               args.repeats)
        record("torch_geometric from_smiles", timed(lambda: [from_smiles(s) for s in smiles], 1), 1)
        dc = MolGraphConvFeaturizer(use_edges=True)
        record("DeepChem MolGraphConvFeaturizer", timed(lambda: dc.featurize(smiles), 1), 1)
    record("theraflow default (store off)",
           timed(lambda: featurize(smiles, "default", dedupe=False), args.repeats), args.repeats)
    record("theraflow pyg (store off)",
           timed(lambda: featurize(smiles, "pyg", dedupe=False), args.repeats), args.repeats)

    cold_times, warm_times = [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="tf-store-") as d:
            t0 = time.perf_counter()
            cold = featurize(smiles, "default", store=FeatureStore(d), dedupe=False)
            cold_times.append(time.perf_counter() - t0)
            assert cold.misses == n
            t0 = time.perf_counter()
            warm = featurize(smiles, "default", store=FeatureStore(d), dedupe=False)  # a fresh process view
            warm_times.append(time.perf_counter() - t0)
            assert warm.hits == n and warm.graphs.equals(cold.graphs)
    record("theraflow default store cold", statistics.median(cold_times), args.repeats)
    record("theraflow default store warm", statistics.median(warm_times), args.repeats)

    rate = {r["method"]: r["mol_per_s"] for r in rows}
    ratios = {
        "default / parse": rate["theraflow default (store off)"] / rate["RDKit parse only"],
        "default / from_smiles": rate["theraflow default (store off)"] / rate["torch_geometric from_smiles"],
        "warm store / cold store": rate["theraflow default store warm"] / rate["theraflow default store cold"],
    }
    targets = {"default / parse": 0.5, "default / from_smiles": 2.0, "warm store / cold store": 10.0}
    print("\nratio                       measured   target")
    for k, v in ratios.items():
        print(f"  {k:<25} {v:>8.2f}   >= {targets[k]}")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2) + "\n")
    import deepchem
    import rdkit
    import torch_geometric

    meta = {
        "molecules": n,
        "unique_molecules": len(base),
        "cpu_pinned": args.cpu,
        "machine": {"processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                    "python": sys.version.split()[0]},
        "versions": {"rdkit": rdkit.__version__, "torch": torch.__version__,
                     "torch_geometric": torch_geometric.__version__, "deepchem": deepchem.__version__},
        "ratios": {k: round(v, 3) for k, v in ratios.items()},
        "targets": targets,
    }
    out.with_name("featurize.meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"\nwrote {out} and {out.with_name('featurize.meta.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
