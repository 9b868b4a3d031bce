"""theraflow pretrain: pretrain a molecule graph encoder on an unlabeled library (self-supervised).

The bundle it writes (model.safetensors, model.json, card.md, loss.png) starts a pair model's graph encoder:
``drug_encoder: {type: gin+..., pretrained: <outdir>}`` (fine-tuned) or ``pretrained: {bundle: <outdir>,
freeze: true}`` (frozen). Resumable: the same command continues an interrupted run.
"""

from __future__ import annotations

import argparse

from theraflow.cli.common import add_read_options, read_options


def register(sub) -> None:
    p = sub.add_parser("pretrain", help="pretrain a molecule encoder on unlabeled molecules",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("library", help="molecule file (.smi, .csv, .tsv, .parquet, .sdf, optionally .gz)")
    p.add_argument("-o", "--outdir", required=True, help="the bundle's folder")
    from theraflow.pretrain import OBJECTIVES

    p.add_argument("--objective", choices=OBJECTIVES, default=OBJECTIVES[0])
    p.add_argument("--encoder", default="gin", help="a graph encoder of the molecule registry (default gin)")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--pool", default="add+max")
    p.add_argument("--store", help="feature store directory")
    p.add_argument("--max-molecules", type=int, help="the first N molecules of the library only")
    p.add_argument("--max-minutes", type=float, default=60.0, help="training budget (default 60)")
    p.add_argument("--max-epochs", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-resume", action="store_true", help="start over even where a checkpoint fits")
    add_read_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    import torch

    from theraflow.pretrain import pretrain

    torch.set_num_threads(max(1, args.threads))
    meta = pretrain(args.library, args.outdir, objective=args.objective, store=args.store,
                    encoder={"type": args.encoder, "hidden": args.hidden, "layers": args.layers, "pool": args.pool},
                    max_molecules=args.max_molecules, max_minutes=args.max_minutes, max_epochs=args.max_epochs,
                    batch_size=args.batch_size, seed=args.seed, resume=not args.no_resume,
                    read_options={k: v for k, v in read_options(args).items() if v is not None})
    last = (meta["history"] or [{}])[-1]
    print(f"pretrained {meta['encoder']['type']} on {meta['corpus']['molecules']} molecules "
          f"({meta['corpus']['rejected']} rejected): {meta['training']['epochs']} epochs in "
          f"{meta['training']['seconds']} s; held-out loss {last.get('val_loss', float('nan')):.4f}, masked-atom "
          f"accuracy {last.get('val_accuracy', float('nan')):.3f}; bundle in {args.outdir}")
    return 0
