"""Self-supervised pretraining of a molecule graph encoder on unlabeled molecules (issue 24).

Objective ``attribute_masking`` (Hu et al., "Strategies for pre-training graph neural networks", 2020): in each
molecule 15 % of the atoms (at least one) lose their features — their embedding is replaced by a learned mask
vector — and the encoder's message passing must tell each masked atom's element from its neighbourhood (the
bonds keep their features). The loss is the cross-entropy over element classes (C, N, O, F, P, S, Cl, Br, I,
other); 5 % of the molecules (at most 20,000) are held out and their loss and accuracy, with a fixed mask, pick the epoch.

:func:`pretrain` reads a library in any format (standardized as every stage does, rejects counted), takes its
graphs from the feature store, trains through the one training runtime (checkpoints, resume, SIGTERM save, a
wall-time budget) and writes a bundle: ``model.safetensors`` (the graph encoder's weights, no pickle),
``model.json`` (encoder config, featurizer, dimensions, corpus, objective, budget, history), ``card.md`` and
``loss.png``. A pair model starts its molecule encoder's graph branch from it with
``drug_encoder: {pretrained: <bundle>}`` (fine-tuned) or ``{pretrained: {bundle: <bundle>, freeze: true}}``
(frozen): :func:`apply_pretrained`, called when training starts; the encoder type, width, depth, readout and
featurizer must match the bundle's (an error names what differs).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np

from theraflow.errors import InputError

log = logging.getLogger(__name__)

FORMAT = "theraflow-pretrained-encoder"
ELEMENTS = (6, 7, 8, 9, 15, 16, 17, 35, 53)  # the classes, then "other"
OBJECTIVES = ("attribute_masking",)
MAX_VALID = 20_000  # held-out molecules at most (5 % of a corpus of millions would slow every epoch's check)
MATCH = ("hidden", "layers", "pool")  # what a pair model's graph encoder must share with the bundle


def _corpus(library, outdir: Path, max_molecules: int | None, read_options: dict | None):
    """The library read and standardized: (kept records, rejects with their reasons, records given, the file's
    sha256). Cached in
    ``outdir/corpus.parquet`` (+ ``corpus_rejects.parquet``) under a key of the file's content (sha256; not its
    path or mtime: a shared copy laid out again keeps its cache) and the options, so a resumed run skips what took most of the preparation (MOSES standardizes at about 1,500
    molecules a second on one core: 1.58 M in about 18 minutes); the graphs come from the feature store."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from theraflow.chem import read_molecules, standardize
    from theraflow.io import atomic_write, sha256_file, write_table

    sha = sha256_file(library)
    key = json.dumps({"sha256": sha, "max_molecules": max_molecules, "read_options": read_options or {}, "standardize": "default"},
                     sort_keys=True)
    cache, cache_rejects = outdir / "corpus.parquet", outdir / "corpus_rejects.parquet"
    if cache.exists() and cache_rejects.exists():
        meta = pq.read_schema(cache).metadata or {}
        if meta.get(b"theraflow.corpus") == key.encode():
            kept, rejects = pd.read_parquet(cache), pd.read_parquet(cache_rejects)
            n_records = int(meta[b"theraflow.records"])
            log.info("corpus: %d records, %d standardized molecules, from %s (standardized before)", n_records,
                     len(kept), cache)
            return kept, rejects, n_records, sha
    started = time.monotonic()
    records, read_rejects = read_molecules(library, **(read_options or {}))
    if max_molecules is not None and len(records) > max_molecules:  # the first records, and their rejects only
        records = records.head(max_molecules)
        read_rejects = read_rejects[read_rejects["record"] <= records["record"].iat[-1]]
    n_records = int(len(records) + len(read_rejects))
    log.info("read %d records of %s in %.0f s; standardizing (one core; about 1,500 drug-like molecules a second)", n_records,
             library, time.monotonic() - started)
    started = time.monotonic()
    kept, std_rejects = standardize(records)
    log.info("standardized: %d kept, %d rejected, in %.0f s", len(kept), len(std_rejects), time.monotonic() - started)
    kept = kept[["id", "record", "smiles"]].reset_index(drop=True)
    rejects = pd.concat([read_rejects, std_rejects], ignore_index=True)
    table = pa.Table.from_pandas(kept, preserve_index=False)
    table = table.replace_schema_metadata({"theraflow.corpus": key, "theraflow.records": str(n_records)})
    write_table(rejects, cache_rejects)
    with atomic_write(cache, "wb") as fh:  # last: its key says both files are complete
        pq.write_table(table, fh)
    return kept, rejects, n_records, sha


