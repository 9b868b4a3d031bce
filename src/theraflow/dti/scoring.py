"""Scoring molecules against targets with an ensemble of trained interaction models.

- Each target is encoded once per model (:meth:`Ensemble.encode_targets`) and the
  embeddings are reused for every molecule; each molecule is encoded once per model;
  the interaction head then runs on (molecule × target) pairs.
- Every score carries the ensemble mean and standard deviation and an
  applicability-domain value: the maximum Tanimoto similarity (Morgan radius 2, 2048
  bits) of the molecule to the model's training drugs, flagged below a threshold.
- :func:`score_smiles` is the Python API (a DataFrame of standardized molecules in, the
  scores table out); the workflow's shard job (:func:`score_library_shard`) calls the same
  code, so both give identical numbers for the same model and input.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from theraflow.errors import InputError

log = logging.getLogger(__name__)

SCORE_COLUMNS = ["id", "smiles", "target_id", "score_mean", "score_std", "ad_similarity", "ad_flag"]
DEFAULT_AD_THRESHOLD = 0.3


@dataclass
class LoadedModel:
    name: str
    model: torch.nn.Module
    meta: dict
    checksum: str

    @property
    def uses_sequences(self) -> bool:
        return self.model.target.uses_sequences

    def vocabulary_index(self, smiles: Sequence[str] | None) -> np.ndarray:
        """Each molecule's row in the model's drug vocabulary (standardized SMILES of its
        training drugs), -1 for molecules it never trained on."""
        row = {smi: i for i, smi in enumerate(self.meta.get("drug_vocab") or [])}
        return np.array([row.get(smi, -1) for smi in smiles or []], dtype=np.int64)


@dataclass
class EncodedTargets:
    """Targets encoded by each model of an ensemble: embeddings and rows in each model's target vocabulary."""

    emb: list[torch.Tensor]
    index: list[torch.Tensor]


