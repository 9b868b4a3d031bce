"""Screening a molecule library against partners (targets, panel drugs): shard jobs and the gather step.

A library is cut into fixed-size shards of records. One shard job reads only its
records (ids checked across the whole file), standardizes them, looks their graphs up
in the feature store (featurizing misses), scores every molecule against every target
with the model ensemble, and writes an Arrow IPC file sorted by target and score (record
batches of ``SHARD_BATCH_ROWS`` rows, one target per batch; readable with ``pandas.read_feather``
or ``pyarrow.ipc``). Memory depends on the shard size, not on the library size.

:func:`score_library` runs the shards and the gather step in one call. A shard whose
three outputs (scores, rejects, stats) are complete and were made from the same inputs
(library file, models, targets, chunk size and options: the ``job_key`` in its stats) is
not scored again, so a screen killed part-way (``kill -9``, a node lost, a wall-time
limit) resumes with the shards it had not finished when run again.

The gather step merges the shards target by target (a k-way merge that holds one record
batch per shard, so again independent of library size) into per-target ranked tables, the
top-k of each target, score histograms, a sample of (uncertainty, applicability) points
for the report, and a summary.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import resource
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from theraflow.chem.library_index import library_index, read_molecule_shard
from theraflow.chem.readers import REJECT_COLUMNS
from theraflow.chem.standardize import StandardizeOptions, standardize
from theraflow.errors import InputError
from theraflow.io import atomic_write, safe_name, write_json, write_table

if TYPE_CHECKING:  # scoring imports torch: count, merge and gather do not need it
    from theraflow.pairs.scoring import Ensemble

log = logging.getLogger(__name__)

HIST_BINS = 60
# Shard score files are Arrow IPC files of record batches of one target, at most this many rows: gather
# reads each shard front to back as a stream, a batch at a time, with nothing else held per open shard.
# (Parquet shards read through open readers held page buffers for every column of every shard, and
# row groups read whole a decoded group each: gather's memory grew with the number of shards, 43 MB
# of Arrow buffers at 64 shards.) The merge keeps one or two batches pending per shard, so this sets how
# gather's memory grows with the number of shards: on 20 M synthetic rows (MOSES ids and SMILES) its peak
# RSS went from 376 MB in 4 shards to 415 MB in 400 at 256 rows, 373 → 400 MB at 128 (same speed at 400
# shards, 4.7 s against 3.7 s at 4), 371 → 394 MB at 64 (50 % slower at 400 shards, files 30 % larger).
SHARD_BATCH_ROWS = 128
SHARD_META_KEY = b"theraflow.shard"
# gather: rows of a target's ranked table held before they are written (a row group each). On the real
# 1.58 M-molecule screen (64 shards) the gather step's peak RSS was 415 MB at 65,536, 399 at 16,384 and
# 389 at 8,192 (373 MB for 100,000 molecules in 4 shards), at the same speed.
RANKED_FLUSH_ROWS = 8192
# gather merges at most this many shard files at once; a screen with more is merged in groups of at most
# this many first (``merge_shards``: parallel jobs, each writing one file in the shard format), then the
# groups' files are gathered. The merge holds a batch or two per open shard (≈ 87 KB each at 2 targets,
# more with more targets): on the 10 M-molecule screen (400 shards, 20 targets) one 400-way gather peaked
# at 424 MB against 373 MB for 4 shards; 64 shards took 383 MB.
GATHER_FAN_IN = 64


def peak_rss_mb() -> float:
    """This process's peak resident memory (MB) since it started its program: the kernel's high-water mark
    (VmHWM). ``ru_maxrss`` is not that: a process started by fork and exec (every ``spawn`` worker) keeps
    the RSS its parent had at the fork, and a screen spawned by a 730 MB process reported a 788 MB gather."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # elsewhere: kB (Linux), bytes (macOS)
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


SHARD_SCHEMA = pa.schema([("id", pa.string()), ("smiles", pa.string()), ("target_id", pa.string()),
                          ("class", pa.string()), ("score_mean", pa.float32()), ("score_std", pa.float32()),
                          ("ad_similarity", pa.float32()), ("ad_flag", pa.bool_())])


def _shard_schema(plan: dict, lo, hi) -> pa.Schema:
    meta = {"format": 1, "targets": plan, "lo": lo, "hi": hi}
    return SHARD_SCHEMA.with_metadata({SHARD_META_KEY: json.dumps(meta).encode()})


def _write_sorted_by_target(scores: pd.DataFrame, path: Path, target_ids: Sequence[str]) -> None:
    """A shard's scores as an Arrow IPC file: for each target (in id order: the order gather reads them),
    its rows sorted by score (descending) in batches of ``SHARD_BATCH_ROWS``. The schema's metadata says
    which batches hold which target and the score range, so gather plans its merge without reading the rows."""
    tables, plan, at = [], {}, 0
    for t in sorted(target_ids):
        sub = scores[scores["target_id"] == t].sort_values("score_mean", ascending=False, kind="stable")
        table = pa.Table.from_pandas(sub[SHARD_SCHEMA.names], schema=SHARD_SCHEMA, preserve_index=False).combine_chunks()
        n_batches = math.ceil(table.num_rows / SHARD_BATCH_ROWS)
        if n_batches:
            plan[t] = [at, n_batches, table.num_rows]
            tables.append(table)
            at += n_batches
    means = scores["score_mean"].to_numpy(dtype=np.float64)
    schema = _shard_schema(plan, float(means.min()) if len(means) else None,
                           float(means.max()) if len(means) else None)
    options = pa.ipc.IpcWriteOptions(compression="lz4")
    with atomic_write(path, "wb") as fh, pa.ipc.new_file(fh, schema, options=options) as writer:
        for table in tables:  # one chunk each: batches of SHARD_BATCH_ROWS, as the plan counts them
            writer.write_table(table, max_chunksize=SHARD_BATCH_ROWS)


