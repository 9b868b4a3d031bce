"""The stages of every pair task on files: dataset → split → train → evaluate → calibrate → table.

One function per stage; the Snakemake rules reach them through ``theraflow <task> <stage>`` and notebooks
call them directly. A data set's folder (``results/<task>/<name>/``) holds

- ``pairs.parquet``: pair_id, the task's role columns (ids and values), ``label`` (a number, or the class
  as text), ``line`` (where the row came from) and, when given, ``given_part`` and ``pair_index``;
- ``molecules.csv``: every molecule of the molecule roles (id, smiles), for the chemistry stages;
- ``classes.tsv``: the classes of a classification (class, description), empty for regression;
- ``folds.json`` (DeepDTA's setting-1 folds, else ``{}``), ``rejects.tsv`` (file, line, column, reason);
- ``dataset.json``: the task and label kind, counts (rows given, pairs kept, rows rejected by reason —
  ``rejected_reasons``, and per given part ``rejected_by_part`` —, replicates merged: ``replicates``,
  ``n_replicates_merged``; see :mod:`theraflow.pairs.replicates`), entities per role, label facts, how ids were
  made.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from theraflow.errors import InputError
from theraflow.io import read_json, write_json, write_table
from theraflow.pairs.task import TaskSpec

log = logging.getLogger(__name__)


def _task(task):
    from theraflow.registry import TASKS

    return TASKS.get(task) if isinstance(task, str) else task


# ------------------------------------------------------------------ dataset
def load_dataset(task, cfg: dict) -> tuple[TaskSpec, pd.DataFrame, pd.DataFrame, dict]:
    """(spec, pairs, rejects, facts) of a configured data set, without writing anything."""
    from theraflow.pairs.rejects import dataset_rejects_by_part, reason_counts
    from theraflow.pairs.source import resolve_labels
    from theraflow.pairs.tables import REJECT_COLUMNS
    from theraflow.registry import SOURCES

    task = _task(task)
    name = cfg.get("source") or "table"
    source = SOURCES.get(name)
    if not source.serves(task.name):
        raise InputError(f"source {name} reads {', '.join(source.tasks)} data, not {task.name}")
    if source.needs_path and not cfg.get("path") and not cfg.get("parts"):
        raise InputError(f"source {name} needs path")
    # on_error=stop: every check runs as for reject, then the first bad row of the file (not the first
    # row the first check refused) stops the load
    stop = cfg.get("on_error") == "stop"
    cfg = {**cfg, "on_error": "reject"} if stop else cfg
    loaded = source.load(task, cfg)
    where = ", ".join(loaded.files) or name
    rows_given = len(loaded.pairs) + len(loaded.rejects)
    spec, pairs, more, why = resolve_labels(task, loaded, cfg, where)
    rejects = pd.concat([loaded.rejects, *more], ignore_index=True) if more else loaded.rejects
    rejects = rejects.reindex(columns=REJECT_COLUMNS) if len(rejects) else pd.DataFrame(columns=REJECT_COLUMNS)
    from theraflow.pairs.replicates import merge_replicates

    pairs, rej, replicates = merge_replicates(spec, pairs, [r.id for r in task.roles], cfg.get("replicates"),
                                              cfg.get("on_error") or "reject", where)
    rejects = pd.concat([rejects, rej], ignore_index=True) if len(rej) else rejects
    by_part = dataset_rejects_by_part(rejects, _reject_parts(rejects, cfg, loaded))
    rejects = rejects.reindex(columns=REJECT_COLUMNS)
    if stop and len(rejects):
        raise InputError(first_reject(rejects, loaded.files))
    pairs = pairs.reset_index(drop=True)
    pairs.insert(0, "pair_id", np.arange(len(pairs), dtype=np.int64))
    facts = {"label_kind_reason": why, "replicates": replicates, "rows_given": int(rows_given),
             "rejected_reasons": reason_counts(rejects),
             "rejected_by_part": by_part,
             "ids_defaulted": getattr(loaded, "ids_defaulted", {}), "folds": loaded.folds, "files": loaded.files}
    return spec, pairs, rejects, facts


def _reject_parts(rejects: pd.DataFrame, cfg: dict, loaded) -> pd.Series | None:
    """The given part of each rejects row, where the set says it (a part's file, a row's part column,
    rejected replicates of a part), else None (the rows of a set that is split later belong to no part)."""
    if not len(rejects):
        return None
    part = pd.Series([None] * len(rejects), dtype=object)
    if "given_part" in rejects:
        part = rejects["given_part"].reset_index(drop=True).astype(object)
    files = {str(Path(f)): p for p, f in (cfg.get("parts") or {}).items()}
    line_parts = getattr(loaded, "line_parts", None) or {}
    for i, (f, line) in enumerate(zip(rejects["file"].astype(str), rejects["line"].astype(str))):
        if isinstance(part.iat[i], str):
            continue
        if str(Path(f)) in files:
            part.iat[i] = files[str(Path(f))]
        elif (f, line) in line_parts:
            part.iat[i] = line_parts[(f, line)]
    return part


def first_reject(rejects: pd.DataFrame, files: list[str]) -> str:
    """The message of a load stopped by its first bad row: by file (in the order read), then line."""
    order = {f: i for i, f in enumerate(files)}
    number = pd.to_numeric(rejects["line"].astype(str).str.extract(r"(\d+)\s*$")[0], errors="coerce").fillna(0)
    first = rejects.iloc[int(np.lexsort((number.to_numpy(), rejects["file"].map(order).fillna(0).to_numpy()))[0])]
    return f"{first['file']}: {first['line']}, column {first['column']!r}: {first['reason']}"


def prepare_dataset(task, cfg: dict, outdir: str | Path) -> dict:
    """Stage: a configured source → the data set's files (see the module docstring); returns dataset.json."""
    task = _task(task)
    outdir = Path(outdir)
    spec, pairs, rejects, facts = load_dataset(task, cfg)
    columns = ["pair_id", *task.columns, *(c for c in ("given_part", "pair_index", "line", "replicates") if c in pairs)]
    pairs = pairs[columns]
    molecules = pd.concat([pairs[[r.id, r.value]].set_axis(["id", "smiles"], axis=1)
                           for r in task.roles if task.entity(r).featurized]).drop_duplicates("id") \
        if any(task.entity(r).featurized for r in task.roles) else pd.DataFrame(columns=["id", "smiles"])
    classes = pd.DataFrame({"class": list(spec.classes),
                            "description": [spec.descriptions.get(c, "") for c in spec.classes]})
    write_table(pairs, outdir / "pairs.parquet")
    write_table(molecules, outdir / "molecules.csv")
    write_table(classes, outdir / "classes.tsv")
    write_json(outdir / "folds.json", facts["folds"] or {})
    write_table(rejects, outdir / "rejects.tsv")
    info = {"task": spec.to_json(), "task_name": task.name, "label_kind": spec.label.name,
            "label_kind_reason": facts["label_kind_reason"], "source": cfg.get("source") or "table",
            "files": facts["files"], "rows_given": facts["rows_given"], "pairs": len(pairs),
            "rejected_rows": int(len(rejects)), "rejected_reasons": facts["rejected_reasons"],
            "rejected_by_part": facts["rejected_by_part"], "replicates": facts["replicates"],
            "n_replicates_merged": facts["replicates"]["n_replicates_merged"],
            "ids_defaulted": facts["ids_defaulted"], "has_setting1_folds": bool(facts["folds"]),
            "given_parts": ({p: int(n) for p, n in pairs["given_part"].value_counts().items()}
                            if "given_part" in pairs else None),
            "entities": {r.name: int(pairs[r.id].nunique()) for r in task.roles},
            "molecules": int(len(molecules)), "label": label_facts(spec, pairs),
            "shared_sequences": shared_sequence_facts(task, pairs)}
    write_json(outdir / "dataset.json", info)
    log.info("%s data set: %d pairs (%s labels), %d row(s) rejected", task.name, len(pairs), spec.label.name,
             len(rejects))
    for role, facts_ in info["shared_sequences"].items():
        log.info("%s: %d %s ids share %d sequence(s) (e.g. %s): kept as distinct %ss, as the table names them; "
                 "a screen recognizes them by sequence and one of these ids", task.name, facts_["ids"], role,
                 facts_["sequences"], ", ".join(facts_["example"]), role)
    return info


