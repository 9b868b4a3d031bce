"""How models/ddi_morgan was chosen: short probes on *validation* pairs of the DDI benchmark's splits (seed 0).

Each candidate (a variant of models/ddi_hybrid or, in the second round, of models/ddi_morgan; or the
fingerprint MLP reference) trains on ``train`` for
``--minutes`` and reports its best validation accuracy and macro-F1; ``test`` is never read. Needs the
benchmark's workflow outputs (pairs, splits, standardized molecules) in ``--workdir``, e.g. after
``benchmarks/ddi_drugbank.py --workdir /tmp/tf-ddi``. Appends one JSON line per candidate to ``--out``.

    .venv/bin/python benchmarks/ddi_select.py --split one_unseen --minutes 4 mlp m_bn m_bn_cw
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def candidates() -> dict[str, dict]:
    base = yaml.safe_load((REPO / "models" / "ddi_hybrid" / "config.yaml").read_text())
    out = {"base": copy.deepcopy(base)}

    def var(name, **kw):
        c = copy.deepcopy(base)
        c["name"] = name
        for k, v in kw.items():
            d = c
            *path, last = k.split("__")
            for p in path:
                d = d.setdefault(p, {})
            d[last] = v
        out[name] = c

    morgan = {"drug_encoder__type": "morgan", "drug_encoder__morgan__hidden": 1024, "drug_encoder__morgan__dropout": 0.3}
    bn = {"drug_encoder__morgan__batch_norm": True, "head__batch_norm": True, "training__batch_size": 512}
    var("morgan", **morgan)
    var("gm", drug_encoder__type="gin+morgan", drug_encoder__dropout=0.2, drug_encoder__morgan__dropout=0.3)
    var("gmi5", drug_encoder__id__dropout=0.5)
    var("m_b512", **morgan, training__batch_size=512)
    var("m_wide", **{**morgan, "drug_encoder__morgan__hidden": 2048}, head__proj=1024, head__hidden=[2048, 1024],
        head__dropout=0.3, training__batch_size=512)
    var("m_bn", **morgan, **bn)
    var("gmi_bn", **{k: v for k, v in morgan.items() if k != "drug_encoder__type"}, **bn, drug_encoder__id__dropout=0.5)
    var("mi_bn", **{**morgan, "drug_encoder__type": "morgan+id"}, **bn, drug_encoder__id__dropout=0.5)
    var("m_bn_cw", **morgan, **bn, training__class_weights="inverse_sqrt")
    # second round: variants of models/ddi_morgan (= m_bn_cw), against its plateau on one_unseen
    dm = yaml.safe_load((REPO / "models" / "ddi_morgan" / "config.yaml").read_text())
    base, out["ddi_morgan"] = dm, copy.deepcopy(dm)
    var("dm_ema", training__ema=0.999)
    var("dm_in2", drug_encoder__morgan__input_dropout=0.2)
    var("dm_in4", drug_encoder__morgan__input_dropout=0.4)
    var("dm_ls", training__label_smoothing=0.1)
    var("dm_wd", training__weight_decay=0.01)
    var("dm_d5", drug_encoder__morgan__dropout=0.5, head__dropout=0.4)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="+", help="candidates: mlp or " + ", ".join(candidates()))
    ap.add_argument("--split", default="one_unseen")
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--workdir", default="/tmp/tf-ddi")
    ap.add_argument("--dataset", default="drugbank")
    ap.add_argument("--store", default=str(REPO / "resources" / "feature_store"))
    ap.add_argument("--out", default="/tmp/ddi_select.jsonl")
    args = ap.parse_args(argv)
    import pandas as pd

    from theraflow.pairs.splits import pairs_with_parts
    from theraflow.pairs.stages import _data, spec_of
    from theraflow.pairs.train import train_model

    cands = candidates()
    bad = [n for n in args.names if n != "mlp" and n not in cands]
    if bad:
        ap.error(f"unknown candidates {bad}; choose from mlp, {', '.join(cands)}")
    res = Path(args.workdir) / "results" / "ddi" / args.dataset
    pairs = pairs_with_parts(res / "pairs.parquet", res / "splits" / f"{args.split}.parquet")
    molecules = Path(args.workdir) / "results" / "chem" / f"ddi_{args.dataset}" / "molecules.parquet"
    spec = spec_of(res / "pairs.parquet")
    sets: dict[str, tuple] = {}  # one PairData per featurizer (every candidate shares the default)
    for name in args.names:
        cfg = cands.get(name, cands["base"])
        featurizer = cfg.get("featurizer", {"name": "default"})
        key = json.dumps(featurizer, sort_keys=True)
        if key not in sets:
            sets[key] = _data(spec, pairs, molecules, args.store, featurizer)[:2]
        kept, ds = sets[key]
        t0 = time.time()
        if name == "mlp":
            from theraflow.pairs.baselines import FingerprintMLP

            train, valid = (kept[kept["part"] == p] for p in ("train", "valid"))
            m = FingerprintMLP(spec=spec).fit(train, valid, max_seconds=60 * args.minutes, threads=2)
            best = max(m.curve, key=lambda c: c["val_accuracy"])
            row = {"val_accuracy": best["val_accuracy"], "val_macro_f1": best["val_macro_f1"], "epochs": m.epochs}
        else:
            run = Path(args.workdir) / "select" / args.split / name
            t = {**cfg.get("training", {}), "max_minutes": args.minutes, "max_epochs": 200, "patience": 200}
            train_model(ds, kept["part"].to_numpy(), cfg, run, seed=0, training=t, resume=False, progress=False)
            h = pd.read_csv(run / "history.csv")
            i = h["val_accuracy"].idxmax()
            row = {"val_accuracy": float(h.val_accuracy[i]), "val_macro_f1": float(h.val_macro_f1[i]),
                   "epochs": int(len(h)), "best_epoch": int(i)}
        row = {"name": name, "split": args.split, "minutes": args.minutes, **row, "seconds": round(time.time() - t0)}
        print(json.dumps(row), flush=True)
        with open(args.out, "a") as f:
            f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