def score_shard(model_dirs: Sequence[str | Path], *, out_scores: str | Path, out_rejects: str | Path,
                out_stats: str | Path, library: str | Path | None = None, shard: int = 0, chunk_size: int = 50_000,
                standardized: str | Path | None = None, targets: str | Path | pd.DataFrame | None = None,
                store: str | Path | None = None, standardize_options: StandardizeOptions | None = None,
                ad_threshold: float = 0.3, read_options: dict | None = None, ensemble: Ensemble | None = None,
                index_dir: str | Path | None = None, job_key: str | None = None, engine: str = "torch",
                first_pass: str | Path | None = None, first_pass_keep: float = 0.1,
                out_first_pass: str | Path | None = None) -> dict:
    """Stage: one shard → scores (Arrow IPC, sorted by target, then score), rejects, stats.

    ``engine`` runs the models (:mod:`theraflow.pairs.engines`); the stats say which ran (``engine``).
    ``first_pass``: a distilled model (:mod:`theraflow.pairs.distill`) scores every molecule first and only the
    fraction ``first_pass_keep`` it ranks highest goes on to the ensemble; ``out_first_pass`` gets every
    molecule's first-pass score and whether it was passed on.

    Input is either records ``shard * chunk_size + 1`` ... of a raw ``library`` (read through its index,
    kept in ``index_dir``, and standardized here) or a ``standardized`` shard table written by the
    chemistry stage.
    """
    from theraflow.chem.featurize import featurize
    from theraflow.pairs.scoring import fingerprint, fingerprints, scores_frame
    from theraflow.pairs.scoring import standardize_options as model_options

    if (library is None) == (standardized is None):
        raise ValueError("give either a library (with shard and chunk_size) or a standardized shard table")
    t0 = time.perf_counter()
    times: dict[str, float] = {}
    ens, t_table, target_emb, identity = _prepared(model_dirs, targets, ensemble, store, engine)
    times["load"] = time.perf_counter() - t0

    fps: dict[int, object] = {}
    if library is not None:
        t = time.perf_counter()
        start = shard * chunk_size + 1
        records, read_rejects, n_total = read_molecule_shard(library, start, start + chunk_size,
                                                             cache_dir=index_dir,
                                                             **(read_options or {}))
        times["read"] = time.perf_counter() - t
        t = time.perf_counter()
        # as the models' molecules were standardized (the options their chemistry stage recorded)
        kept, std_rejects = standardize(records, standardize_options or model_options(ens),
                                        on_mol=lambda i, mol: fps.__setitem__(i, fingerprint(mol)))
        times["standardize"] = time.perf_counter() - t
        n_in = len(records) + len(read_rejects)
        earlier = pd.concat([read_rejects, std_rejects], ignore_index=True)
    else:
        kept = pd.read_parquet(standardized)
        n_in = n_total = len(kept)
        earlier = pd.DataFrame(columns=REJECT_COLUMNS)

    first = None
    if first_pass is not None:
        if out_first_pass is None:
            raise ValueError("a first pass needs out_first_pass (the table of what it scored)")
        t = time.perf_counter()
        kept, fps, first = _first_pass(first_pass, first_pass_keep, kept, fps, t_table["id"].tolist(),
                                       out_first_pass, computed=library is not None)
        times["first_pass"] = time.perf_counter() - t
    t = time.perf_counter()
    smiles = kept["smiles"].astype(str).tolist()
    feat = ens.featurizer
    res = featurize(smiles, feat.get("name", "default"), store=store, params=feat.get("params") or {})
    times["featurize"] = time.perf_counter() - t
    t = time.perf_counter()
    if library is None and first is None:  # (a first pass computed them)
        fps.update(zip(map(int, res.index), fingerprints([smiles[i] for i in res.index])))
    ad = ens.applicability_fps([fps.get(int(i)) for i in res.index])
    times["applicability"] = time.perf_counter() - t
    t = time.perf_counter()
    scores = ens.score_graphs(res.graphs, target_emb) if len(res.index) else \
        np.zeros((len(ens.models), 0, len(t_table), *((ens.spec.n_out,) if ens.spec.label.name == "multiclass"
                                                      else ())), np.float32)
    ids = kept["id"].astype(str).to_numpy(dtype=object)[res.index]
    table = scores_frame(ids, [smiles[i] for i in res.index], t_table, scores, ad, ad_threshold, ens.spec)
    times["score"] = time.perf_counter() - t
    t = time.perf_counter()
    _write_sorted_by_target(table, Path(out_scores), t_table["id"].tolist())
    score_rejects = pd.DataFrame(
        [(kept["id"].iat[i], kept["record"].iat[i], smiles[i], "score", reason) for i, reason in res.errors.items()],
        columns=REJECT_COLUMNS)
    rejects = pd.concat([earlier, score_rejects], ignore_index=True)
    rejects["record"] = rejects["record"].astype("int64")
    write_table(rejects.sort_values("record", kind="stable"), out_rejects)
    times["write"] = time.perf_counter() - t
    stats = {
        "stage": "score_shard", "shard": shard, "records": int(n_in), "library_records": int(n_total),
        "kept": int(len(res.index)), "rejected": int(len(rejects)),
        "rejected_by_stage": {k: int(v) for k, v in rejects["stage"].value_counts().items()},
        "task": ens.spec.to_json() | {"descriptions": {}}, "targets": int(len(t_table)), "partners": identity,
        "pairs": int(len(table)), "store_hits": res.hits, "store_misses": res.misses,
        "seconds": round(time.perf_counter() - t0, 3), "seconds_by_step": {k: round(v, 3) for k, v in times.items()},
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "engine": ens.engines_used(),
    }
    if first is not None:
        stats["first_pass"] = first
    if job_key is not None:
        stats["job_key"] = job_key
    write_json(out_stats, stats)  # last: a stats file means the shard's other outputs are complete
    return stats


