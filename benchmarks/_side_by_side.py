"""Side-by-side rows of any pair task on the workflow's split files — what dti_davis.py, ddi_drugbank.py and
pair_table.py share.

- :func:`neural_row`: a model the workflow trained (one run per seed): its test metrics per seed (the label
  kind's), their mean ± sd, the same on the validation part, the ensemble of the seeds, minutes, epochs, the
  validation curve;
- :func:`select_on_validation`: per split, which of theraflow's recipes (variants) has the best validation
  mean — the recipe shipped for that split; the test part chooses nothing;
- :func:`reference_rows`: the references fitted here on the same split file and the same rows — the
  constant (mean, base rate, class frequencies), the entity-frequency shortcut (each entity's training
  labels, no structure; :mod:`theraflow.pairs.shortcut`) and the task's fingerprint reference (LightGBM
  for dti, an MLP for ddi; ``PairTask.reference``) — on ``train``, selected on ``valid``, ``test`` read once.

The rows theraflow trains and is tested on are the pairs whose molecules the chemistry stage kept; the
references get exactly those rows (``rows_excluded_for_unstandardized_molecules`` counts the others).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import time
from pathlib import Path

from _common import mean_sd, merge_rows, write_json


def earlier_report(ap, out: str | Path) -> dict:
    """The report already at ``--out``, whose rows this run's rows are merged into — read and checked before
    any work, so a file that is not such a report (empty, cut short, not JSON, a folder, an unwritable place)
    stops the benchmark at once with its name, not after hours of training. No file: ``{}``."""
    out = Path(out)
    if out.is_dir():
        ap.error(f"--out {out}: is a directory; name a .json file")
    parent = next((p for p in [out.parent, *out.parent.parents] if p.exists()), Path("."))
    if not os.access(parent, os.W_OK):
        ap.error(f"--out {out}: cannot write there ({parent} is not writable)")
    if not out.exists():
        return {}
    try:
        report = json.loads(out.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        what = "is empty" if out.stat().st_size == 0 else f"is not valid JSON ({exc})"
        ap.error(f"--out {out}: the file {what}; this benchmark adds its rows to an earlier report there. "
                 "Move the file away or name another --out")
    if not isinstance(report, dict) or not isinstance(report.get("side_by_side", []), list):
        ap.error(f"--out {out}: not a benchmark report (expected a JSON object with a 'side_by_side' list); "
                 "move the file away or name another --out")
    return report


def keep_rows(out: str | Path, report: dict, rows: list[dict], key: tuple[str, ...]) -> None:
    """Merge finished ``rows`` into ``report`` and write it to ``out`` at once (atomically): an error later in
    the run (another split, the plot) loses none of the rows measured so far."""
    report["side_by_side"] = merge_rows(report.get("side_by_side", []), rows, key)
    write_json(report, out)


def train_models(work: Path, res: Path, splits: list[str], runs: dict[str, dict[str, list[int]]],
                 cores: int) -> tuple[int, float, dict]:
    """Run the workflow for the splits and, per model, the seeds it trains on each split (``{model: {split:
    seeds}}``): every split file and every run's metrics.json. Returns (exit code, seconds, the commit and
    date the rows are measured at)."""
    from _common import provenance, run_workflow

    rel = Path(res).relative_to(work)  # Snakemake's targets are paths in its working directory
    targets = [str(rel / "splits" / f"{s}.parquet") for s in splits]
    targets += [str(rel / s / model / f"seed{seed}" / "metrics.json")
                for model, by_split in runs.items() for s in splits for seed in by_split.get(s, [])]
    rc, seconds = run_workflow(work, targets, cores)
    return rc, seconds, provenance()


def spec_of(res: Path):
    from theraflow.pairs.stages import spec_of as spec

    return spec(res / "pairs.parquet")


def _curve(rows, metrics: list[str]) -> list[dict]:
    """Validation curve points: minutes and each validation metric (history's val_x as valid_x)."""
    return [{"minutes": round(r["seconds"] / 60, 3),
             **{f"valid_{m[4:]}": round(float(r[m]), 4) for m in metrics if m in r and r[m] == r[m]}}
            for r in rows if any(m in r and r[m] == r[m] for m in metrics)]


def neural_row(res: Path, split: str, model: str, seeds: list[int], bootstrap: int, *, name: str,
               ensemble: bool = True, threshold: float | None = None) -> dict:
    """A model trained by the workflow: its test metrics per seed, their mean ± sd, the ensemble of its seeds."""
    import numpy as np
    import pandas as pd

    spec = spec_of(res)
    label = spec.label
    per_seed, preds = [], []
    for seed in seeds:
        run = res / split / model / f"seed{seed}"
        m = json.loads((run / "metrics.json").read_text())
        test = m["parts"]["test"]
        meta = json.loads((run / "model.json").read_text())
        hist = pd.read_csv(run / "history.csv")
        val_cols = [c for c in hist.columns if c.startswith("val_")]
        per_seed.append({"seed": seed, "test": test["metrics"], "ci95": test.get("ci95", {}),
                         "valid": (m["parts"].get("valid") or {}).get("metrics") or {},
                         "minutes": meta["train_seconds"] / 60, "epochs": meta["epochs_trained"],
                         "calibration": meta.get("calibration"), "device": meta.get("device"),
                         "counts": (m.get("counts") or {}).get("test"),
                         "curve": _curve(hist.to_dict("records"), val_cols)})
        p = pd.read_parquet(run / "predictions.parquet")
        keep = (p["part"] == "test").to_numpy()
        preds.append((p[keep].reset_index(drop=True), label.read_predictions(p, run)[keep]))
    metrics = [k for k in per_seed[0]["test"] if k != "n"]
    row = {"model": name, "model_config": model, "seeds": list(seeds),
           **{k: mean_sd([r["test"].get(k) for r in per_seed]) for k in metrics},
           "valid": {k: mean_sd([r["valid"].get(k) for r in per_seed]) for k in metrics if k in per_seed[0]["valid"]},
           "ci95": [r["ci95"] for r in per_seed],
           "minutes": round(statistics.fmean(r["minutes"] for r in per_seed), 2),
           "minutes_per_seed": [round(r["minutes"], 2) for r in per_seed], "epochs": [r["epochs"] for r in per_seed],
           "calibration": [r["calibration"] for r in per_seed], "device": per_seed[0]["device"],
           "test_rows": per_seed[0]["test"].get("n"), "test_pairs": per_seed[0]["counts"],
           "curve": per_seed[0]["curve"]}
    if ensemble and len(preds) > 1:
        order = [np.argsort(f["pair_id"].to_numpy(), kind="stable") for f, _ in preds]
        mean = np.mean([p[o] for (_, p), o in zip(preds, order)], axis=0)
        first = preds[0][0].iloc[order[0]]
        y = label.encode(first["label"], spec.classes) if label.name != "regression" else \
            first["label"].to_numpy(dtype=float)
        ev = label.evaluate(y, mean, classes=spec.classes, n_boot=bootstrap, threshold=threshold)
        row["ensemble"] = {"seeds": list(seeds), **{k: round(v, 4) for k, v in ev["metrics"].items() if k != "n"},
                           "ci95": ev.get("ci95", {})}
    return row


def split_pairs(res: Path, split: str):
    """(pairs of the split with their part, rows excluded): the pairs whose molecules the chemistry stage kept."""
    import pandas as pd

    from theraflow.pairs.splits import load_split

    spec = spec_of(res)
    pairs = pd.read_parquet(res / "pairs.parquet")
    pairs["part"] = load_split(res / "splits" / f"{split}.parquet", pairs).to_numpy()
    task, ds = res.parent.name, res.name
    mols = res.parent.parent / "chem" / f"{task}_{ds}" / "molecules.parquet"
    kept = set(pd.read_parquet(mols, columns=["id"])["id"].astype(str))
    keep = pd.Series(True, index=pairs.index)
    for r in spec.task.roles:
        if spec.task.entity(r).featurized:
            keep &= pairs[r.id].astype(str).isin(kept)
    return pairs[keep].reset_index(drop=True), int((~keep).sum())


def reference_rows(res: Path, split: str, models: list[str], *, budget: float | None, cores: int, bootstrap: int,
                   threshold: float | None = None, seeds: list[int] = (0,), names: dict | None = None) -> list[dict]:
    """The in-process references (``constant``, ``entity_frequency``, ``fingerprint``) on the workflow's split
    and rows."""
    from theraflow.pairs.baselines import ConstantPredictor, EntityFrequency, reference_for

    spec = spec_of(res)
    label = spec.label
    pairs, excluded = split_pairs(res, split)
    train, valid, test = (pairs[pairs["part"] == p] for p in ("train", "valid", "test"))
    y = label.encode(test["label"], spec.classes) if label.name != "regression" else test["label"].to_numpy(float)
    rows = []
    for name in models:
        runs = []
        fixed = name in ("constant", "entity_frequency")  # no randomness: one run
        for seed in (seeds if not fixed else [0]):
            t0 = time.perf_counter()
            if name == "constant":
                model = ConstantPredictor(spec=spec).fit(train, valid)
            elif name == "entity_frequency":
                model = EntityFrequency(spec=spec).fit(train, valid)
            else:
                model = reference_for(spec).fit(train, valid, max_seconds=60 * budget if budget else None,
                                                threads=cores, seed=seed)
            seconds = time.perf_counter() - t0
            ev = label.evaluate(y, model.predict(test), classes=spec.classes, n_boot=bootstrap, threshold=threshold)
            runs.append((model, seconds, ev))
            if not fixed:
                print(f"  {split}: {(names or {}).get(name, name)} seed {seed}: {seconds / 60:.1f} min, test "
                      + ", ".join(f"{k} {v:.4f}" for k, v in ev["metrics"].items() if k != "n"), flush=True)
        metrics = [k for k in runs[0][2]["metrics"] if k != "n"]
        minutes = [round(sec / 60, 2) for _, sec, _ in runs]
        first = runs[0][0]
        row = {"model": (names or {}).get(name, name), "seeds": [0] if fixed else list(seeds),
               **{k: mean_sd([ev["metrics"].get(k) for _, _, ev in runs]) for k in metrics},
               "ci95": [ev.get("ci95", {}) for _, _, ev in runs], "minutes": round(statistics.fmean(minutes), 2),
               "minutes_per_seed": minutes, "test_rows": int(len(test)),
               "rows_excluded_for_unstandardized_molecules": excluded,
               "curve": [{"minutes": round(c["seconds"] / 60, 3),
                          **{f"valid_{k[4:]}": round(float(v), 4) for k, v in c.items() if k.startswith("val_")}}
                         for c in first.curve]}
        if hasattr(first, "best_iteration") and name != "constant":
            row["iterations"] = first.best_iteration
        if hasattr(first, "epochs") and name != "constant":
            row["epochs"] = [m.epochs for m, _, _ in runs]
        rows.append(row)
    return rows


def split_counts(res: Path, split: str) -> dict:
    """Pairs given, scored (molecules kept) and rejected, per part of a split."""
    pairs, _ = split_pairs(res, split)
    import pandas as pd

    from theraflow.pairs.splits import load_split

    full = pd.read_parquet(res / "pairs.parquet")
    full["part"] = load_split(res / "splits" / f"{split}.parquet", full).to_numpy()
    out = {}
    for p in ("train", "valid", "test"):
        given, scored = int((full["part"] == p).sum()), int((pairs["part"] == p).sum())
        out[p] = {"given": given, "scored": scored, "rejected": given - scored}
    return out


def select_on_validation(rows: list[dict], variants: dict[str, str], metric: str) -> dict[str, dict]:
    """Per split, the variant (side-by-side name -> what it is) with the best mean *validation* ``metric``
    among the rows measured: ``{split: {"model", "metric", "valid", "candidates": {model: valid mean}}}``.
    Only the validation part (carved from the training part) is read; a split without a measured variant is
    absent."""
    out: dict[str, dict] = {}
    for split in dict.fromkeys(r["split"] for r in rows):
        cands = {r["model"]: ((r.get("valid") or {}).get(metric) or {}).get("mean") for r in rows
                 if r["split"] == split and r["model"] in variants}
        if not cands:
            continue
        missing = sorted(m for m, v in cands.items() if v is None)
        if missing:  # rows measured before validation figures were kept: no choice until they are measured again
            out[split] = {"model": None, "metric": metric, "missing_validation": missing,
                          "candidates": {m: round(v, 4) for m, v in cands.items() if v is not None}}
            continue
        best = max(cands, key=cands.get)
        out[split] = {"model": best, "what": variants[best], "metric": metric, "valid": round(cands[best], 4),
                      "candidates": {m: round(v, 4) for m, v in cands.items()}}
    return out


def add_pretrained_argument(ap) -> None:
    repo = Path(__file__).resolve().parents[1]
    ap.add_argument("--pretrained-root", default=str(repo / "resources" / "pretrain"),
                    help="where benchmarks/pretrain.py left finished bundles (<root>/<name>/); one found there is "
                         "used for the config's pretrain.<name> instead of pretraining again")


def seed_pretrained(cfg: dict, work: Path, root: Path) -> dict:
    """The config's ``pretrain.<name>`` bundles: a finished one under ``root/<name>`` made with the config's
    encoder and objective is copied into the workflow's ``results/pretrain/<name>`` (the path the model configs
    name), so the workflow does not pretrain it again; one made otherwise is refused with its difference.
    Returns {name: the bundle's corpus, objective and training summary}."""
    made = {}
    for name, want in (cfg.get("pretrain") or {}).items():
        src, dst = root / name, work / cfg.get("results", "results") / "pretrain" / name
        files = ("model.safetensors", "model.json", "card.md", "loss.png")
        if not (dst / "model.json").exists() and all((src / f).exists() for f in files):
            meta = json.loads((src / "model.json").read_text())
            enc = meta["encoder"]
            differ = {k: (enc.get(k), want[k]) for k in ("hidden", "layers", "pool") if k in want and enc.get(k) != want[k]}
            if want.get("objective", "attribute_masking") != meta["objective"]:
                differ["objective"] = (meta["objective"], want["objective"])
            if differ:
                raise SystemExit(f"{src}: not the config's pretrain.{name} ({differ}: bundle, config); move it away "
                                 "or pass another --pretrained-root")
            dst.mkdir(parents=True, exist_ok=True)
            for f in files:
                shutil.copy2(src / f, dst / f)
        if (dst / "model.json").exists():
            meta = json.loads((dst / "model.json").read_text())
            train = meta.get("training", {})
            made[name] = {"corpus": meta.get("corpus"), "objective": meta.get("objective"),
                          "encoder": meta.get("encoder"),
                          **{k: train.get(k) for k in ("molecules", "epochs", "seconds", "minutes_budget")},
                          "from": str(src if (src / "model.json").exists() else dst)}
    return made