_CLASS_OF = np.full(256, len(ELEMENTS), np.int64)  # atomic number -> element class ("other" unless listed)
_CLASS_OF[list(ELEMENTS)] = np.arange(len(ELEMENTS))


def element_classes(smiles: list[str]) -> list[np.ndarray]:
    """Per molecule, each atom's element class in RDKit's atom order (the featurizer's), by parsing the SMILES:
    for featurizers whose node features do not say the element (``atomic_numbers`` is None)."""
    from rdkit import Chem, rdBase

    lookup = _CLASS_OF
    out = []
    with rdBase.BlockLogs():
        for s in smiles:
            mol = Chem.MolFromSmiles(s)
            out.append(lookup[[a.GetAtomicNum() for a in mol.GetAtoms()]] if mol is not None else None)
    return out


def _masked_model(encoder, n_classes: int):
    import torch
    from torch import nn

    class MaskedAtoms(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder
            hidden = encoder.embed.out_features
            self.mask_token = nn.Parameter(torch.zeros(hidden))
            self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))

        def forward(self, data, mask):
            enc = self.encoder
            h = enc.embed(data.x)
            h = torch.where(mask[:, None], self.mask_token.expand_as(h), h)
            for conv, norm in zip(enc.convs, enc.norms):
                h = h + torch.relu(norm(conv(h, data.edge_index, data.edge_attr)))
            return self.head(h[mask])

    return MaskedAtoms()


def _mask(n_nodes: np.ndarray, rate: float, rng) -> np.ndarray:
    """A boolean mask over the atoms of a batch: ``rate`` of each molecule's atoms, at least one."""
    mask = np.zeros(int(n_nodes.sum()), bool)
    start = 0
    for n in n_nodes:
        k = max(1, int(round(rate * n)))
        mask[start + rng.choice(n, size=min(k, n), replace=False)] = True
        start += n
    return mask


def _module(model, lr: float, weight_decay: float):
    import torch

    from theraflow.training.sums_module import SumsModule

    class PretrainModule(SumsModule):
        @staticmethod
        def batch_size(batch) -> int:
            return int(batch[1].sum())

        def training_step(self, batch, _):
            data, mask, y = batch
            return torch.nn.functional.cross_entropy(self.model(data, mask), y)

        def validation_sums(self, batch):
            data, mask, y = batch
            logits = self.model(data, mask)
            return {"val_loss": (torch.nn.functional.cross_entropy(logits, y, reduction="sum").item(), len(y)),
                    "val_accuracy": (int((logits.argmax(1) == y).sum()), len(y))}

    return PretrainModule(model, lr, weight_decay)


def _batches(graphs, labels, rows, batch_size: int, rate: float, *, shuffle: bool, seed: int):
    """(graphs, mask, masked elements) batches of ``rows``, collated as they are asked for (a corpus of millions
    is never collated whole); ``labels`` is per molecule element classes or the featurizer's ``atomic_numbers``
    (read from each batch's node features): a new order each epoch, and masks drawn from (seed, epoch, the batch's first
    molecule), so a resumed run sees the same ones."""
    import torch

    from theraflow.pairs.batches import EpochBatches

    class MaskedBatches(EpochBatches):
        def make_batch(self, idx):
            mask = _mask(graphs.num_nodes[idx], rate, np.random.default_rng((self.seed, self.epoch, int(idx[0]))))
            batch = graphs.collate(idx)
            if callable(labels):  # the featurizer reads the elements back from the node features
                y = _CLASS_OF[np.clip(labels(batch.x.numpy()), 0, 255)][mask]
            else:
                y = np.concatenate([labels[i] for i in idx])[mask]
            return batch, torch.from_numpy(mask), torch.from_numpy(y)

    return MaskedBatches(rows, batch_size=batch_size, shuffle=shuffle, seed=seed)