def _first_pass(model_dir, keep: float, kept: pd.DataFrame, fps: dict, partner_ids: list[str], out,
                computed: bool) -> tuple[pd.DataFrame, dict, dict]:
    """A shard's first pass: every kept molecule scored by the distilled model, its table written to ``out``;
    → (the molecules passed on, their fingerprints by new position, what the stats record)."""
    from theraflow.pairs.distill import first_pass_rows, keep_mask, load_first_pass
    from theraflow.pairs.scoring import fingerprints

    key = (str(Path(model_dir).resolve()), (Path(model_dir) / "model.safetensors").stat().st_mtime_ns)
    if key not in _FIRST_PASS:
        _FIRST_PASS.clear()
        _FIRST_PASS[key] = load_first_pass(model_dir)
    model = _FIRST_PASS[key]
    smiles = kept["smiles"].astype(str).tolist()
    if not computed:  # a standardized shard table: the fingerprints are made here (and kept for the domain)
        fps.update(enumerate(fingerprints(smiles)))
    scores = model.predict([fps.get(i) for i in range(len(kept))])[:, model.columns_for(partner_ids)]
    passed = keep_mask(scores, keep)
    write_table(first_pass_rows(kept["id"].astype(str), kept["record"], smiles, scores, partner_ids, passed), out)
    rows = np.flatnonzero(passed)
    return (kept.iloc[rows].reset_index(drop=True), {new: fps.get(int(old)) for new, old in enumerate(rows)},
            {"model": str(model_dir), "keep": keep, "scored": int(len(kept)), "passed": int(len(rows))})


_FIRST_PASS: dict = {}
_PREPARED: dict = {}


def _prepared(model_dirs, targets, ensemble: Ensemble | None, store=None, engine: str = "torch"):
    """(ensemble, partner table, partner embeddings, whether the models trained on each partner), cached in
    this process across shards."""
    from theraflow.pairs.scoring import load_ensemble, read_partners  # torch: only the stages that score

    key = None
    if ensemble is None and not isinstance(targets, pd.DataFrame):
        key = (engine, tuple(str(Path(d).resolve()) for d in model_dirs), str(targets),
               tuple((Path(d) / "model.safetensors").stat().st_mtime_ns for d in model_dirs))
        if key in _PREPARED:
            return _PREPARED[key]
    ens = ensemble or load_ensemble(model_dirs, engine)
    tdf = targets if isinstance(targets, pd.DataFrame) else (read_partners(targets, ens.spec.task) if targets
                                                              else None)
    if tdf is not None and ens.spec.task.entity(ens.spec.task.roles[1]).featurized:
        from theraflow.pairs.scoring import standardized

        kept, rejected = standardized(tdf.rename(columns={"value": "smiles"}), "partners")
        if len(rejected):
            raise InputError(f"partner {rejected['id'].iat[0]!r} could not be standardized ({rejected['reason'].iat[0]})")
        tdf = kept.rename(columns={"smiles": "value"})[["id", "value", "name"]]
    t_table = ens.partner_table(tdf)
    enc = ens.encode_partners(t_table, store)
    out = (ens, t_table, enc, ens.partner_identity(enc))
    if key is not None:
        _PREPARED.clear()
        _PREPARED[key] = out
    return out


def score_library(library: str | Path, model_dirs: Sequence[str | Path], outdir: str | Path, *,
                  targets: str | Path | None = None, store: str | Path | None = None, chunk_size: int = 50_000,
                  workers: int = 1, top_k: int = 50, ad_threshold: float = 0.3,
                  standardize_options: StandardizeOptions | None = None, read_options: dict | None = None,
                  resume: bool = True, max_shards: int | None = None, engine: str = "torch",
                  gather_fan_in: int | None = None, first_pass: str | Path | None = None,
                  first_pass_keep: float = 0.1) -> dict:
    """The whole screen in one call: shards (``workers`` processes at a time) → gather. ``engine`` runs the
    models (:mod:`theraflow.pairs.engines`); ``first_pass`` a distilled model that picks the fraction
    ``first_pass_keep`` of each shard the ensemble scores (:mod:`theraflow.pairs.distill`).

    With ``resume`` (the default) shards finished by an earlier run of the same screen
    are kept (see the module docstring); ``summary["shards_reused"]`` counts them.
    One screen writes to ``outdir`` at a time (a lock file makes a second one stop).
    """
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    outdir = Path(outdir)
    shard_dir = outdir / "shards"
    shard_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive(outdir):
        _remove_leftovers(outdir)
        index_dir = outdir / "index"
        if workers > 1:  # made in a process of its own (the workflow's count job): gather's memory is gather's
            with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
                pool.submit(_make_index, library, index_dir, read_options or {}).result()
        index = library_index(library, cache_dir=index_dir, **(read_options or {}))
        chunk_size, n_shards = shard_plan(index.records, chunk_size, max_shards)
        screen_key = _screen_key(library, model_dirs, targets, chunk_size, ad_threshold, standardize_options,
                                 read_options) + ("" if engine == "torch" else f"/{engine}") \
            + (_first_pass_key(first_pass, first_pass_keep) if first_pass else "")
        jobs = []
        for i in range(n_shards):
            jobs.append(dict(model_dirs=[str(m) for m in model_dirs], library=str(library), shard=i,
                             chunk_size=chunk_size,
                             out_scores=str(shard_dir / f"{i:04d}.scores.arrow"),
                             out_rejects=str(shard_dir / f"{i:04d}.rejects.parquet"),
                             out_stats=str(shard_dir / f"{i:04d}.stats.json"), targets=targets and str(targets),
                             store=store and str(store), standardize_options=standardize_options,
                             ad_threshold=ad_threshold, read_options=read_options, index_dir=str(index_dir),
                             engine=engine, job_key=_sha256_json({"screen": screen_key, "shard": i})))
            if first_pass:
                jobs[-1].update(first_pass=str(first_pass), first_pass_keep=first_pass_keep,
                                out_first_pass=str(shard_dir / f"{i:04d}.first_pass.parquet"))
        todo = [j for j in jobs if not (resume and _shard_done(j))]
        if len(todo) < len(jobs):
            log.info("%d of %d shards are complete from an earlier run of this screen; scoring %d",
                     len(jobs) - len(todo), len(jobs), len(todo))
        t0 = time.perf_counter()
        if workers <= 1 or len(todo) <= 1:
            for job in todo:
                score_shard(**job)
        else:
            with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                     initializer=_worker_init) as pool:
                for f in [pool.submit(score_shard, **job) for job in todo]:
                    f.result()
        shard_seconds = time.perf_counter() - t0
        scores, merge_stats = _merge_groups([j["out_scores"] for j in jobs], outdir / "merged", workers,
                                            gather_fan_in)
        summary = gather_scores(scores, outdir, top_k=top_k, stats_files=[j["out_stats"] for j in jobs],
                                reject_files=[j["out_rejects"] for j in jobs], merge_stats_files=merge_stats,
                                first_pass_files=[j["out_first_pass"] for j in jobs if "out_first_pass" in j])
        if merge_stats:  # the merged files repeat the shards' rows: gathered, they go
            shutil.rmtree(outdir / "merged", ignore_errors=True)
        summary["wall_seconds_shards"] = round(shard_seconds, 3)
        summary["index"] = index.summary()
        summary["workers"] = workers
        summary["shards_reused"] = len(jobs) - len(todo)
        write_json(outdir / "summary.json", summary)
    return summary