def shared_sequence_facts(task, pairs: pd.DataFrame) -> dict:
    """Per role whose entities are sequences: ids the table gives one sequence under (variants a data set lists
    with the wild-type sequence, as Davis does); kept apart in a model's vocabulary
    (:func:`~theraflow.pairs.entity.variant_key`). {role: {ids, sequences, example}}, roles without any left out."""
    from theraflow.pairs.entity import shared_sequences

    out = {}
    for r in task.roles:
        kind = task.entity(r)
        if kind.featurized or kind.value != "sequence" or r.value not in pairs:
            continue
        u = pairs[[r.id, r.value]].drop_duplicates(r.id)
        shared = shared_sequences(u[r.id].astype(str).tolist(), u[r.value].fillna("").astype(str).tolist())
        if shared:
            biggest = max(shared.values(), key=len)
            out[r.name] = {"ids": sum(len(v) for v in shared.values()), "sequences": len(shared),
                           "example": biggest[:4]}
    return out


def label_facts(spec: TaskSpec, pairs: pd.DataFrame) -> dict:
    if spec.label.name == "regression":
        y = pairs["label"].astype(float)
        return {"min": float(y.min()), "max": float(y.max()), "mean": float(y.mean())}
    counts = pairs["label"].astype(str).value_counts()
    return {"classes": len(spec.classes), "counts": {str(k): int(v) for k, v in counts.items()}}