def pretrain(library: str | Path, outdir: str | Path, *, encoder: dict | None = None,
             featurizer: dict | None = None, store: str | Path | None = None, objective: str = "attribute_masking",
             max_molecules: int | None = None, max_minutes: float = 60.0, max_epochs: int = 100,
             batch_size: int = 256, lr: float = 1e-3, weight_decay: float = 0.0, mask_rate: float = 0.15,
             valid_fraction: float = 0.05, patience: int = 5, seed: int = 0, resume: bool = True,
             read_options: dict | None = None, progress: bool | None = None) -> dict:
    """Stage: an unlabeled library → a pretrained graph encoder bundle in ``outdir``; returns its model.json."""
    import pandas as pd

    from theraflow.chem import featurize
    from theraflow.chem.featurize import get_featurizer
    from theraflow.io import write_table, write_text
    from theraflow.registry import encoders
    from theraflow.training.bundle import save_bundle
    from theraflow.training.runtime import Recipe, fit, seed_everything

    if objective not in OBJECTIVES:
        raise InputError(f"pretraining objective {objective!r}: choose one of {', '.join(OBJECTIVES)}")
    encoder = dict(encoder or {"type": "gin", "hidden": 128, "layers": 4, "dropout": 0.1, "pool": "add+max"})
    featurizer = dict(featurizer or {"name": "default", "params": {}})
    spec = encoders("molecule").get(encoder["type"])
    if spec.slot != "graph":
        raise InputError(f"pretraining needs a graph encoder; {encoder['type']!r} is a {spec.slot} encoder")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)

    kept, rejects, n_records, sha = _corpus(library, outdir, max_molecules, read_options)
    started = time.monotonic()
    res = featurize(kept["smiles"].tolist(), featurizer.get("name", "default"), store=store,
                    params=featurizer.get("params") or {})
    labels = get_featurizer(featurizer.get("name", "default"), **(featurizer.get("params") or {})).atomic_numbers
    if labels is None:  # a featurizer that does not encode the element: parse the molecules once more
        labels = element_classes([kept["smiles"].iat[i] for i in res.index])
        usable = np.array([lab is not None and len(lab) == n for lab, n in zip(labels, res.graphs.num_nodes)])
    else:
        usable = np.ones(len(res.index), dtype=bool)
    rows = np.flatnonzero(usable)
    log.info("featurized %d molecules in %.0f s (feature store %s)", len(res.index), time.monotonic() - started,
             store or "off")
    lost = [(int(i), reason) for i, reason in res.errors.items()]
    lost += [(int(res.index[j]), "element classes do not match the graph's atoms") for j in np.flatnonzero(~usable)]
    if lost:
        at = [i for i, _ in lost]
        rejects = pd.concat([rejects, kept.iloc[at][["id", "record"]].assign(
            input=kept["smiles"].iloc[at].to_numpy(), stage="featurize", reason=[r for _, r in lost])],
            ignore_index=True)
    write_table(rejects.sort_values("record", kind="stable"), outdir / "rejects.tsv")
    corpus = {"library": str(library), "sha256": sha, "records": n_records, "rejected": int(len(rejects)),
              "molecules": int(len(rows))}
    if len(rows) < 20:
        raise InputError(f"{library}: {len(rows)} usable molecule(s); pretraining needs a corpus of many")
    rng = np.random.default_rng(seed)
    rows = rng.permutation(rows)
    n_valid = min(MAX_VALID, max(1, int(round(valid_fraction * len(rows)))))
    valid, train = np.sort(rows[:n_valid]), rows[n_valid:]

    seed_everything(seed)
    dims = {"node_dim": res.graphs.num_node_features, "edge_dim": res.graphs.num_edge_features}
    params = {k: v for k, v in encoder.items() if k != "type"}
    graph_encoder = spec.build(params, dims)
    if not hasattr(graph_encoder, "convs") or not hasattr(graph_encoder, "embed"):
        raise InputError(f"encoder {encoder['type']!r} has no residual message-passing stack to pretrain")
    model = _masked_model(graph_encoder, len(ELEMENTS) + 1)
    module = _module(model, lr, weight_decay)
    graphs = res.graphs

    # the held-out batches, masks and all, made once: every epoch is measured on the same ones
    valid_batches = list(_batches(graphs, labels, valid, 1024, mask_rate, shuffle=False, seed=seed))
    recipe = Recipe(max_epochs=max_epochs, monitor="val_loss", mode="min", max_minutes=max_minutes,
                    patience=patience, seed=seed)
    fingerprint = {"format": FORMAT, "library": str(Path(library).resolve()), "molecules": corpus["molecules"],
                   "encoder": encoder, "featurizer": featurizer, "objective": objective, "mask_rate": mask_rate,
                   "lr": lr, "batch_size": batch_size, "seed": seed}
    result = fit(module, _batches(graphs, labels, train, batch_size, mask_rate, shuffle=True, seed=seed),
                 valid_batches, outdir, recipe=recipe, fingerprint=fingerprint, resume=resume,
                 progress=progress)
    module.load_state_dict(result.state_dict)
    meta = {"format": FORMAT, "encoder": encoder, "featurizer": featurizer, "dims": dims, "objective": objective,
            "mask_rate": mask_rate, "element_classes": [*ELEMENTS, "other"], "corpus": corpus,
            "training": {"molecules": int(len(train)), "validation": int(len(valid)), "epochs": result.epochs,
                         "seconds": result.seconds, "minutes_budget": max_minutes, "selected": result.selected,
                         "device": result.device, "energy": result.energy, "seed": seed, "lr": lr,
                         "batch_size": batch_size},
            "history": result.history}
    save_bundle(graph_encoder, meta, outdir, FORMAT)  # writes model.json too
    _loss_plot(pd.DataFrame(result.history), outdir / "loss.png")
    write_text(outdir / "card.md", card(meta))
    return meta