def _merge_groups(score_files: list[str], merged_dir: Path, workers: int,
                  fan_in: int | None = None) -> tuple[list[str], list[str]]:
    """(files to gather, their merge stats): the shard files themselves when they fit one gather, else the
    merged files of :func:`gather_groups` (merged again every run: a resumed screen may have new shards),
    ``workers`` spawned processes at a time."""
    groups = gather_groups(len(score_files), fan_in)
    if not groups:
        return score_files, []
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    merged_dir.mkdir(parents=True, exist_ok=True)
    jobs = [([score_files[i] for i in g], str(merged_dir / f"{k:03d}.scores.arrow"),
             str(merged_dir / f"{k:03d}.stats.json")) for k, g in enumerate(groups)]
    log.info("merging %d shards in %d groups before the gather", len(score_files), len(groups))
    with ProcessPoolExecutor(max_workers=max(1, workers), mp_context=mp.get_context("spawn")) as pool:
        for f in [pool.submit(merge_shards, *job) for job in jobs]:
            f.result()
    return [j[1] for j in jobs], [j[2] for j in jobs]


def _make_index(library, index_dir, read_options: dict) -> None:
    library_index(library, cache_dir=index_dir, **read_options)


def shard_plan(records: int, chunk_size: int, max_shards: int | None = None) -> tuple[int, int]:
    """(records per shard, shards) for a library: shards of ``chunk_size`` records, unless that makes more than
    ``max_shards`` shards, where the chunk grows to ``ceil(records / max_shards)`` (so a 10-million-molecule
    library at the default 50,000 and 200 is 200 shards of 50,000; at 20 million, 200 shards of 100,000):
    the jobs per stage a cluster is asked to take stay bounded whatever the library's size."""
    chunk = max(1, int(chunk_size))
    if max_shards is not None and math.ceil(records / chunk) > max_shards:
        chunk = math.ceil(records / max(1, int(max_shards)))
    return chunk, max(1, math.ceil(records / chunk))


def count_library(library: str | Path, out: str | Path, *, chunk_size: int, read_options: dict | None = None,
                  index_dir: str | Path | None = None, max_shards: int | None = None) -> dict:
    """Stage: a library's records and its shards (library.json, written atomically; see :func:`shard_plan`),
    with the file's identity (size, modification time, a hash of its head and tail). The count comes from the
    library's index (:mod:`theraflow.chem.library_index`), made here once per version of the file and kept in
    ``index_dir``, where the shard jobs read it."""
    path = Path(library)
    index = library_index(path, cache_dir=index_dir, **(read_options or {}))
    n = index.records
    chunk, shards = shard_plan(n, chunk_size, max_shards)
    if chunk != chunk_size:
        log.info("%s: %d records in %d shards of %d (chunk_size %d would make more than max_shards %d)", path, n,
                 shards, chunk, chunk_size, max_shards)
    info = {"library": str(path), "identity": index.identity, "records": int(n), "chunk_size": int(chunk), "shards": shards,
            "chunk_size_asked": int(chunk_size), "max_shards": max_shards,
            "duplicate_ids": int(len(index.duplicates)),
            "index": str(index.folder) if index.folder else None, "index_seconds": round(index.seconds, 3)}
    write_json(out, info)
    return info


def _sha256_json(obj) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _screen_key(library, model_dirs, targets, chunk_size, ad_threshold, standardize_options, read_options) -> str:
    """What a shard's outputs depend on: a shard made under another key is scored again."""
    from dataclasses import asdict

    from theraflow import __version__
    from theraflow.io import sha256_file

    lib = Path(library)
    st = lib.stat()
    models = []
    for d in map(Path, model_dirs):
        models.append({name: sha256_file(d / name) if (d / name).exists() else None
                       for name in ("model.safetensors", "model.json", "train_drugs.smi")})
    return _sha256_json({
        "library": [str(lib.resolve()), st.st_size, st.st_mtime_ns],
        "models": models,
        "targets": sha256_file(targets) if targets else None,
        "chunk_size": chunk_size, "ad_threshold": ad_threshold,
        "standardize": asdict(standardize_options or StandardizeOptions(inchikey=False)),
        "read": read_options or {}, "theraflow": __version__,
        "target_keys": "sequence_hash",  # shards scored while models knew targets by name are scored again
    })


def _first_pass_key(model_dir, keep: float) -> str:
    from theraflow.io import sha256_file

    return "/first_pass:" + _sha256_json({"weights": sha256_file(Path(model_dir) / "model.safetensors"),
                                          "keep": keep})