@dataclass
class Ensemble:
    models: list[LoadedModel]
    train_smiles: list[str]
    _train_fps: list = field(default_factory=list)

    @property
    def featurizer(self) -> dict:
        return self.models[0].meta.get("featurizer") or {"name": "default"}

    def describe(self) -> list[dict]:
        return [{"name": m.name, "sha256": m.checksum, "seed": m.meta.get("seed"),
                 "epochs": m.meta.get("epochs_trained"), "split": m.meta.get("split_manifest", {}).get("name")}
                for m in self.models]

    # ---------------------------------------------------------------- targets
    def target_table(self, targets: pd.DataFrame | None) -> pd.DataFrame:
        """Targets to score: the given table (target_id[, sequence]), or every training target."""
        meta = self.models[0].meta
        if targets is None:
            seqs = meta.get("target_sequences") or [""] * len(meta["target_ids"])
            return pd.DataFrame({"target_id": meta["target_ids"], "sequence": seqs})
        t = targets.copy()
        if "sequence" not in t:
            t["sequence"] = ""
        t["target_id"] = t["target_id"].astype(str)
        t["sequence"] = t["sequence"].fillna("").astype(str)
        for m in self.models:
            known = set(m.meta["target_ids"])
            if m.uses_sequences:
                empty = t.loc[(t["sequence"] == "") & ~t["target_id"].isin(known), "target_id"].tolist()
                if empty:
                    raise InputError(f"model {m.name} reads sequences; no sequence for target(s) {empty[:5]}")
            else:
                unknown = [x for x in t["target_id"] if x not in known]
                if unknown:
                    raise InputError(
                        f"model {m.name} knows targets by id only ({', '.join(m.meta['target_ids'][:5])}...); "
                        f"it cannot score {unknown[:5]}"
                    )
        return t.drop_duplicates("target_id").reset_index(drop=True)

    @torch.no_grad()
    def encode_targets(self, targets: pd.DataFrame) -> EncodedTargets:
        """One [n_targets, dim] embedding per model (and the targets' rows in its vocabulary), computed once."""
        from theraflow.descriptors import residue_composition
        from theraflow.dti.data import Inputs, target_tensors
        from theraflow.nn.protein import tokenize

        out, rows = [], []
        seqs = targets["sequence"].tolist()
        for m in self.models:
            vocab = {t: i for i, t in enumerate(m.meta["target_ids"])}
            idx = np.array([vocab.get(t, -1) for t in targets["target_id"]], dtype=np.int64)
            inputs = target_tensors(Inputs.of(m.model), np.arange(len(seqs)),
                                    lambda m=m: tokenize(seqs, m.meta.get("max_len", 1200)),
                                    lambda: torch.from_numpy(residue_composition(seqs)), idx)
            out.append(m.model.encode_targets(inputs))
            rows.append(torch.from_numpy(idx))
        return EncodedTargets(out, rows)

    # --------------------------------------------------------------- molecules
    @torch.no_grad()
    def score_graphs(self, graphs, targets: EncodedTargets, chunk: int = 128) -> np.ndarray:
        """[n_models, n_molecules, n_targets] scores."""
        from theraflow.descriptors import morgan_bits
        from theraflow.dti.data import Inputs

        n, n_t = len(graphs), targets.emb[0].shape[0]
        out = np.empty((len(self.models), n, n_t), dtype=np.float32)
        target_proj = [m.model.head.pt(t) for m, t in zip(self.models, targets.emb)]  # once per target
        needs = [Inputs.of(m.model) for m in self.models]
        vocab = [m.vocabulary_index(graphs.smiles) if "index" in x.drug else None for m, x in zip(self.models, needs)]
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            shared: dict = {}  # computed once per chunk for every model that reads it
            if any("graphs" in x.drug for x in needs):
                shared["graphs"] = graphs.collate(np.arange(start, stop))
            for x in needs:
                if "morgan" in x.drug and x.morgan not in shared:
                    radius, bits = x.morgan
                    shared[x.morgan] = torch.from_numpy(morgan_bits(graphs.smiles[start:stop], radius=radius,
                                                                    bits=bits)).float()
            for k, m in enumerate(self.models):
                drugs = {"graphs": shared.get("graphs"), "morgan": shared.get(needs[k].morgan)}
                if vocab[k] is not None:
                    drugs["index"] = torch.from_numpy(vocab[k][start:stop])
                dp = m.model.head.pd(m.model.encode_drugs(drugs))  # each molecule once
                nd = dp.shape[0]
                # rows per step so that the hidden activations stay near 16M floats (~64 MB)
                step = max(1, (16 << 20) // max(1, n_t * m.model.head.mlp[0].out_features))
                for a in range(0, nd, step):
                    rows = drugs["index"][a : a + step] if "index" in drugs else torch.full((len(dp[a : a + step]),), -1)
                    scores = m.model.grid(dp[a : a + step], target_proj[k], rows, targets.index[k])
                    out[k, start + a : start + min(nd, a + step)] = scores.float().numpy()
        return out

    def applicability(self, mols: Sequence) -> np.ndarray:
        """Max Tanimoto similarity of each molecule to the training drugs."""
        gen = _morgan()
        return self.applicability_fps([gen.GetFingerprint(m) if m is not None else None for m in mols])

    def applicability_fps(self, fps: Sequence) -> np.ndarray:
        """The same from precomputed Morgan fingerprints (radius 2, 2048 bits; see ``fingerprint``)."""
        from rdkit import DataStructs

        from theraflow.pairs.splits import _fingerprints

        if not self._train_fps:
            self._train_fps = [f for f in _fingerprints(self.train_smiles) if f is not None]
        out = np.zeros(len(fps), dtype=np.float32)
        if not self._train_fps:
            return out
        for i, fp in enumerate(fps):
            if fp is not None:
                out[i] = max(DataStructs.BulkTanimotoSimilarity(fp, self._train_fps))
        return out


_MORGAN = None


def fingerprint(mol):
    """The applicability-domain fingerprint of a molecule (atom order does not matter)."""
    return _morgan().GetFingerprint(mol)


def _morgan():
    global _MORGAN
    if _MORGAN is None:
        from rdkit.Chem import rdFingerprintGenerator

        _MORGAN = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    return _MORGAN


def load_ensemble(model_dirs: Sequence[str | Path]) -> Ensemble:
    """Load trained models (one per seed, say) that share a featurizer and targets."""
    from theraflow.dti.train import load_model

    if not model_dirs:
        raise InputError("no model directories given")
    models, train_smiles = [], []
    for d in model_dirs:
        d = Path(d)
        model, meta = load_model(d)
        checksum = hashlib.sha256((d / "model.safetensors").read_bytes()).hexdigest()
        models.append(LoadedModel(name=f"{d.parent.name}/{d.name}" if d.name.startswith("seed") else d.name,
                                  model=model, meta=meta, checksum=checksum))
        drugs = d / "train_drugs.smi"
        if drugs.exists():
            train_smiles.extend(line.split()[0] for line in drugs.read_text().splitlines() if line.strip())
    first = models[0].meta
    for m in models[1:]:
        if m.meta.get("featurizer") != first.get("featurizer"):
            raise InputError(f"models {models[0].name} and {m.name} use different featurizers; they cannot "
                             "form one ensemble")
        if m.meta["target_ids"] != first["target_ids"]:
            log.warning("models %s and %s were trained on different target lists", models[0].name, m.name)
    if not train_smiles:
        log.warning("no train_drugs.smi next to the models: applicability-domain values will be 0")
    return Ensemble(models, sorted(set(train_smiles)))


def scores_frame(ids: Sequence[str], smiles: Sequence[str], targets: pd.DataFrame, scores: np.ndarray,
                 ad: np.ndarray, ad_threshold: float, per_model: bool = False,
                 model_names: Sequence[str] = ()) -> pd.DataFrame:
    """Long table: one row per (molecule, target)."""
    n, n_t = scores.shape[1], scores.shape[2]
    mean = scores.mean(axis=0)
    std = scores.std(axis=0, ddof=1) if scores.shape[0] > 1 else np.zeros_like(mean)
    df = pd.DataFrame({
        "id": np.repeat(np.asarray(ids, dtype=object), n_t),
        "smiles": np.repeat(np.asarray(smiles, dtype=object), n_t),
        "target_id": np.tile(targets["target_id"].to_numpy(dtype=object), n),
        "score_mean": mean.reshape(-1),
        "score_std": std.reshape(-1),
        "ad_similarity": np.repeat(ad, n_t),
        "ad_flag": np.repeat(ad < ad_threshold, n_t),
    })
    if per_model:
        for k, name in enumerate(model_names):
            df[f"score[{name}]"] = scores[k].reshape(-1)
    return df


def score_smiles(molecules: pd.DataFrame, ensemble: Ensemble | Sequence[str | Path], *,
                 targets: pd.DataFrame | None = None, store: str | Path | None = None,
                 ad_threshold: float = DEFAULT_AD_THRESHOLD, per_model: bool = False,
                 target_emb: EncodedTargets | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Python API: score standardized molecules (columns id, smiles) against targets.

    Returns (scores, rejects): the long scores table (:data:`SCORE_COLUMNS`) and the
    molecules that could not be featurized. Same numbers as the workflow's shard jobs.
    """
    from rdkit import Chem, rdBase

    from theraflow.chem.featurize import featurize

    ens = ensemble if isinstance(ensemble, Ensemble) else load_ensemble(ensemble)
    t = ens.target_table(targets)
    emb = target_emb if target_emb is not None else ens.encode_targets(t)
    smiles = molecules["smiles"].astype(str).tolist()
    feat = ens.featurizer
    res = featurize(smiles, feat.get("name", "default"), store=store, params=feat.get("params") or {})
    ok = res.index
    with rdBase.BlockLogs():
        mols = [Chem.MolFromSmiles(smiles[i]) for i in ok]
    ad = ens.applicability(mols)
    scores = ens.score_graphs(res.graphs, emb) if len(ok) else np.zeros((len(ens.models), 0, len(t)), np.float32)
    ids = molecules["id"].astype(str).to_numpy()[ok]
    out = scores_frame(ids, [smiles[i] for i in ok], t, scores, ad, ad_threshold, per_model,
                       [m.name for m in ens.models])
    rejects = pd.DataFrame([(molecules["id"].iat[i], smiles[i], "score", reason) for i, reason in res.errors.items()],
                           columns=["id", "input", "stage", "reason"])
    return out, rejects


def read_targets(path: str | Path) -> pd.DataFrame:
    """Targets from FASTA (id = first word of the header) or a table (target_id[, sequence])."""
    from theraflow.io import read_table

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.suffix.lower() in (".fasta", ".fa", ".faa"):
        rows, name, seq = [], None, []
        for n, line in enumerate(path.read_text().splitlines(), start=1):
            line = line.strip()
            if line.startswith(">"):
                if name is not None:
                    rows.append((name, "".join(seq)))
                name = line[1:].split()[0] if line[1:].split() else ""
                if not name:
                    raise InputError(f"{path}: line {n}: FASTA header without an id")
                seq = []
            elif line:
                if name is None:
                    raise InputError(f"{path}: line {n}: sequence before the first '>' header")
                seq.append(line.replace(" ", ""))
        if name is not None:
            rows.append((name, "".join(seq)))
        if not rows:
            raise InputError(f"{path}: no FASTA records")
        df = pd.DataFrame(rows, columns=["target_id", "sequence"])
    else:
        df = read_table(path)
        if "target_id" not in df:
            raise InputError(f"{path}: expected a target_id column (and optionally sequence); columns are "
                             f"{', '.join(map(str, df.columns))}")
    dup = df["target_id"][df["target_id"].duplicated()]
    if len(dup):
        raise InputError(f"{path}: target id {dup.iloc[0]!r} appears twice")
    return df


def model_card_info(model_dirs: Sequence[str | Path]) -> dict:
    """What the report shows about the models: card text, split protocol, test metrics."""
    info = {"models": []}
    for d in map(Path, model_dirs):
        meta = json.loads((d / "model.json").read_text())
        entry = {"dir": str(d), "name": meta["model_config"].get("name", d.name), "seed": meta.get("seed"),
                 "split": meta.get("split_manifest", {}), "epochs": meta.get("epochs_trained"),
                 "train_seconds": meta.get("train_seconds"), "device": meta.get("device")}
        metrics = d / "metrics.json"
        if metrics.exists():
            entry["metrics"] = json.loads(metrics.read_text()).get("parts", {})
        info["models"].append(entry)
    return info