def _loss_plot(history, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    if len(history):
        if "train_loss" in history:
            ax.plot(history["epoch"], history["train_loss"], label="training")
        if "val_loss" in history:
            ax.plot(history["epoch"], history["val_loss"], label="held out")
    ax.set_xlabel("epoch")
    ax.set_ylabel("masked-atom cross-entropy")
    ax.legend()
    fig.tight_layout()
    from theraflow.io import atomic_write

    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=110)
    plt.close(fig)


def card(meta: dict) -> str:
    t, c = meta["training"], meta["corpus"]
    last = (meta.get("history") or [{}])[-1]
    wh = (t.get("energy") or {}).get("energy_wh")
    return "\n".join([
        "# Pretrained molecule encoder", "",
        f"- Encoder: {meta['encoder']}; featurizer {meta['featurizer']['name']}.",
        f"- Objective: {meta['objective']} ({meta['mask_rate']:.0%} of each molecule's atoms masked; the element "
        "of each masked atom predicted from its neighbourhood).",
        f"- Corpus: `{c['library']}`: {c['molecules']:,} molecules ({c['rejected']:,} of {c['records']:,} records "
        "rejected).",
        f"- Budget: {t['minutes_budget']} minutes; ran {t['epochs']} epochs in {t['seconds']} s on {t['device']}"
        + (f", estimated {wh:.2f} Wh ({t['energy'].get('method')})" if wh is not None else "") + ".",
        f"- Held out ({t['validation']:,} molecules): loss {last.get('val_loss', float('nan')):.4f}, masked-atom "
        f"accuracy {last.get('val_accuracy', float('nan')):.3f} at the last epoch; the curve is loss.png.",
        "- Use: `drug_encoder: {type: <same>+..., pretrained: <this folder>}` (fine-tuned) or "
        "`pretrained: {bundle: <this folder>, freeze: true}` (frozen).", ""])