def _shard_done(job: dict) -> bool:
    """A shard's outputs are complete and were made by this screen (its job key)."""
    try:
        stats = json.loads(Path(job["out_stats"]).read_text())
        if stats.get("job_key") != job["job_key"]:
            return False
        if job.get("out_first_pass") and \
                pq.ParquetFile(job["out_first_pass"]).metadata.num_rows != stats["first_pass"]["scored"]:
            return False
        n_scores = sum(_shard_index(Path(job["out_scores"])).rows.values())
        n_rejects = pq.ParquetFile(job["out_rejects"]).metadata.num_rows
    except (OSError, ValueError, KeyError, InputError, pa.ArrowException):
        return False
    return n_scores == stats["pairs"] and n_rejects == stats["rejected"]


class _exclusive:
    """An exclusive lock on ``outdir/.theraflow-score.lock`` for the duration of a screen."""

    def __init__(self, outdir: Path) -> None:
        self.path = outdir / ".theraflow-score.lock"
        self.fh = None

    def __enter__(self):
        import fcntl

        from theraflow.errors import UserError

        self.fh = open(self.path, "a")
        try:
            fcntl.flock(self.fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.fh.close()
            raise UserError(f"{self.path.parent}: another screen is writing to this directory "
                            f"(lock {self.path.name} is held); wait for it or use another --outdir") from None
        return self

    def __exit__(self, *exc):
        self.fh.close()  # releases the lock
        return False


def _remove_leftovers(outdir: Path) -> None:
    """Temporary files of a screen that was killed while writing (see theraflow.io.atomic_write)."""
    for d in (outdir, outdir / "shards", outdir / "ranked"):
        if d.is_dir():
            for p in d.glob(".*.tmp"):
                p.unlink(missing_ok=True)


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)


@dataclass
class _ShardIndex:
    """What gather needs from a shard file, read once from its schema's metadata: each target's
    record batches (first, count) and rows, and the score range."""

    groups: dict[str, tuple[int, int]]
    rows: dict[str, int]
    lo: float
    hi: float


def _shard_index(path: Path) -> _ShardIndex:
    try:
        with pa.ipc.open_file(path) as reader:
            raw = (reader.schema.metadata or {}).get(SHARD_META_KEY)
    except pa.ArrowInvalid as e:
        raise InputError(f"{path}: not a theraflow score shard (an Arrow IPC file was expected): {e}") from None
    if raw is None:
        raise InputError(f"{path}: not a theraflow score shard (no {SHARD_META_KEY.decode()} metadata)")
    meta = json.loads(raw)
    return _ShardIndex({t: (int(a), int(b)) for t, (a, b, _) in meta["targets"].items()},
                       {t: int(n) for t, (_, _, n) in meta["targets"].items()},
                       math.inf if meta["lo"] is None else meta["lo"], -math.inf if meta["hi"] is None else meta["hi"])


class _ShardStream:
    """One shard's targets, read in the order they were written (target id order, the order gather
    asks for them) from the IPC *stream* inside the file, a record batch at a time when the merge asks
    for it. Nothing but the open file and its schema is held between batches: a random-access reader
    holds the file's footer (24 bytes per batch: 48 KB for 25,000 molecules × 20 targets), which at
    hundreds of shards was gather's largest memory that grew with their number. A target asked for out
    of the written order is read through the footer (:func:`_iter_target`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh = None
        self._reader = None
        self._next = 0  # the index of the next record batch the stream yields

    def target(self, batches: tuple[int, int]) -> Iterator[pa.Table]:
        first, count = batches
        if first != self._next:
            return _iter_target(self.path, batches)
        self._next += count
        return self._read(count)

    def _read(self, count: int) -> Iterator[pa.Table]:
        if self._reader is None:
            self._fh = pa.OSFile(str(self.path))
            self._fh.seek(8)  # past the file format's magic: an IPC stream follows (the schema, then batches)
            self._reader = pa.ipc.open_stream(self._fh, options=pa.ipc.IpcReadOptions(use_threads=False))
        for i in range(count):
            try:
                batch = self._reader.read_next_batch()
            except StopIteration:
                raise InputError(f"{self.path}: the shard ends before the record batches its metadata lists "
                                 f"({i} of {count} read at batch {self._next - count + i}); score it again") from None
            yield pa.Table.from_batches([batch])

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
        self._fh = self._reader = None


def _open_files_limit(wanted: int) -> int:
    """How many shard streams gather may keep open: the soft limit on open files is raised towards the
    hard one when ``wanted`` needs it (64 descriptors are left for everything else)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if wanted + 64 > soft and soft != resource.RLIM_INFINITY:
        target = wanted + 64 if hard == resource.RLIM_INFINITY else min(hard, wanted + 64)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return max(0, soft - 64) if soft != resource.RLIM_INFINITY else wanted


def _iter_target(path: Path, batches: tuple[int, int]) -> Iterator[pa.Table]:
    """A target's rows of one shard, a record batch at a time, each read by its offset when the merge
    asks for it (the open file holds its footer)."""
    first, count = batches
    # decompressed on this thread: Arrow's pool threads would each leave freed memory in an allocator arena
    options = pa.ipc.IpcReadOptions(use_threads=False)
    with pa.OSFile(str(path)) as fh, pa.ipc.open_file(fh, options=options) as reader:
        for i in range(first, first + count):
            yield pa.Table.from_batches([reader.get_batch(i)])