def dataset_info(pairs_path: str | Path) -> dict:
    if not Path(pairs_path).exists():
        raise InputError(f"{pairs_path}: not found (the pairs.parquet the dataset stage writes)")
    info = Path(pairs_path).with_name("dataset.json")
    if not info.exists():
        raise InputError(f"{info}: not found (written by the dataset stage beside the pairs)")
    return read_json(info)


def spec_of(pairs_path: str | Path) -> TaskSpec:
    return TaskSpec.from_json(dataset_info(pairs_path)["task"])


# ------------------------------------------------------------------- splits
def split_stage(pairs_path: str | Path, kind: str, outdir: str | Path, name: str | None = None, *,
                folds_path: str | Path | None = None, **params) -> dict:
    """Stage: one split with its manifest and leakage audit."""
    from theraflow.pairs.splits import make_split, save_split

    spec = spec_of(pairs_path)
    pairs = pd.read_parquet(pairs_path)
    folds = None
    if kind == "setting1":
        f = read_json(folds_path) if folds_path else read_json(Path(pairs_path).with_name("folds.json"))
        if not f:
            raise InputError(f"{pairs_path}: the setting1 split needs DeepDTA fold files, and this data set has none")
        folds = (f["train"], f["test"])
    split_params = {k: v for k, v in params.items() if v is not None}
    part = make_split(pairs, kind, spec.task, folds=folds, **split_params)
    return save_split(pairs, part, outdir, name or kind, kind=kind, params=split_params, task=spec.task,
                      spec=spec)


# -------------------------------------------------------------------- models
def load_model_config(path: str | Path, task=None) -> dict:
    from theraflow.pairs.model_config import load_model_config as load

    return load(path, _task(task) if task is not None else None)


def _manifest(split_path) -> dict:
    p = Path(split_path)
    m = p.with_name(p.name.replace(".parquet", ".manifest.json"))
    return read_json(m) if m.exists() else {}


def _data(spec: TaskSpec, pairs: pd.DataFrame, molecules_path, store, featurizer: dict, vocab=None):
    from theraflow.pairs.data import Molecules, build_pair_data, keep_featurized

    mols = Molecules.from_table(molecules_path, store, featurizer) if molecules_path else None
    pairs, dropped = keep_featurized(spec, pairs, mols)
    return pairs, build_pair_data(spec, pairs, mols, vocab=vocab), dropped


def standardize_options_of(molecules_path) -> dict | None:
    """The standardization options the chemistry stages used for ``molecules.parquet`` (their
    ``summary.json`` beside it), recorded with a model so that scoring standardizes as training did."""
    if not molecules_path:
        return None
    summary = Path(molecules_path).with_name("summary.json")
    return (read_json(summary).get("standardize") or None) if summary.exists() else None