def load_pretrained(bundle: str | Path) -> tuple[dict, dict]:
    """(the encoder's weights, the bundle's model.json)."""
    import json

    from safetensors.torch import load_file

    bundle = Path(bundle)
    for name in ("model.json", "model.safetensors"):
        if not (bundle / name).exists():
            raise InputError(f"{bundle}: no {name}; give a folder written by `theraflow pretrain`")
    meta = json.loads((bundle / "model.json").read_text())
    if meta.get("format") != FORMAT:
        raise InputError(f"{bundle}: not a pretrained encoder (format {meta.get('format')!r}, expected {FORMAT!r})")
    try:
        state = load_file(str(bundle / "model.safetensors"))
    except Exception as exc:  # SafetensorError, OSError
        raise InputError(f"{bundle / 'model.safetensors'}: not safetensors weights ({exc})") from None
    return state, meta


def pretrained_option(cfg: dict) -> tuple[str, bool] | None:
    """(bundle, freeze) of an encoder config's ``pretrained``, or None."""
    p = cfg.get("pretrained")
    if p is None:
        return None
    if isinstance(p, str):
        return p, False
    return str(p["bundle"]), bool(p.get("freeze", False))


def _freeze(module) -> None:
    """No gradients, and evaluation mode whatever its parent's (batch norm keeps its pretrained statistics)."""
    import types

    from torch import nn

    for p in module.parameters():
        p.requires_grad_(False)
    module.train = types.MethodType(lambda self, mode=True: nn.Module.train(self, False), module)
    module.train()


def apply_pretrained(model, model_cfg: dict, featurizer: dict | None = None) -> list[dict]:
    """Load the pretrained graph encoders a pair model's config names into it (frozen where asked); → what was
    loaded, for the model's record."""
    done = []
    for kind in getattr(model, "kinds", ()):
        cfg = model_cfg.get(kind.config_key) or {}
        option = pretrained_option(cfg)
        if option is None:
            continue
        bundle, freeze = option
        state, meta = load_pretrained(bundle)
        graph = getattr(getattr(model, kind.module), "graph", None)
        types = cfg["type"].split("+")
        if graph is None or meta["encoder"]["type"] not in types:
            raise InputError(f"{bundle}: pretrained a {meta['encoder']['type']!r} encoder; the model's "
                             f"{kind.config_key} is {cfg['type']!r}")
        differ = [k for k in MATCH if k in meta["encoder"] and cfg.get(k, meta["encoder"][k]) != meta["encoder"][k]]
        feat = (featurizer or {}).get("name", "default")
        if feat != meta["featurizer"].get("name", "default"):
            differ.append(f"featurizer ({feat} against {meta['featurizer'].get('name')})")
        if differ:
            raise InputError(f"{bundle}: the model's {kind.config_key} differs from the pretrained encoder in "
                             f"{', '.join(differ)}; use the bundle's settings ({meta['encoder']})")
        missing, unexpected = graph.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise InputError(f"{bundle}: weights do not fit the model's graph encoder (missing {missing[:3]}, "
                             f"unexpected {unexpected[:3]})")
        if freeze:
            _freeze(graph)
        done.append({"kind": kind.name, "bundle": str(bundle), "freeze": freeze,
                     "objective": meta["objective"], "corpus": meta["corpus"]})
        log.info("%s encoder: graph branch from %s (%s)", kind.name, bundle, "frozen" if freeze else "fine-tuned")
    return done