def merge_sorted_batches(sources: Sequence[Iterator[pa.Table]], key: str = "score_mean",
                         low_rows: int = 256, max_rows: int = 16384) -> Iterator[pa.Table]:
    """k-way merge of sources whose rows come sorted by ``key``, descending → tables in merged order.

    Vectorized: every source keeps at least ``low_rows`` rows pending (while it has rows), and each
    round emits every pending row that no row still unread can outrank (its key is above the largest
    of the sources' smallest pending keys), sorted with a stable sort over the sources in order, so ties
    keep source order and then row order (what ``heapq.merge`` over the rows gives). A round costs
    O(k) and emits about ``k * low_rows / 2`` rows, at most about ``max_rows`` (a round with more takes
    the ``max_rows`` highest), so the merge's cost per row does not grow with k and neither does what a
    round holds. Memory: ``low_rows`` plus a table from each source, and a round's rows.
    """
    k = len(sources)
    pending: list[pa.Table | None] = [None] * k
    neg: list[np.ndarray] = [np.empty(0, np.float64)] * k  # each source's pending keys, negated (ascending)
    live = [True] * k

    def refill(i: int) -> None:
        try:
            nxt = next(sources[i])
        except StopIteration:
            live[i] = False
            return
        more = -nxt.column(key).to_numpy().astype(np.float64)
        if pending[i] is None or pending[i].num_rows == 0:
            pending[i], neg[i] = nxt, more
        else:
            pending[i], neg[i] = pa.concat_tables([pending[i], nxt]), np.concatenate([neg[i], more])

    while True:
        for i in range(k):
            while live[i] and len(neg[i]) < low_rows:
                refill(i)
        bounds = [(-neg[i][-1], i) for i in range(k) if live[i]]
        if bounds:
            floor, at = max(bounds)
            counts = [int(kk.searchsorted(-floor, side="left")) for kk in neg]  # rows with key > floor
        else:
            counts = [len(kk) for kk in neg]
        if sum(counts) > max_rows:  # a higher floor: at most about max_rows rows this round
            above = np.concatenate([neg[i][:c] for i, c in enumerate(counts) if c])
            cut = -float(np.partition(above, max_rows - 1)[max_rows - 1])  # the max_rows-th largest key
            if not bounds or cut > floor:  # no unread row reaches it: rows with key >= cut are all pending
                counts = [int(kk.searchsorted(-cut, side="right")) for kk in neg]
        if not any(counts):
            if not bounds:
                return
            refill(at)  # every pending row ties with the floor: read further in the source that sets it
            continue
        taken = [pending[i].slice(0, c) for i, c in enumerate(counts) if c]
        order = np.argsort(np.concatenate([neg[i][:c] for i, c in enumerate(counts) if c]), kind="stable")
        for i, c in enumerate(counts):
            if c:
                pending[i], neg[i] = pending[i].slice(c), neg[i][c:]
        yield pa.concat_tables(taken).take(pa.array(order))