def train_stage(*, pairs_path, split_path, molecules_path, store, model_config, outdir, seed: int = 0,
                max_minutes: float | None = None, max_epochs: int | None = None, threads: int | None = None,
                progress: bool | None = None, resume: bool = True) -> dict:
    from theraflow.pairs.splits import pairs_with_parts
    from theraflow.pairs.train import train_model
    from theraflow.training.tasks import run_overrides

    spec = spec_of(pairs_path)
    cfg = load_model_config(model_config, spec.task) if isinstance(model_config, (str, Path)) else model_config
    featurizer = cfg.get("featurizer") or {"name": "default"}
    pairs, data, dropped = _data(spec, pairs_with_parts(pairs_path, split_path), molecules_path, store, featurizer)
    return train_model(data, pairs["part"].to_numpy(), cfg, outdir, seed=seed,
                       training=run_overrides(max_minutes, max_epochs, threads), featurizer=featurizer,
                       progress=progress, resume=resume,
                       extra_meta={"split": str(split_path), "pairs_dropped": dropped,
                                   "standardize": standardize_options_of(molecules_path),
                                   "split_manifest": _manifest(split_path)})


# ----------------------------------------------------------------- evaluate
def evaluate_stage(*, model_dir, pairs_path, split_path, molecules_path, store, outdir,
                   parts: tuple[str, ...] = ("valid", "test"), n_boot: int = 1000,
                   binary_threshold: float | None = None) -> dict:
    """Stage: predictions of the valid/test pairs, metrics with bootstrap intervals, the label kind's plot.
    Every part's rows are counted (``n_given``, ``n_scored``, ``n_rejected`` by reason; see
    :func:`theraflow.pairs.rejects.split_counts`): a pair whose molecule the chemistry stages rejected, a row
    the dataset stage rejected."""
    from theraflow.pairs.splits import pairs_with_parts
    from theraflow.pairs.train import load_model, predict

    outdir = Path(outdir)
    model, meta, spec = load_model(model_dir)
    given = pairs_with_parts(pairs_path, split_path, parts)
    pairs, data, dropped = _data(spec, given, molecules_path, store, meta.get("featurizer") or {"name": "default"},
                                 vocab=model.vocab)
    t0 = time.perf_counter()
    pred = predict(model, data)
    seconds = time.perf_counter() - t0
    task = spec.task
    preds = pairs[["pair_id", *(r.id for r in task.roles), "part", "label"]].copy()
    arrays = {}
    for col, values in spec.label.prediction_columns(pred, spec.classes).items():
        if col.endswith(".npy"):
            arrays[col] = values
        else:
            preds[col] = values
    write_table(preds, outdir / "predictions.parquet")
    for name, values in arrays.items():
        from theraflow.io import atomic_write

        with atomic_write(outdir / name, "wb") as fh:
            np.save(fh, values)
    counts = {p: {"given": int((given["part"] == p).sum()), "scored": int((pairs["part"] == p).sum())}
              for p in parts}
    for c in counts.values():
        c["rejected"] = c["given"] - c["scored"]
    from theraflow.pairs.rejects import split_counts

    # every part's rows: given, scored, rejected by reason (the dataset stage's, the chemistry stages')
    lost = split_counts(spec, pairs_path, split_path, molecules_path,
                        scored={p: set(pairs.loc[pairs["part"] == p, "pair_id"]) for p in parts})
    result: dict = {"model_dir": str(model_dir), "split": str(split_path), "seed": meta.get("seed"),
                    "task": spec.to_json() | {"descriptions": {}}, "label_kind": spec.label.name,
                    "formulation": formulation(spec), "pairs_dropped": dropped, "counts": counts, **lost,
                    "predict_seconds": round(seconds, 3), "train_seconds": meta.get("train_seconds"),
                    "epochs_trained": meta.get("epochs_trained"), "device": meta.get("device"),
                    "train_energy": meta.get("train_energy"), "parts": {}}
    y = data.label
    for p in parts:
        sel = (pairs["part"] == p).to_numpy()
        if sel.sum() < 2:
            continue
        result["parts"][p] = spec.label.evaluate(y[sel], pred[sel], classes=spec.classes, n_boot=n_boot,
                                                 threshold=binary_threshold)
    from theraflow.pairs.shortcut import split_shortcut  # the entity-frequency baseline beside the model
    from theraflow.pairs.splits import load_split

    result["shortcut"] = split_shortcut(spec, pairs_path, split_path, result["parts"], load_split)
    write_json(outdir / "metrics.json", result)
    shown = "test" if "test" in result["parts"] else next(iter(result["parts"]), None)
    if shown:
        sel = (pairs["part"] == shown).to_numpy()
        spec.label.plot(y[sel], pred[sel], outdir / spec.label.plot_file, classes=spec.classes,
                        title=f"{Path(model_dir).name} — {shown} ({int(sel.sum())} pairs)",
                        metrics=result["parts"][shown]["metrics"])
    return result


