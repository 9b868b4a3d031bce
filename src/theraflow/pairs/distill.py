"""A distilled first pass for large screens: a small model that reproduces an ensemble's scores.

A screen of millions with the full ensemble spends most of its time in the models (three graph networks per
molecule). :func:`distill` trains a student on a finished screen's ranked tables (the teacher's scores of every
molecule against every partner): a multilayer perceptron over the molecule's Morgan bits (radius 2, 2,048 bits:
the fingerprint the screen already computes for the applicability domain, so the first pass parses nothing
again) with one output per partner (:class:`~theraflow.nn.first_pass.FirstPassNet`). It trains through
the one training runtime (checkpoints, resume, budget) on the teacher's scores standardized per partner, on
90 % of the molecules; the other 10 % select the epoch and give the card's figures (Spearman per partner, and
the share of the teacher's top 1 % that a first-pass cut of ``keep`` passes on).

A screen given a first pass (``score_library(first_pass=...)``, ``theraflow score run --first-pass DIR``, the
workflow's ``score.first_pass``) scores every molecule of a shard with the student and passes on the fraction
``keep`` whose best rank for any partner is highest (:func:`keep_mask`) to the ensemble: the ranked tables hold
the ensemble's scores of those, ``first_pass.parquet`` every molecule's first-pass score and whether it was
passed on, and the summary and report say how many each model scored.

The bundle is ``model.safetensors`` + ``model.json`` (no pickle) + ``card.md``.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from theraflow.errors import InputError

log = logging.getLogger(__name__)

FORMAT = "theraflow-first-pass"
N_BITS = 2048  # theraflow.pairs.scoring.fingerprint: Morgan radius 2, 2,048 bits
DEFAULT_KEEP = 0.10
FIRST_PASS_COLUMNS = ["id", "record", "smiles", "first_pass_score", "first_pass_target", "passed"]


# ---------------------------------------------------------------- using a first pass
@dataclass
class FirstPass:
    """A loaded first-pass model: ``predict`` gives its scores of molecules (by fingerprint) for its partners."""

    model: object  # FirstPassNet in eval mode
    meta: dict
    dir: Path

    @property
    def partners(self) -> list[str]:
        return list(self.meta["partners"])

    @property
    def name(self) -> str:
        return self.dir.name

    def predict(self, fps: Sequence, chunk: int = 4096) -> np.ndarray:
        """[molecules, partners] scores in the teacher's units; a molecule without a fingerprint (None) gets NaN."""
        import torch

        mean = np.asarray(self.meta["scale"]["mean"], np.float32)
        sd = np.asarray(self.meta["scale"]["sd"], np.float32)
        out = np.full((len(fps), len(mean)), np.nan, np.float32)
        have = [i for i, fp in enumerate(fps) if fp is not None]
        with torch.inference_mode():
            for s in range(0, len(have), chunk):
                rows = have[s:s + chunk]
                bits, offsets = on_bits([fps[i] for i in rows])
                pred = self.model(torch.from_numpy(bits), torch.from_numpy(offsets)).numpy()
                out[rows] = pred * sd + mean
        return out

    def columns_for(self, partner_ids: Sequence[str]) -> list[int]:
        """The student's output of each of ``partner_ids`` (a screen's partners), or an error naming those it
        was not distilled on."""
        where = {p: i for i, p in enumerate(self.partners)}
        missing = [p for p in partner_ids if p not in where]
        if missing:
            raise InputError(f"{self.dir}: this first-pass model was distilled on {len(where)} partner(s); the screen "
                             f"asks for {len(missing)} it does not know ({', '.join(map(str, missing[:5]))}); "
                             "distill it again from a screen of these partners, or screen without a first pass")
        return [where[p] for p in partner_ids]


def load_first_pass(model_dir: str | Path) -> FirstPass:
    from theraflow.nn.first_pass import FirstPassNet
    from theraflow.training.bundle import load_bundle

    def build(meta: dict):
        if meta.get("format") != FORMAT:
            raise InputError(f"{model_dir}: not a first-pass model (model.json format {meta.get('format')!r}, "
                             f"expected {FORMAT!r}; `theraflow score distill` makes one)")
        return FirstPassNet(int(meta["bits"]), len(meta["partners"]), tuple(meta["hidden"]), 0.0)

    model, meta = load_bundle(model_dir, build, what="first-pass", task=None)
    return FirstPass(model, meta, Path(model_dir))