def gather_groups(n_files: int, fan_in: int | None = None) -> list[range]:
    """Consecutive groups of at most ``fan_in`` (default :data:`GATHER_FAN_IN`) of ``n_files`` shard files, as
    even in size as they can be (none when the files fit in one gather)."""
    fan_in = fan_in or GATHER_FAN_IN
    if n_files <= fan_in:
        return []
    n_groups = math.ceil(n_files / fan_in)
    bounds = [round(i * n_files / n_groups) for i in range(n_groups + 1)]
    return [range(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


def merge_shards(shard_files: Sequence[str | Path], out_scores: str | Path,
                 out_stats: str | Path | None = None) -> dict:
    """Stage: score shards → one file in the shard format, each target's rows merged by score (ties keep
    the files' order, then their rows' order, as gather's merge does), so that gathering the merged files of
    consecutive groups gives what gathering every shard gives. Written atomically; ``out_stats`` gets the
    shards, rows, seconds and peak RSS."""
    t0 = time.perf_counter()
    files = [Path(p) for p in shard_files]
    if not files:
        raise InputError("merge_shards: no shard files given")
    with _system_pool(), _OpenShards(files) as shards:
        plan, at = {}, 0
        for t in shards.targets:
            rows = shards.rows(t)
            n_batches = math.ceil(rows / SHARD_BATCH_ROWS)
            if n_batches:
                plan[t] = [at, n_batches, rows]
                at += n_batches
        lo = min((x.lo for x in shards.index), default=math.inf)
        hi = max((x.hi for x in shards.index), default=-math.inf)
        schema = _shard_schema(plan, lo if math.isfinite(lo) else None, hi if math.isfinite(hi) else None)
        written = 0
        options = pa.ipc.IpcWriteOptions(compression="lz4")
        with atomic_write(Path(out_scores), "wb") as fh, pa.ipc.new_file(fh, schema, options=options) as writer:
            for t in plan:
                pending: list[pa.Table] = []
                buffered = 0
                for block in merge_sorted_batches(shards.sources(t), low_rows=SHARD_BATCH_ROWS):
                    pending.append(block)
                    buffered += block.num_rows
                    if buffered >= RANKED_FLUSH_ROWS:  # whole batches out; the rest waits for more rows
                        table = pa.concat_tables(pending).combine_chunks()
                        full = buffered - buffered % SHARD_BATCH_ROWS
                        writer.write_table(table.slice(0, full), max_chunksize=SHARD_BATCH_ROWS)
                        pending, buffered = [table.slice(full)], buffered - full
                        written += full
                if buffered:
                    writer.write_table(pa.concat_tables(pending).combine_chunks(), max_chunksize=SHARD_BATCH_ROWS)
                    written += buffered
    stats = {"shards": len(files), "targets": len(plan), "rows": written,
             "seconds": round(time.perf_counter() - t0, 3), "peak_rss_mb": round(peak_rss_mb(), 1)}
    if out_stats is not None:
        write_json(Path(out_stats), stats)
    return stats


def gather_scores(shard_files: Sequence[str | Path], outdir: str | Path, *, top_k: int = 50,
                  sample_per_target: int = 2000, stats_files: Sequence[str | Path] = (),
                  chem_stats_files: Sequence[str | Path] = (), reject_files: Sequence[str | Path] = (),
                  merge_stats_files: Sequence[str | Path] = (), first_pass_files: Sequence[str | Path] = (),
                  seed: int = 0) -> dict:
    """Stage: shard score files → ranked/<target>.parquet, topk.tsv, histograms, AD sample, summary.

    ``first_pass_files``: the shards' first-pass tables of a two-stage screen, written one after another to
    ``first_pass.parquet``; ``summary["first_pass"]`` counts what the first pass scored and passed on.

    ``shard_files`` may be the files of :func:`merge_shards` (groups of shards, in order), with
    ``merge_stats_files`` their stats: the summary then counts the shards of ``stats_files`` and records the
    merge jobs' seconds and peak RSS.

    ``summary["targets"]``: one entry per target (in id order): ``id``, ``name``, ``length`` (residues),
    ``known`` (every model trained on its sequence), ``models_known`` of ``models``, ``trained_as`` (the
    ids it was trained under) from the shards' stats (:meth:`~theraflow.pairs.scoring.Ensemble.partner_identity`;
    absent without ``stats_files``), and ``molecules``, ``outside_domain``, ``file`` (its ranked table)."""
    with _system_pool():
        return _gather(shard_files, outdir, top_k=top_k, sample_per_target=sample_per_target,
                       stats_files=stats_files, chem_stats_files=chem_stats_files, reject_files=reject_files,
                       merge_stats_files=merge_stats_files, first_pass_files=first_pass_files, seed=seed)


@contextlib.contextmanager
def _system_pool():
    """Arrow's system allocator while a merge runs, the default one back after. The default (mimalloc) keeps
    what the merge frees: the gather step's RSS grew by 10 % from 4 to 64 shards with it, 4 % with this."""
    pool = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield
    finally:
        pa.set_memory_pool(pool)


class _OpenShards:
    """Shard files read target by target, in target id order: their indexes, and each shard read front to back
    once through a stream kept open (shards past the open-files limit through their footers, target by
    target). A context manager: the streams close on exit."""

    def __init__(self, files: Sequence[Path]) -> None:
        self.files = list(files)
        self.index = [_shard_index(p) for p in self.files]
        self.targets = sorted({t for x in self.index for t in x.groups})
        self._streams = [_ShardStream(p) for p in self.files[:_open_files_limit(len(self.files))]]

    def rows(self, target: str) -> int:
        return sum(x.rows.get(target, 0) for x in self.index)

    def sources(self, target: str) -> list[Iterator[pa.Table]]:
        """The target's rows of each shard that has any (in shard order), a record batch at a time."""
        return [self._streams[i].target(x.groups[target]) if i < len(self._streams)
                else _iter_target(p, x.groups[target])
                for i, (p, x) in enumerate(zip(self.files, self.index)) if target in x.groups]

    def __enter__(self) -> _OpenShards:
        return self

    def __exit__(self, *exc) -> None:
        for s in self._streams:
            s.close()


def _gather(shard_files, outdir, *, top_k, sample_per_target, stats_files, chem_stats_files, reject_files,
            merge_stats_files, first_pass_files, seed) -> dict:
    t0 = time.perf_counter()
    outdir = Path(outdir)
    (outdir / "ranked").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    with _OpenShards([Path(p) for p in shard_files]) as shards:
        targets = shards.targets
        lo_hi = _score_range(shards.index)
        edges = np.linspace(lo_hi[0], lo_hi[1], HIST_BINS + 1)
        out = _gather_targets(shards, outdir, edges, rng, top_k, sample_per_target)
    topk_rows, topk_in, hists, samples, per_target = out
    topk = pd.DataFrame(topk_rows, columns=["target_id", "rank", "id", "smiles", "class", "score_mean", "score_std",
                                            "ad_similarity", "ad_flag"])
    write_table(topk, outdir / "topk.tsv")
    write_table(pd.DataFrame(topk_in, columns=topk.columns), outdir / "topk_in_domain.tsv")
    write_table(pd.DataFrame(samples, columns=["target_id", "score_mean", "score_std", "ad_similarity"]),
                outdir / "ad_sample.parquet")
    write_json(outdir / "histograms.json", {"edges": edges.tolist(), "counts": hists})
    shard_stats = [json.loads(Path(p).read_text()) for p in stats_files]
    identity = {p["id"]: p for p in next((s["partners"] for s in shard_stats if s.get("partners")), [])}
    chem_stats = [json.loads(Path(p).read_text()) for p in chem_stats_files]
    steps = _sum_dicts(s.get("seconds_by_step", {}) for s in shard_stats)
    if chem_stats:  # standardization ran as separate (chemistry) jobs
        steps["standardize"] = round(sum(s.get("seconds", 0.0) for s in chem_stats), 3)
    summary = {
        "task": next((s["task"] for s in shard_stats if "task" in s), None),
        "targets": [{**identity.get(t, {"id": t}), **per_target[t]} for t in targets],
        "shards": len(stats_files) if merge_stats_files and stats_files else len(shard_files),
        "top_k": top_k,
        "records": sum(s["records"] for s in (chem_stats or shard_stats)),
        "kept": sum(s["kept"] for s in shard_stats),
        "rejected": sum(s["rejected"] for s in shard_stats) + sum(s["rejected"] for s in chem_stats),
        "rejected_by_stage": {},
        "store_hits": sum(s["store_hits"] for s in shard_stats),
        "store_misses": sum(s["store_misses"] for s in shard_stats),
        "engine": _engines(shard_stats),
        "pairs": sum(s["pairs"] for s in shard_stats),
        "seconds_by_step": steps,
        "shard_seconds": [s["seconds"] for s in shard_stats],
        "shard_peak_rss_mb": [s.get("peak_rss_mb") for s in shard_stats],
        "gather_seconds": round(time.perf_counter() - t0, 3),
        "gather_peak_rss_mb": round(peak_rss_mb(), 1),
    }
    first = [s["first_pass"] for s in shard_stats if s.get("first_pass")]
    if first:
        summary["first_pass"] = {"model": first[0]["model"], "keep": first[0]["keep"],
                                 "scored": sum(f["scored"] for f in first), "passed": sum(f["passed"] for f in first),
                                 "file": "first_pass.parquet" if first_pass_files else None}
        if first_pass_files:
            _concat_parquet(first_pass_files, outdir / "first_pass.parquet")
    else:  # an earlier two-stage screen's table would describe other results
        (outdir / "first_pass.parquet").unlink(missing_ok=True)
    if merge_stats_files:
        merges = [json.loads(Path(p).read_text()) for p in merge_stats_files]
        summary["merge_groups"] = len(merges)
        summary["merge_seconds"] = [m["seconds"] for m in merges]
        summary["merge_peak_rss_mb"] = [m["peak_rss_mb"] for m in merges]
    if reject_files:
        rej = pd.concat([pd.read_parquet(p) for p in reject_files], ignore_index=True)
        rej["record"] = rej["record"].astype("int64")
        write_table(rej.sort_values("record", kind="stable"), outdir / "rejects.tsv")
        summary["rejected"] = int(len(rej))
        summary["rejected_by_stage"] = {k: int(v) for k, v in rej["stage"].value_counts().sort_index().items()}
    else:
        summary["rejected_by_stage"] = _sum_dicts(s.get("rejected_by_stage", {}) for s in shard_stats)
    write_json(outdir / "summary.json", summary)
    return summary


def _concat_parquet(files, out: Path) -> None:
    """Tables of one schema, one after another, into one Parquet file (a row group at a time)."""
    schema = pq.read_schema(files[0])
    with atomic_write(out, "wb") as fh, pq.ParquetWriter(fh, schema) as writer:
        for f in files:
            pf = pq.ParquetFile(f)
            for g in range(pf.num_row_groups):
                writer.write_table(pf.read_row_group(g).cast(schema))


def _gather_targets(shards: _OpenShards, outdir, edges, rng, top_k, sample_per_target):
    """Merge each target's rows over the shards into ranked/<target>.parquet; the top-k rows, histograms,
    sample and per-target counts."""
    schema = pa.schema([("rank", pa.int64()), ("id", pa.string()), ("smiles", pa.string()), ("class", pa.string()),
                        ("score_mean", pa.float32()), ("score_std", pa.float32()),
                        ("ad_similarity", pa.float32()), ("ad_flag", pa.bool_())])
    topk_rows: list[dict] = []
    topk_in: list[dict] = []
    hists, samples, per_target = {}, [], {}
    for t in shards.targets:
        sources = shards.sources(t)
        n_total = shards.rows(t)
        # a uniform sample of ranks for the uncertainty plot, drawn up front (the count is known)
        pick = np.sort(rng.choice(n_total, size=min(sample_per_target, n_total), replace=False))
        counts = np.zeros(HIST_BINS, dtype=np.int64)
        n = flagged = n_in = 0
        path = outdir / "ranked" / f"{safe_name(t)}.parquet"
        with atomic_write(path, "wb") as fh, pq.ParquetWriter(fh, schema) as writer:  # closed first, on error too
            pending: list[pa.Table] = []
            buffered = 0
            # a record batch or two pending per shard: memory grows by SHARD_BATCH_ROWS rows per shard,
            # whatever the shard's (and the library's) size
            for block in merge_sorted_batches(sources, low_rows=SHARD_BATCH_ROWS):
                m = block.num_rows
                mean = block.column("score_mean").to_numpy()
                flag = block.column("ad_flag").to_numpy(zero_copy_only=False)
                ranked = block.drop_columns(["target_id"]).add_column(
                    0, "rank", pa.array(np.arange(n + 1, n + m + 1, dtype=np.int64)))
                if n < top_k:
                    topk_rows.extend(_rows(t, ranked.slice(0, top_k - n)))
                if n_in < top_k:
                    inside = np.flatnonzero(~flag)[: top_k - n_in]
                    topk_in.extend(_rows(t, ranked.take(inside)))
                    n_in += len(inside)
                flagged += int(flag.sum())
                bins = np.clip(np.searchsorted(edges, mean, side="right") - 1, 0, HIST_BINS - 1)
                counts += np.bincount(bins, minlength=HIST_BINS)
                here = pick[(pick >= n) & (pick < n + m)] - n
                samples.extend(zip([t] * len(here), mean[here].tolist(),
                                   block.column("score_std").to_numpy()[here].tolist(),
                                   block.column("ad_similarity").to_numpy()[here].tolist()))
                n += m
                pending.append(ranked)
                buffered += m
                if buffered >= RANKED_FLUSH_ROWS:
                    writer.write_table(pa.concat_tables(pending).cast(schema))
                    pending.clear()
                    buffered = 0
            if pending:
                writer.write_table(pa.concat_tables(pending).cast(schema))
        hists[t] = counts.tolist()
        per_target[t] = {"molecules": n, "outside_domain": flagged, "file": str(path.relative_to(outdir))}
    return topk_rows, topk_in, hists, samples, per_target


def _rows(target: str, table: pa.Table) -> list[dict]:
    return [{"target_id": target, **row} for row in table.to_pylist()]


def _engines(shard_stats) -> dict | None:
    """What ran the models over the shards: the engine asked for, and per model what ran (``torch`` where the
    engine fell back in some shard, with why)."""
    used = [s["engine"] for s in shard_stats if s.get("engine")]
    if not used:
        return None
    models: dict[str, dict] = {}
    for u in used:
        for m in u["models"]:
            seen = models.setdefault(m["model"], {"model": m["model"], "runs": m["runs"]})
            if m["runs"] != seen["runs"] or m.get("fallback"):
                seen["runs"] = "torch in some shards" if m["runs"] != seen["runs"] else m["runs"]
                seen.setdefault("fallback", m.get("fallback"))
    return {"engine": used[0]["engine"], "models": list(models.values())}


def _sum_dicts(dicts) -> dict:
    out: dict = {}
    for d in dicts:
        for k, v in d.items():
            out[k] = round(out.get(k, 0) + v, 3) if isinstance(v, float) else out.get(k, 0) + v
    return out


def _score_range(index: Sequence[_ShardIndex]) -> tuple[float, float]:
    lo, hi = min((x.lo for x in index), default=math.inf), max((x.hi for x in index), default=-math.inf)
    if not math.isfinite(lo):
        return 0.0, 1.0
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    return float(lo), float(hi)