def formulation(spec: TaskSpec) -> str:
    rows = "one row per ordered pair" if spec.task.ordered else "one row per pair (no order)"
    if spec.label.name == "multiclass":
        return (f"{spec.task.name}: softmax over {len(spec.classes)} classes, one row per (pair, class); a pair with "
                "two classes is two rows, each counted")
    return f"{spec.task.name}: {spec.label.description}, {rows}"


# ----------------------------------------------------------------- calibrate
def ensemble_predictions(model_dirs) -> tuple[TaskSpec, np.ndarray, np.ndarray, np.ndarray]:
    """(spec, predictions [models, pairs(, classes)], labels, part) from each model directory's
    ``predictions.parquet`` (written by the evaluate stage), aligned on ``pair_id``."""
    from theraflow.pairs.train import upgrade_meta

    dirs = [Path(d) for d in model_dirs]
    frames, preds, spec = [], [], None
    for d in dirs:
        f = d / "predictions.parquet"
        if not f.exists():
            raise InputError(f"{f}: no predictions of the validation and test parts; run the evaluate stage on "
                             "this model first")
        meta = read_json(d / "model.json")
        meta.update(upgrade_meta(meta, d))
        s = TaskSpec.from_json(meta["task"])
        if spec is not None and (s.task.name, s.label.name, s.classes) != (spec.task.name, spec.label.name,
                                                                             spec.classes):
            raise InputError(f"{d}: another task or label kind than {dirs[0]}: not one ensemble")
        spec = s
        df = pd.read_parquet(f)
        missing = {"pair_id", "part", "label"} - set(df.columns)
        if missing:
            raise InputError(f"{f}: expected columns pair_id, part, label; missing {sorted(missing)}")
        order = np.argsort(df["pair_id"].to_numpy(), kind="stable")
        frames.append(df.iloc[order].reset_index(drop=True))
        preds.append(spec.label.read_predictions(df, d)[order])
    first = frames[0]
    for d, f in zip(dirs[1:], frames[1:]):
        if not np.array_equal(f["pair_id"].to_numpy(), first["pair_id"].to_numpy()):
            raise InputError(f"{d / 'predictions.parquet'}: predicts other pairs than {dirs[0] / 'predictions.parquet'}"
                             " (the models of an ensemble must be evaluated on the same split)")
    y = spec.label.encode(first["label"], spec.classes) if spec.label.name != "regression" else \
        first["label"].to_numpy(dtype=np.float64)
    return spec, np.stack(preds), y, first["part"].to_numpy()


def calibrate_stage(model_dirs, out_json=None, out_png=None, *, title: str | None = None) -> dict:
    """Fit the calibration of an ensemble's predictions on its validation part and measure it on its test
    part: a regression's spread (intervals), a classifier's probabilities (reliability, prediction sets)."""
    spec, pred, y, part = ensemble_predictions(model_dirs)
    if spec.label.name == "regression" and len(model_dirs) < 2:
        raise InputError("one model has no spread to calibrate (no ensemble: no uncertainty); train several seeds")
    valid, test = part == "valid", part == "test"
    for name, mask in (("validation", valid), ("test", test)):
        if mask.sum() < 10:
            raise InputError(f"{model_dirs[0]}/predictions.parquet: {int(mask.sum())} {name} pairs; calibration "
                             f"needs at least 10 (a split with a {name} part)")
    summary = spec.label.calibrate(pred[:, valid], y[valid], pred[:, test], y[test], spec.classes)
    summary["models"] = [str(d) for d in model_dirs]
    summary["label_kind"] = spec.label.name
    summary["fitted_on"], summary["measured_on"] = "validation part", "test part"
    if out_png is not None:
        spec.label.calibration_figure(summary, out_png, title=title or f"Test part, {len(model_dirs)}-model ensemble")
    if out_json is not None:
        write_json(out_json, summary)
    return summary