def on_bits(fps: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """(on-bit indices of the molecules one after another, each molecule's offset): an EmbeddingBag's input."""
    lists = [np.fromiter(fp.GetOnBits(), np.int64) if not isinstance(fp, np.ndarray) else fp.astype(np.int64)
             for fp in fps]
    offsets = np.zeros(len(lists), np.int64)
    if lists:
        offsets[1:] = np.cumsum([len(x) for x in lists])[:-1]
    return (np.concatenate(lists) if lists else np.zeros(0, np.int64)), offsets


def keep_mask(scores: np.ndarray, keep: float) -> np.ndarray:
    """The molecules a first pass passes on: the ``ceil(keep * n)`` whose best rank for any partner (column) is
    highest (ties: the earlier molecule), and every molecule the student could not score (a NaN row)."""
    if not 0 < keep <= 1:
        raise ValueError(f"first-pass keep must be a fraction in (0, 1], not {keep}")
    n = len(scores)
    mask = np.zeros(n, bool)
    if n == 0:
        return mask
    unscored = np.isnan(scores).any(axis=1)
    s = np.where(np.isnan(scores), -np.inf, scores)
    order = np.argsort(-s, axis=0, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(n)[:, None].repeat(s.shape[1], axis=1), axis=0)
    best = ranks.min(axis=1)
    mask[np.argsort(best, kind="stable")[:math.ceil(keep * n)]] = True
    return mask | unscored


def first_pass_rows(ids, records, smiles, scores: np.ndarray, partner_ids: Sequence[str],
                    passed: np.ndarray) -> pd.DataFrame:
    """A shard's first-pass table: each molecule's best first-pass score, for which partner, and whether it was
    passed on to the ensemble."""
    filled = np.where(np.isnan(scores), -np.inf, scores)
    best = filled.argmax(axis=1) if scores.shape[1] else np.zeros(len(scores), int)
    score = filled[np.arange(len(scores)), best] if scores.shape[1] else np.full(len(scores), np.nan)
    return pd.DataFrame({"id": list(map(str, ids)), "record": np.asarray(records, np.int64),
                         "smiles": list(smiles), "first_pass_score": np.where(np.isinf(score), np.nan, score)
                         .astype(np.float32),
                         "first_pass_target": [str(partner_ids[b]) for b in best] if len(partner_ids) else None,
                         "passed": np.asarray(passed, bool)}, columns=FIRST_PASS_COLUMNS)


# ---------------------------------------------------------------- distilling one
def teacher_scores(screen_dir: str | Path) -> tuple[pd.DataFrame, list[str], np.ndarray, dict]:
    """(molecules: id, smiles; partner ids; their scores [molecules, partners]; the screen's summary) from a
    finished screen's ranked tables. Molecules missing for some partner are left out (with a count)."""
    screen_dir = Path(screen_dir)
    path = screen_dir / "summary.json"
    if not path.exists():
        raise InputError(f"{screen_dir}: no summary.json; give the folder of a finished screen "
                         "(`theraflow score run` or the workflow's results/score/<library>)")
    summary = json.loads(path.read_text())
    task = summary.get("task") or {}
    label = task.get("label")
    if (label.get("name") if isinstance(label, dict) else label) == "multiclass":
        raise InputError(f"{screen_dir}: a multiclass screen (one score per class); a first pass is distilled "
                         "from regression or binary screens")
    frames, partners = [], []
    for t in summary["targets"]:
        tab = pd.read_parquet(screen_dir / t["file"], columns=["id", "smiles", "score_mean"])
        frames.append(tab.set_index("id")["score_mean"].rename(t["id"]))
        partners.append(t["id"])
        if len(frames) == 1:
            smiles = tab.set_index("id")["smiles"]
    if not frames:
        raise InputError(f"{screen_dir}: the screen has no partners")
    wide = pd.concat(frames, axis=1, join="inner").sort_index()
    dropped = len(smiles) - len(wide)
    if dropped:
        log.warning("%s: %d molecule(s) lack a score for some partner and are left out", screen_dir, dropped)
    mols = pd.DataFrame({"id": wide.index.astype(str), "smiles": smiles.reindex(wide.index).to_numpy()})
    return mols, partners, wide.to_numpy(np.float32), summary


def fingerprints(smiles: Sequence[str], progress: bool | None = None) -> list:
    """The applicability-domain fingerprint of each (standardized) SMILES; None where RDKit cannot parse it."""
    from tqdm.auto import tqdm

    from theraflow.pairs.scoring import fingerprints as ad_fingerprints

    out = []
    with tqdm(total=len(smiles), desc="fingerprints", unit="mol", disable=progress is False or None,
              leave=False) as bar:
        for s in range(0, len(smiles), 10_000):  # on-bit lists kept, not the bit vectors
            fps = ad_fingerprints(smiles[s:s + 10_000])
            out += [None if fp is None else np.fromiter(fp.GetOnBits(), np.int16) for fp in fps]
            bar.update(len(fps))
    return out


def _batches(bits: list, y: np.ndarray, rows: np.ndarray, batch_size: int, *, shuffle: bool, seed: int):
    """(on-bits, offsets, standardized teacher scores) batches of ``rows``, a new order each epoch."""
    import torch

    from theraflow.pairs.batches import EpochBatches

    class FirstPassBatches(EpochBatches):
        def make_batch(self, idx):
            b, off = on_bits([bits[i] for i in idx])
            return torch.from_numpy(b), torch.from_numpy(off), torch.from_numpy(y[idx])

    return FirstPassBatches(rows, batch_size=batch_size, shuffle=shuffle, seed=seed)


def _module(net, lr: float, weight_decay: float):
    import torch

    from theraflow.training.sums_module import SumsModule

    class FirstPassModule(SumsModule):
        monitor, loss_name = "val_mse", "train_mse"

        @staticmethod
        def batch_size(batch) -> int:
            return len(batch[2])

        def training_step(self, batch, _):
            bits, offsets, y = batch
            return torch.nn.functional.mse_loss(self.model(bits, offsets), y)

        def validation_sums(self, batch):
            bits, offsets, y = batch
            return {"val_mse": ((self.model(bits, offsets) - y).pow(2).sum().item(), y.numel())}

    return FirstPassModule(net, lr, weight_decay)


def per_partner(teacher: np.ndarray, student: np.ndarray, passed: np.ndarray,
                top: float = 0.01) -> tuple[list[float], list[float]]:
    """Per partner (column): Spearman between ``teacher`` and ``student``, and the share of the teacher's top
    ``top`` of the molecules that ``passed`` (a first pass's choice) holds."""
    from scipy.stats import spearmanr

    n_top = max(1, math.ceil(top * len(teacher)))
    rho = [float(spearmanr(teacher[:, j], student[:, j]).statistic) for j in range(teacher.shape[1])]
    recall = [float(passed[np.argsort(-teacher[:, j], kind="stable")[:n_top]].mean()) for j in range(teacher.shape[1])]
    return rho, recall


def agreement(teacher: np.ndarray, student: np.ndarray, keep: float = DEFAULT_KEEP, top: float = 0.01) -> dict:
    """How well ``student`` stands in for ``teacher`` ([molecules, partners] each): Spearman per partner (min and
    mean), and per partner the share of the teacher's top ``top`` that a first-pass cut of ``keep`` (of the
    molecules, :func:`keep_mask`) passes on (min and mean)."""
    passed = keep_mask(student, keep)
    rho, recall = per_partner(teacher, student, passed, top)
    return {"spearman_min": round(min(rho), 4), "spearman_mean": round(float(np.mean(rho)), 4),
            f"top{top * 100:g}pct_recall_min": round(min(recall), 4),
            f"top{top * 100:g}pct_recall_mean": round(float(np.mean(recall)), 4),
            "keep": keep, "passed": int(passed.sum()), "molecules": int(len(teacher))}


def distill(screen_dir: str | Path, outdir: str | Path, *, hidden: Sequence[int] = (512, 256),
            max_epochs: int = 40, max_minutes: float = 15.0, batch_size: int = 256, lr: float = 1e-3,
            weight_decay: float = 1e-5, dropout: float = 0.1, valid_fraction: float = 0.1, patience: int = 5,
            keep: float = DEFAULT_KEEP, seed: int = 0, resume: bool = True, progress: bool | None = None) -> dict:
    """Stage: a finished screen → a first-pass model in ``outdir`` (model.safetensors, model.json, card.md,
    history.csv). Returns the model's record (model.json)."""
    from theraflow.io import write_text
    from theraflow.nn.first_pass import FirstPassNet
    from theraflow.training.bundle import save_bundle
    from theraflow.training.runtime import Recipe, fit, seed_everything

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    mols, partners, y, summary = teacher_scores(screen_dir)
    bits = fingerprints(mols["smiles"].tolist(), progress)
    usable = np.array([b is not None for b in bits])
    if usable.sum() < 20:
        raise InputError(f"{screen_dir}: {int(usable.sum())} molecule(s) to distill from; a first pass needs a "
                         "screen of many (thousands)")
    rows = np.flatnonzero(usable)
    rng = np.random.default_rng(seed)
    rows = rng.permutation(rows)
    n_valid = max(1, int(round(valid_fraction * len(rows))))
    valid, train = np.sort(rows[:n_valid]), rows[n_valid:]
    mean, sd = y[train].mean(axis=0), y[train].std(axis=0) + 1e-6
    yz = ((y - mean) / sd).astype(np.float32)

    seed_everything(seed)
    net = FirstPassNet(N_BITS, len(partners), tuple(hidden), dropout)
    module = _module(net, lr, weight_decay)

    recipe = Recipe(max_epochs=max_epochs, monitor="val_mse", mode="min", max_minutes=max_minutes,
                    patience=patience, seed=seed)
    fingerprint = {"format": FORMAT, "screen": str(Path(screen_dir).resolve()), "molecules": int(len(mols)),
                   "hidden": list(hidden), "lr": lr, "batch_size": batch_size, "seed": seed, "dropout": dropout}
    res = fit(module, _batches(bits, yz, train, batch_size, shuffle=True, seed=seed),
              _batches(bits, yz, valid, 4096, shuffle=False, seed=seed), outdir, recipe=recipe,
              fingerprint=fingerprint, resume=resume, progress=progress)
    module.load_state_dict(res.state_dict)
    net.eval()
    meta = {"format": FORMAT, "bits": N_BITS, "fingerprint": "Morgan radius 2, 2,048 bits (the applicability-"
            "domain fingerprint)", "hidden": list(hidden), "partners": partners,
            "scale": {"mean": mean.tolist(), "sd": sd.tolist()},
            "teacher": {"screen": str(screen_dir), "task": summary.get("task"),
                        "engine": summary.get("engine"), "molecules": int(len(mols))},
            "training": {"molecules": int(len(train)), "validation": int(len(valid)), "epochs": res.epochs,
                         "seconds": res.seconds, "selected": res.selected, "device": res.device,
                         "energy": res.energy, "max_epochs": max_epochs, "max_minutes": max_minutes, "seed": seed,
                         "lr": lr, "batch_size": batch_size},
            "unusable": int((~usable).sum())}
    student = FirstPass(net, meta, outdir)
    meta["validation"] = agreement(y[valid], student.predict([bits[i] for i in valid]), keep)
    save_bundle(net, meta, outdir, FORMAT)
    write_text(outdir / "card.md", model_card(meta))
    return meta


def model_card(meta: dict) -> str:
    v = meta.get("validation") or {}
    t = meta["training"]
    energy = t.get("energy") or {}
    wh = energy.get("energy_wh")
    lines = [
        "# First-pass model (distilled)", "",
        "A small model that stands in for a screening ensemble on a first pass over a large library: the "
        "molecules it ranks highest for any partner go on to the ensemble.", "",
        f"- Input: {meta['fingerprint']}; layers {meta['hidden']}; one output per partner ({len(meta['partners'])}).",
        f"- Teacher: the screen in `{meta['teacher']['screen']}` ({meta['teacher']['molecules']:,} molecules).",
        f"- Trained on {t['molecules']:,} of its molecules, {t['epochs']} epochs in {t['seconds']} s on {t['device']}"
        + (f", estimated {wh:.2f} Wh ({energy.get('method', 'codecarbon')})" if wh is not None else "") + ".",
        f"- Held out: {t['validation']:,} molecules. Spearman with the teacher per partner: min "
        f"{v.get('spearman_min')}, mean {v.get('spearman_mean')}. A cut of {v.get('keep', DEFAULT_KEEP):.0%} passes "
        f"on {v.get('top1pct_recall_min')} (min over partners; mean {v.get('top1pct_recall_mean')}) of the teacher's "
        "top 1 %.",
        "- Limits: it knows only the partners above and the chemistry of its teacher's library; outside them its "
        "ranks are not checked. The ensemble's scores of what it passes on are the screen's answer.",
    ]
    return "\n".join(lines) + "\n"
