"""The feature store at library scale: lookups, writes, verify, stats and gc from 100,000 to 10,000,000 entries.

A screen of N distinct molecules leaves N entries in the store, written by the shard jobs as packs of one
shard each. This fills a store the same way (``FeatureStore.put`` of 25,000 graphs per pack: real MOSES
graphs, featurized once and tiled, under distinct keys) and, at each ``--sizes`` checkpoint, measures in a
fresh process what a shard job pays when it opens the store: loading the key index (seconds and the RSS it
adds; ``first_open_*``: the first process after new packs, which merges them into a key snapshot), looking up 25,000 keys (half of them absent), reading 25,000 graphs of one pack, and writing one
pack. At the largest size it times ``verify`` (every pack's sha256 and structure), ``stats`` and ``gc``
(leftover temporary files; no compaction). Writes benchmarks/results/store_scale.json. Measures; does not
assert.

    python benchmarks/store_scale.py [--sizes 100000 1000000 5000000 10000000] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import machine_info, provenance  # noqa: E402

PACK = 25_000
FID = "bench000000000000"


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _probe(root: str, sample: str) -> dict:
    """What a shard job pays on opening the store (run in a fresh process)."""
    import numpy as np

    from theraflow.chem.store import FeatureStore

    keys = np.load(sample)
    present, absent = keys["present"], keys["absent"]
    one_pack = keys["one_pack"]
    rss0 = _rss_mb()
    store = FeatureStore(root)
    t = time.perf_counter()
    idx = store._index(FID)
    load = time.perf_counter() - t
    rss1 = _rss_mb()
    query = np.concatenate([present, absent])
    t = time.perf_counter()
    found = store.contains(FID, query)
    lookup = time.perf_counter() - t
    t = time.perf_counter()
    graphs, mask = store.get(FID, one_pack)
    get = time.perf_counter() - t
    return {"entries": len(idx), "index_load_seconds": round(load, 3), "index_rss_mb": round(rss1 - rss0, 1),
            "lookup_seconds": round(lookup, 4), "lookup_keys": len(query),
            "lookup_found": int(found.sum()), "get_seconds": round(get, 3), "get_graphs": int(mask.sum()),
            "peak_rss_mb": round(_rss_mb(), 1)}


def _fresh(fn, *args):
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 5_000_000, 10_000_000])
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "theraflow-store-benchmark"))
    ap.add_argument("--out", default=str(HERE / "results" / "store_scale.json"))
    args = ap.parse_args()

    import numpy as np
    from _moses import moses_smiles

    from theraflow.chem.featurize import featurize
    from theraflow.chem.store import KEY_BYTES, FeatureStore

    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    base = featurize(list(moses_smiles(2_500)), "default").graphs
    tile = base.take(np.arange(PACK) % len(base))
    store = FeatureStore(work / "store")
    rng = np.random.default_rng(0)
    samples: list[np.ndarray] = []
    rows, n, put_seconds = [], 0, []
    last_keys = None
    for size in sorted(args.sizes):
        while n < size:
            keys = rng.integers(0, 256, size=(PACK, KEY_BYTES), dtype=np.uint8)
            t = time.perf_counter()
            store.put(FID, keys, tile)
            put_seconds.append(time.perf_counter() - t)
            samples.append(keys[rng.choice(PACK, 64, replace=False)])
            last_keys = keys
            n += PACK
        present = np.concatenate(samples)
        present = present[rng.choice(len(present), min(12_500, len(present)), replace=False)]
        absent = rng.integers(0, 256, size=(12_500, KEY_BYTES), dtype=np.uint8)
        sample = work / "sample.npz"
        np.savez(sample, present=present, absent=absent, one_pack=last_keys)
        # the first process to open the store after new packs merges them into a key snapshot; the next one
        # maps that snapshot: what every later shard job pays
        first = _fresh(_probe, str(work / "store"), str(sample))
        probe = _fresh(_probe, str(work / "store"), str(sample))
        probe.update({f"first_open_{k}": first[k] for k in ("index_load_seconds", "index_rss_mb", "peak_rss_mb")})
        bytes_on_disk = sum(p.stat().st_size for p in (work / "store").rglob("*.safetensors"))
        row = {"entries_written": n, "packs": len(list((work / "store").rglob("*.safetensors"))),
               "bytes": bytes_on_disk, "put_seconds_per_pack_median": round(float(np.median(put_seconds[-20:])), 3),
               **probe, **provenance()}
        rows.append(row)
        print(json.dumps(row), flush=True)
    t = time.perf_counter()
    problems = store.verify()
    verify = time.perf_counter() - t
    t = time.perf_counter()
    stats = store.stats()
    stats_s = time.perf_counter() - t
    t = time.perf_counter()
    gc = store.gc()
    gc_s = time.perf_counter() - t
    report = {"benchmark": "feature store at library scale", "pack_graphs": PACK,
              "graphs": "2,500 MOSES molecules (default featurizer) tiled under distinct random keys",
              "machine": machine_info(), "rows": rows,
              "maintenance": {"entries": n, "verify_seconds": round(verify, 1), "verify_problems": len(problems),
                              "stats_seconds": round(stats_s, 1), "stats_entries": stats[0]["entries"],
                              "gc_seconds": round(gc_s, 2), "gc": gc, **provenance()}}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{'entries':>10} {'packs':>6} {'GB':>6} {'1st s':>6} {'index s':>8} {'index MB':>9} {'lookup ms':>10} "
          f"{'get s':>6} {'put s':>6}")
    for r in rows:
        print(f"{r['entries']:>10} {r['packs']:>6} {r['bytes'] / 1e9:>6.1f} {r['first_open_index_load_seconds']:>6.2f} "
              f"{r['index_load_seconds']:>8.2f} "
              f"{r['index_rss_mb']:>9.0f} {r['lookup_seconds'] * 1000:>10.1f} {r['get_seconds']:>6.2f} "
              f"{r['put_seconds_per_pack_median']:>6.2f}")
    m = report["maintenance"]
    print(f"verify {m['verify_seconds']} s ({m['verify_problems']} problems), stats {m['stats_seconds']} s, "
          f"gc {m['gc_seconds']} s at {m['entries']} entries")
    print(f"wrote {out}")
    shutil.rmtree(work / "store", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
