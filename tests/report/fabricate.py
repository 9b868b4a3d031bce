"""Screens of any size for the report's tests and for looking at the report at scale.

``tiny_models`` trains a real two-seed drug–target ensemble on the demo set (seconds); ``fabricate_screen``
writes score shards of ``n`` molecules (NCI structures, repeated under new ids; scores drawn at random)
and gathers them with the real ``gather_scores``: what ``build_scoring_report`` reads is then exactly what
a screen of that size writes, without scoring it.

Run as a script to build, weigh and screenshot a report of a large screen::

    python -m tests.report.fabricate --molecules 100000 --out /tmp/report_100k
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd


def nci_smiles(limit: int | None = None) -> list[str]:
    from rdkit import RDConfig

    lines = (Path(RDConfig.RDDataDir) / "NCI" / "first_5K.smi").read_text().splitlines()
    return [line.split()[0] for line in lines if line.strip()][:limit]


def tiny_models(root: str | Path) -> list[Path]:
    """Two seeds of a tiny GIN drug–target model on the demo set, with held-out predictions (for calibration)."""
    from theraflow import pairs
    from theraflow.chem import featurize

    root = Path(root)
    models = [root / "seed0", root / "seed1"]
    if all((d / "predictions.parquet").exists() for d in models):
        return models
    spec, dti, _, _ = pairs.load_dataset("dti", {"source": "rdkit_demo"})
    drugs = dti[["drug_id", "smiles"]].drop_duplicates("drug_id")
    res = featurize(drugs["smiles"].tolist(), "default")
    data = pairs.build_pair_data(spec, dti, pairs.Molecules({d: i for i, d in enumerate(drugs["drug_id"])},
                                                             res.graphs))
    part = pairs.make_split(dti, "random", spec.task).to_numpy()
    cfg = {"name": "tiny", "drug_encoder": {"type": "gin", "hidden": 32, "layers": 2},
           "target_encoder": {"type": "id", "id": {"dim": 8}}, "head": {"hidden": [32], "proj": 16},
           "training": {"max_epochs": 3, "batch_mode": "random", "batch_size": 128, "threads": 1}}
    held_out = np.flatnonzero(np.isin(part, ["valid", "test"]))
    for seed, d in enumerate(models):
        pairs.train_model(data, part, cfg, d, seed=seed, progress=False)
        model, meta, _ = pairs.load_model(d)
        preds = dti.iloc[held_out][["pair_id", "label"]].assign(part=part[held_out])
        preds["prediction"] = pairs.predict(model, data.with_vocabulary(meta["vocab"]), held_out)
        preds.to_parquet(d / "predictions.parquet")
    return models


def model_targets(models: list[Path]) -> list[str]:
    """The target ids the models were trained on."""
    meta = json.loads((Path(models[0]) / "model.json").read_text())
    return list((meta.get("partners") or {}).get("ids") or ["T1", "T2"])


def fabricate_screen(outdir: str | Path, n: int, targets: list[str], *, shards: int = 4, top_k: int = 50,
                     seed: int = 0, rejects: int = 3) -> dict:
    """A gathered screen of ``n`` molecules against ``targets`` (the real gather, fabricated scores)."""
    from theraflow.pairs.screen import _write_sorted_by_target as write_shard_scores
    from theraflow.pairs.screen import gather_scores

    outdir = Path(outdir)
    work = outdir / "shards"
    work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    smiles = np.asarray(nci_smiles())
    bounds = np.linspace(0, n, shards + 1).astype(int)
    files, stats = [], []
    for s in range(shards):
        lo, hi = bounds[s], bounds[s + 1]
        m = hi - lo
        ids = np.char.add("MOL", np.arange(lo + 1, hi + 1).astype(str))
        smi = smiles[np.arange(lo, hi) % len(smiles)]
        path = work / f"shard{s}.scores.arrow"
        frames = []
        for t_i, t in enumerate(targets):
            mean = rng.normal(5.5 + 0.3 * t_i, 0.8, m).astype(np.float32)
            ad = rng.beta(2, 5, m).astype(np.float32)
            frames.append(pd.DataFrame({"id": ids, "smiles": smi, "target_id": t, "class": None, "score_mean": mean,
                                        "score_std": rng.gamma(2, 0.08, m).astype(np.float32), "ad_similarity": ad,
                                        "ad_flag": ad < 0.3}))
        write_shard_scores(pd.concat(frames, ignore_index=True), path, list(targets))  # the shard job's writer
        st = outdir / f"shard{s}.stats.json"
        st.write_text(json.dumps({"records": int(m) + (rejects if s == 0 else 0), "kept": int(m),
                                  "rejected": rejects if s == 0 else 0, "store_hits": 0, "store_misses": int(m),
                                  "pairs": int(m) * len(targets), "seconds": 1.0,
                                  "seconds_by_step": {"read": 0.5, "score": 0.5}}))
        files.append(path)
        stats.append(st)
    reject_files = []
    if rejects:
        rej = pd.DataFrame({"record": [str(i + 1) for i in range(rejects)], "id": [f"BAD{i}" for i in range(rejects)],
                            "stage": "read", "reason": "unparsable SMILES", "input": "C1CC("})
        rej.to_parquet(outdir / "rejects.parquet")
        reject_files.append(outdir / "rejects.parquet")
    return gather_scores(files, outdir, top_k=top_k, stats_files=stats, reject_files=reject_files)


def screenshot(html: Path, png: Path, *, width: int = 1300, height: int = 900, full_page: bool = True) -> Path:
    """The page in headless Chromium (Debian's chromium through playwright's driver)."""
    import shutil

    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": width, "height": height})
        page.goto(html.as_uri(), wait_until="load")
        page.wait_for_selector(".hits-grid tbody tr", timeout=20_000)
        page.screenshot(path=str(png), full_page=full_page)
        browser.close()
    return png


def main(argv: list[str] | None = None) -> int:
    from theraflow.report.scoring import build_scoring_report

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--molecules", type=int, default=100_000)
    ap.add_argument("--out", default="/tmp/report_100k")
    ap.add_argument("--models", help="folder for the tiny models (reused when there); default OUT/models")
    ap.add_argument("--explain-top", type=int, default=5)
    ap.add_argument("--no-screenshot", action="store_true")
    args = ap.parse_args(argv)
    out = Path(args.out)
    t0 = time.perf_counter()
    models = tiny_models(Path(args.models) if args.models else out / "models")
    t1 = time.perf_counter()
    fabricate_screen(out / "screen", args.molecules, model_targets(models))
    t2 = time.perf_counter()
    html = build_scoring_report(out / "screen", models, out / "report.html", explain_top=args.explain_top)
    t3 = time.perf_counter()
    print(f"models {t1 - t0:.1f} s, screen of {args.molecules:,} molecules {t2 - t1:.1f} s, report {t3 - t2:.1f} s")
    print(f"report: {html} ({html.stat().st_size:,} bytes)")
    if not args.no_screenshot:
        png = screenshot(html, out / "report.png")
        print(f"screenshot: {png} ({png.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