# -------------------------------------------------------------------- table
def metrics_table(metrics_files: list[str | Path], out_tsv: str | Path, out_png: str | Path | None = None) -> pd.DataFrame:
    """Stage: per-run metrics.json files (results/<task>/<dataset>/<split>/<model>/seed<N>/metrics.json) →
    one table (per run), a summary (mean ± sd over seeds of every metric of the label kind) and a plot."""
    from theraflow.pairs.rejects import metrics_counts, reasons_text
    from theraflow.registry import LABELS

    rows, kinds, count_rows, methods = [], set(), [], set()
    for f in map(Path, metrics_files):
        m = read_json(f)
        kinds.add(m.get("label_kind", "regression"))
        methods.add((m.get("train_energy") or {}).get("method"))
        seed_dir, model, split, dataset = f.parent.name, f.parent.parent.name, f.parent.parent.parent.name, \
            f.parent.parent.parent.parent.name
        counts_of = {p: {"n_given": c["n_given"], "n_scored": c["n_scored"], "n_merged": c["n_merged"],
                         "n_rejected": sum(c["n_rejected"].values()), "rejected_reasons": reasons_text(c["n_rejected"])}
                     for p, c in metrics_counts(m).items()}
        count_rows += [{"dataset": dataset, "split": split, "model": model, "part": p, **c}
                       for p, c in counts_of.items()]
        for part, res in m["parts"].items():
            row = {"dataset": dataset, "split": split, "model": model, "seed": seed_dir.removeprefix("seed"),
                   "part": part, **res["metrics"], "train_seconds": m.get("train_seconds"),
                   "train_energy_wh": (m.get("train_energy") or {}).get("energy_wh"),
                   "epochs": m.get("epochs_trained")}
            c = (m.get("counts") or {}).get(part)
            if c:
                row |= {"pairs_given": c["given"], "pairs_rejected": c["rejected"]}
            row |= counts_of.get(part, {})
            short = (m.get("shortcut") or {}).get("parts", {}).get(part)
            if short:  # the entity-frequency baseline on this part, and whether it comes close to the model
                row |= {"shortcut_metric": m["shortcut"].get("metric"), "shortcut_baseline": short.get("entity_frequency"),
                        "shortcut_flag": bool(m["shortcut"].get("flag"))}
            for k, (lo, hi) in res.get("ci95", {}).items():
                row[f"{k}_lo"], row[f"{k}_hi"] = lo, hi
            rows.append(row)
    df = pd.DataFrame(rows)
    metrics = [c for k in sorted(kinds) for c in LABELS.get(k).summary_metrics if c in df and df[c].notna().any()]
    metrics = list(dict.fromkeys(metrics))
    summary = df.groupby(["dataset", "split", "model", "part"], sort=False)[metrics].agg(["mean", "std", "count"])
    summary.columns = [f"{a}_{b}" for a, b in summary.columns]
    summary = summary.reset_index()
    if "shortcut_flag" in df:  # the split's flag (any seed's run flagged) and the baseline's figure per part
        short = df.groupby(["dataset", "split", "model", "part"], sort=False).agg(
            shortcut_metric=("shortcut_metric", "first"), shortcut_baseline=("shortcut_baseline", "first"),
            shortcut_flag=("shortcut_flag", lambda v: bool(pd.Series(v).fillna(False).astype(bool).any())))
        summary = summary.merge(short.reset_index(), on=["dataset", "split", "model", "part"], how="left", sort=False)
    # what the runs cost to train: seconds and codecarbon's energy estimate, summed over the seeds (each run once)
    runs = df.drop_duplicates(["dataset", "split", "model", "seed"])
    cost = runs.groupby(["dataset", "split", "model"], sort=False).agg(
        train_seconds_total=("train_seconds", lambda v: float(pd.to_numeric(v, errors="coerce").sum())),
        train_energy_wh_total=("train_energy_wh", lambda v: float(pd.to_numeric(v, errors="coerce").sum())
                               if pd.to_numeric(v, errors="coerce").notna().any() else float("nan")))
    summary = summary.merge(cost.reset_index(), on=["dataset", "split", "model"], how="left", sort=False)
    methods.discard(None)
    if methods:
        summary["train_energy_method"] = "; ".join(sorted(methods))
    if count_rows:  # every part's rows given, scored, rejected (by reason): one data set, the same for every seed
        keys = ["dataset", "split", "model", "part"]
        counts = pd.DataFrame(count_rows).drop_duplicates(keys)
        summary = summary.merge(counts, on=keys, how="outer", sort=False)
    write_table(df, out_tsv)
    write_table(summary, Path(out_tsv).with_name(Path(out_tsv).stem + ".summary.tsv"))
    if out_png:
        from theraflow.pairs.plots import metrics_plot

        metrics_plot(df[df["part"] == "test"], metrics[:4], out_png)
    return summary
