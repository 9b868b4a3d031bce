"""Runs killed with SIGKILL at random points (issue 6, item 4).

`theraflow score run` on 3,000 NCI records in 12 shards is killed five times, each time at a
random point (during start-up, inside a shard, between shards, while gathering), and run
again after each kill. The last run completes; shards finished before a kill are not
scored again (their files keep inode and mtime); every output equals that of an
uninterrupted run; the feature store verifies clean; no temporary file is left except in
the store's tmp/, which `theraflow store gc` removes.
"""

from __future__ import annotations

import json
import random
import time

import pandas as pd
import pyarrow as pa
import pytest

from .conftest import cli, run_ok

CHUNK = 250
N_RECORDS = 3000


def _complete(shards) -> dict[str, tuple]:
    """Shards whose stats file exists (the last of a shard's outputs) → (inode, mtime_ns, size) of each output."""
    out = {}
    for stats in sorted(shards.glob("*.stats.json")):
        i = stats.name.split(".")[0]
        files = [shards / f"{i}.{kind}" for kind in ("scores.arrow", "rejects.parquet", "stats.json")]
        out[i] = tuple((f.stat().st_ino, f.stat().st_mtime_ns, f.stat().st_size) for f in files)
    return out


TIMING_KEYS = {"shard_seconds", "shard_peak_rss_mb", "gather_seconds", "gather_peak_rss_mb", "seconds_by_step",
               "wall_seconds_shards", "store_hits", "store_misses", "shards_reused",
               "index"}  # the library index: its folder (per screen) and build time; its counts are compared


@pytest.mark.slow
def test_score_run_killed_five_times_resumes_and_matches(tmp_path, nci_smi, tiny_model, start, theraflow_cmd):
    lines = [line for line in nci_smi.read_text().splitlines() if line.strip()][:N_RECORDS]
    lib = tmp_path / "lib.smi"
    lib.write_text("\n".join(lines) + "\n")
    n_shards = N_RECORDS // CHUNK

    def args(outdir, store):
        return ["score", "run", lib, "--outdir", outdir, "--model", tiny_model, "--store", store,
                "--chunk-size", CHUNK, "--workers", 1, "--no-report"]

    run_ok(theraflow_cmd, args(tmp_path / "ref", tmp_path / "ref-store"), tmp_path)

    out, store = tmp_path / "screen", tmp_path / "store"
    shards = out / "shards"
    rng = random.Random(4)
    # five random points: four after a random number of finished shards plus a random part of
    # a shard's time (at least two shards and the gather step still to do), one when the last
    # shard is written (while gathering); a threshold already reached kills during start-up
    points = [(k, rng.uniform(0.0, 0.25)) for k in sorted(rng.sample(range(1, n_shards - 1), 4))]
    points.append((n_shards, 0.0))
    finished_before: dict[str, tuple] = {}
    kills = []
    for wait_shards, delay in points:
        job = start(args(out, store), tmp_path)
        job.wait_for(lambda n=wait_shards: shards.is_dir() and len(_complete(shards)) >= n)
        time.sleep(delay)
        killed = job.kill()
        rc, _, err = job.finish(timeout=120)
        kills.append((wait_shards, round(delay, 2), killed, rc))
        assert killed and rc == -9, (kills, err[-3000:])
        now = _complete(shards)
        for i, files in finished_before.items():
            assert now[i] == files, f"shard {i} was scored again after kill {len(kills)}"
        finished_before = now
        # a killed run never leaves a corrupt store entry
        from theraflow.chem.store import FeatureStore

        assert FeatureStore(store).verify() == [], kills
    print("kills (shards waited for, delay s, killed, rc):", kills)

    proc = run_ok(theraflow_cmd, args(out, store), tmp_path)
    now = _complete(shards)
    assert len(now) == n_shards
    for i, files in finished_before.items():
        assert now[i] == files, f"shard {i} was scored again by the final run"
    if finished_before:
        assert f"({len(finished_before)} of {n_shards} shards from an earlier run)" in proc.stdout

    # outputs equal those of the uninterrupted run
    ref = tmp_path / "ref"
    for name in ("topk.tsv", "topk_in_domain.tsv", "rejects.tsv", "histograms.json"):
        assert (out / name).read_bytes() == (ref / name).read_bytes(), name
    for rel in [p.relative_to(ref) for p in sorted(ref.rglob("*.parquet"))]:
        pd.testing.assert_frame_equal(pd.read_parquet(out / rel), pd.read_parquet(ref / rel), check_exact=True,
                                      obj=str(rel))
    a, b = (json.loads((d / "summary.json").read_text()) for d in (out, ref))
    assert {k: v for k, v in a.items() if k not in TIMING_KEYS} == {k: v for k, v in b.items() if k not in TIMING_KEYS}
    same = ("records", "blocks", "duplicate_ids", "format", "identity")
    assert {k: a["index"][k] for k in same} == {k: b["index"][k] for k in same}
    assert a["records"] == N_RECORDS == a["kept"] + a["rejected"]
    for s in range(n_shards):  # per shard: the same rows in the same order as the uninterrupted run
        assert pa.ipc.open_file(shards / f"{s:04d}.scores.arrow").read_all().equals(
            pa.ipc.open_file(ref / "shards" / f"{s:04d}.scores.arrow").read_all())

    # no temporary files left in the screen; the store is intact and gc clears its tmp/
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    assert cli(["store", "verify", "--store", store])[0] == 0
    assert all(p.suffix == ".safetensors" for p in store.glob("v1/*/packs/*"))
    assert cli(["store", "gc", "--store", store, "--tmp-age", "0"])[0] == 0
    assert not any((store / "tmp").iterdir())
