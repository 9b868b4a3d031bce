"""Federated hippocampus segmentation side by side: centralized, each site alone, FedAvg and FedProx, at equal
total training computation, all measured on the same 40 held-out cases.

The 200 cases of ``../shared/data/hippocampus``: the last 40 by file name are held out (no site holds them;
the same 40 the centralized recipe validates on); the first 160 are dealt to four sites of unequal size and
acquisition (``theraflow.imaging.federated.sites.DEFAULT_SITES``: 40/30/20/10 %, each its own gain, contrast
curve and noise, written as the site's own files). Computation is counted in epochs of data: with
``--epochs E`` (default 40),

- ``centralized``: the recipe (``models/seg_unet_hippocampus``) on the four sites' cases pooled, E epochs;
- ``site_alone``: each site on its own cases, E epochs (the four together: E epochs of the 160 cases); the row
  gives the mean and the worst site;
- ``fedavg`` / ``fedprox``: ``--rounds R`` rounds of E/R local epochs at every site (E epochs of the 160 cases),
  a federation of separate processes on this machine (a Flower SuperLink, one SuperNode per site) through
  ``theraflow seg federate``'s code;
- ``fedavg_kept_state``: FedAvg whose sites keep their optimizer's state (AdamW's moments) from one round to
  the next instead of starting it afresh every round (``--keep-optimizer-state``; the state stays on the site);
- ``fedavg_dp``: FedAvg under Flower's central differential privacy (each site's update clipped to
  ``--dp-clipping-norm``, Gaussian noise of ``--dp-noise-multiplier`` norms on the average, sites weighted
  alike); the row gives ε at ``--dp-delta`` with a site as the unit of privacy.

Every model is measured by the same function (``theraflow.imaging.federated.local_training.evaluate``: Dice
per structure on the held-out cases, sliding windows, as training's validation); the learning rate follows
the recipe's cosine over epochs (centralized, site alone) or over rounds (federated). The held-out cases choose
nothing: no model is selected on them (every run keeps its last weights).

Writes ``benchmarks/results/federated.json`` (``side_by_side`` rows: model, dice_mean, dice per structure,
epochs of data, minutes, energy, the per-round curve for the federated rows, commit and date; a run of some
models keeps the others' rows) and prints a table.

    .venv/bin/python benchmarks/federated.py                                  # all four, 40 epochs of data
    .venv/bin/python benchmarks/federated.py --models fedavg                  # one part
    .venv/bin/python benchmarks/federated.py --data /tmp/syn --epochs 2 --rounds 2 --heldout 3 --json /tmp/f.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
# federated rows: model -> (strategy, sites keep their optimizer state, differential privacy)
FEDERATED = {"fedavg": ("fedavg", False, False), "fedprox": ("fedprox", False, False),
             "fedavg_kept_state": ("fedavg", True, False), "fedavg_dp": ("fedavg", False, True)}
MODELS = ("centralized", "site_alone", *FEDERATED)


def measure(model_dir: Path, heldout: str, cache: Path) -> dict:
    from theraflow import imaging
    from theraflow.imaging.federated.local_training import evaluate

    net, cfg, _ = imaging.load_bundle(model_dir)
    return evaluate(net, cfg, heldout, cache)


def row_from(model: str, scores: dict, **extra) -> dict:
    dice = {k[5:]: v for k, v in scores.items() if k.startswith("dice_")}
    return {"model": model, "dice_mean": scores["dice"], "dice": dice, **extra}


def train_one(datalist: pd.DataFrame, out: Path, args, epochs: int) -> tuple[dict, float]:
    from theraflow import imaging

    t0 = time.perf_counter()
    record = imaging.train(datalist, out, model_config=args.model_config, cache_dir=args.cache,
                           overrides={"train.max_epochs": epochs, "train.max_minutes": None, "train.val_every": 0,
                                      "train.select": "last"},
                           split={"mode": "fixed", "val_count": 0}, progress_bar=False)
    return record, (time.perf_counter() - t0) / 60


def run_centralized(args, made, heldout) -> dict:
    pooled = pd.concat([pd.read_csv(s["datalist"], sep="\t") for s in made["sites"]], ignore_index=True)
    out = Path(args.workdir) / "centralized"
    record, minutes = train_one(pooled, out, args, args.epochs)
    scores = measure(out, heldout, Path(args.cache))
    return row_from("centralized", scores, epochs_of_data=args.epochs, cases=len(pooled), minutes=round(minutes, 2),
                    energy_wh=(record.get("train_energy") or {}).get("energy_wh"))


def run_sites_alone(args, made, heldout) -> dict:
    per_site, minutes, wh = [], 0.0, 0.0
    for s in made["sites"]:
        out = Path(args.workdir) / f"site_alone_{s['site']}"
        record, m = train_one(pd.read_csv(s["datalist"], sep="\t"), out, args, args.epochs)
        scores = measure(out, heldout, Path(args.cache))
        minutes += m
        wh += (record.get("train_energy") or {}).get("energy_wh") or 0.0
        per_site.append({"site": s["site"], "cases": s["cases"], "dice_mean": scores["dice"],
                         "dice": {k[5:]: v for k, v in scores.items() if k.startswith("dice_")}})
        print(f"  site {s['site']} alone ({s['cases']} cases): held-out Dice {scores['dice']:.4f}", flush=True)
    worst = min(per_site, key=lambda r: r["dice_mean"])
    best = max(per_site, key=lambda r: r["dice_mean"])
    mean = round(sum(r["dice_mean"] for r in per_site) / len(per_site), 4)
    return {"model": "site_alone", "dice_mean": mean, "worst_site": worst, "best_site": best, "per_site": per_site,
            "epochs_of_data": args.epochs, "minutes": round(minutes, 2), "energy_wh": round(wh, 4)}


def run_federated(args, made, heldout, model: str) -> dict:
    from theraflow.imaging.federated.local import Federation, plan
    from theraflow.imaging.modelconfig import load_model_config

    if args.epochs % args.rounds:
        raise SystemExit(f"--epochs {args.epochs} is not a whole number of --rounds {args.rounds}")
    local_epochs = args.epochs // args.rounds
    cfg = load_model_config(args.model_config)
    run = Path(args.workdir) / model
    strategy, kept, private = FEDERATED[model]
    params = {"proximal_mu": args.proximal_mu} if strategy == "fedprox" else {}
    dp = ({"noise_multiplier": args.dp_noise_multiplier, "clipping_norm": args.dp_clipping_norm,
           "delta": args.dp_delta} if private else None)
    path = plan(run, cfg, sites=len(made["sites"]), heldout=heldout, name=model, strategy=strategy,
                strategy_params=params, rounds=args.rounds, local_epochs=local_epochs,
                round_timeout=args.round_timeout, seed=0, dp=dp, cache=str(Path(args.cache).resolve()),
                keep_optimizer_state=kept)
    sites = [{"datalist": s["datalist"], "workdir": run / f"site_{s['site']}", "cache": args.cache, "threads": 1}
             for s in made["sites"]]
    t0 = time.perf_counter()
    with Federation(run, sites) as fed:
        summary = fed.run(path, timeout=args.timeout_hours * 3600)
    minutes = (time.perf_counter() - t0) / 60
    hist = pd.DataFrame(summary["history"])
    last = hist.iloc[-1].to_dict()
    scores = {k: last[k] for k in last if k == "dice" or k.startswith("dice_")}
    curve = [{"round": int(r["round"]), "dice": r.get("dice"), "seconds": r.get("seconds"),
              "sites_answered": int(r.get("sites_answered", 0))} for r in summary["history"]]
    privacy = ({"dp": dp, "epsilon": float(last["epsilon"]), "delta": float(last["delta"]),
                "unit_of_privacy": "a site"} if dp else {})
    return row_from(model, scores, epochs_of_data=args.epochs, rounds=args.rounds, local_epochs=local_epochs,
                    strategy_params=params, keep_optimizer_state=kept, minutes=round(minutes, 2), **privacy,
                    energy_wh=round(float(hist["energy_wh"].fillna(0).sum()), 4), curve=curve,
                    sites_answered_every_round=bool((hist["sites_answered"].iloc[1:] == len(made["sites"])).all()))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    p.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "hippocampus"))
    p.add_argument("--model-config", default=str(REPO / "models" / "seg_unet_hippocampus"))
    p.add_argument("--epochs", type=int, default=40, help="epochs of data every model trains (default 40)")
    p.add_argument("--rounds", type=int, default=20, help="federated rounds (local epochs = epochs / rounds)")
    p.add_argument("--proximal-mu", type=float, default=0.01)
    p.add_argument("--dp-noise-multiplier", type=float, default=1.0)
    p.add_argument("--dp-clipping-norm", type=float, default=1.0)
    p.add_argument("--dp-delta", type=float, default=1e-5)
    p.add_argument("--heldout", type=int, default=40, help="the last N cases by id, held by no site")
    p.add_argument("--round-timeout", type=float, default=3600)
    p.add_argument("--timeout-hours", type=float, default=6)
    p.add_argument("--workdir", default=str(REPO / "resources" / "bench" / "federated"))
    p.add_argument("--cache", default=str(REPO / "resources" / "imaging_cache"))
    p.add_argument("--json", default=str(REPO / "benchmarks" / "results" / "federated.json"))
    args = p.parse_args(argv)

    from _common import machine_info, merge_rows, provenance, write_json

    from theraflow import imaging
    from theraflow.imaging.federated.sites import DEFAULT_SITES, make_sites, read_sites

    data = Path(args.data)
    if not (data / "images").is_dir():
        print(f"no data at {data} (expected images/ and labels/)", file=sys.stderr)
        return 2
    work = Path(args.workdir)
    sites_dir = work / "sites"
    split = {"mode": "fixed", "order": "sorted", "val_count": args.heldout}
    made = read_sites(sites_dir) if (sites_dir / "sites.json").exists() else None
    if made is None or made["split"] != {**made["split"], **split}:
        datalist, _ = imaging.make_datalist(images=data / "images", labels=data / "labels", on_error="stop")
        made = make_sites(datalist, sites_dir, sites=DEFAULT_SITES, split=split, seed=0)
    heldout = made["heldout"]["datalist"]
    print("sites: " + ", ".join(f"{s['site']}: {s['cases']} cases (scale {s['scale']}, gamma {s['gamma']}, "
                                f"noise {s['noise']})" for s in made["sites"]) + f"; held out: {made['heldout']['cases']}",
          flush=True)
    rows = []
    for model in args.models:
        print(f"{model}: {args.epochs} epochs of data ...", flush=True)
        at_start = provenance()  # the code a run starts with (its site processes import it again each round)
        if model == "centralized":
            row = run_centralized(args, made, heldout)
        elif model == "site_alone":
            row = run_sites_alone(args, made, heldout)
        else:
            row = run_federated(args, made, heldout, model)
        rows.append({**row, **provenance(), "commit": at_start["commit"], "dirty": at_start["dirty"]})
        print(f"{model}: held-out Dice {row['dice_mean']:.4f} in {row['minutes']:.1f} min", flush=True)
        # each part is kept as soon as it is measured
        out = Path(args.json)
        old = json.loads(out.read_text()) if out.exists() else {}
        side = merge_rows(old.get("side_by_side", []), rows, ("model",))
        by = {r["model"]: r for r in side}
        comparison = None
        fed = [by[m] for m, (_, _, private) in FEDERATED.items() if m in by and not private]  # DP: its own cost
        if fed and "centralized" in by:
            best = max(fed, key=lambda r: r["dice_mean"])
            comparison = {"best_federated": best["model"], "best_federated_dice": best["dice_mean"],
                          "centralized_dice": by["centralized"]["dice_mean"],
                          "gap_to_centralized": round(by["centralized"]["dice_mean"] - best["dice_mean"], 4),
                          "within_0_02_of_centralized": bool(by["centralized"]["dice_mean"] - best["dice_mean"] <= 0.02)}
            if "site_alone" in by:
                alone = by["site_alone"]["best_site"]["dice_mean"]
                comparison.update({"best_site_alone_dice": alone, "above_every_site_alone": bool(best["dice_mean"] > alone)})
        report = {
            "benchmark": "federated",
            "command": "python benchmarks/federated.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "data": f"{args.data}: {sum(s['cases'] for s in made['sites'])} cases dealt to {len(made['sites'])} sites, "
                    f"{made['heldout']['cases']} held out (the last by id)",
            "sites": [{k: s[k] for k in ("site", "cases", "share", "scale", "gamma", "noise")} for s in made["sites"]],
            "computation": f"{args.epochs} epochs of the training cases for every model",
            "measured_by": "theraflow.imaging.federated.local_training.evaluate (Dice per structure, held-out cases)",
            "machine": machine_info(),
            "comparison": comparison,
            "side_by_side": side,
        }
        write_json(report, out)
    print(f"\n{'model':18s} {'dice':>7s} {'epochs':>7s} {'minutes':>8s} {'Wh':>7s}  commit")
    for r in report["side_by_side"]:
        extra = (f"  (worst site {r['worst_site']['site']}: {r['worst_site']['dice_mean']:.4f})"
                 if r["model"] == "site_alone" else f"  (epsilon {r['epsilon']:.2f} at delta {r['delta']:g})"
                 if r.get("epsilon") is not None else "")
        print(f"{r['model']:18s} {r['dice_mean']:7.4f} {r['epochs_of_data']:7d} {r['minutes']:8.1f} "
              f"{(r.get('energy_wh') or 0):7.2f}  {r['commit']}{extra}")
    if report["comparison"]:
        print(json.dumps(report["comparison"]))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
