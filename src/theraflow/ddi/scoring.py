"""Scoring candidate drugs against a panel with an ensemble of trained DDI models.

For every candidate and every panel drug, in both orders (the candidate acting on the panel drug
and the panel drug acting on the candidate: the type sentences say which drug does what), the
ensemble's mean probability of each interaction type, its spread over the models, the most
likely ``top_k`` types with their sentences filled in with the two drugs' names, and the
applicability domain: the candidate's maximum Tanimoto similarity (Morgan radius 2, 2048 bits)
to the drugs the models trained on, flagged below a threshold. Every molecule is standardized
and encoded once per model; pairs only run the head.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from theraflow.errors import InputError

log = logging.getLogger(__name__)

SCORE_COLUMNS = ["candidate", "panel_drug", "order", "rank", "type", "probability", "probability_sd", "sentence",
                 "ad_similarity", "ad_flag"]
DEFAULT_AD_THRESHOLD = 0.3


@dataclass
class DDIEnsemble:
    models: list
    metas: list[dict]
    dirs: list[Path]
    train_smiles: list[str]

    @property
    def classes(self) -> list[str]:
        return self.metas[0]["classes"]

    @property
    def sentences(self) -> dict[str, str]:
        return self.metas[0].get("sentences") or {}

    @property
    def featurizer(self) -> dict:
        return self.metas[0].get("featurizer") or {"name": "default"}


def load_ensemble(model_dirs) -> DDIEnsemble:
    from theraflow.ddi.train import load_model

    if not model_dirs:
        raise InputError("no model directories given")
    models, metas, dirs, train = [], [], [], set()
    for d in map(Path, model_dirs):
        m, meta = load_model(d)
        models.append(m)
        metas.append(meta)
        dirs.append(d)
        if (d / "train_drugs.smi").exists():
            train.update(line.split()[0] for line in (d / "train_drugs.smi").read_text().splitlines() if line.strip())
    for d, meta in zip(dirs[1:], metas[1:]):
        if meta["classes"] != metas[0]["classes"] or meta.get("featurizer") != metas[0].get("featurizer"):
            raise InputError(f"models {dirs[0]} and {d} predict other types or read other graphs: not one ensemble")
    return DDIEnsemble(models, metas, dirs, sorted(train))


def _standardized(table: pd.DataFrame, what: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Standardize (id, smiles[, name]) records; rejects keep the id and the reason."""
    from theraflow.chem.standardize import StandardizeOptions, standardize

    if not {"id", "smiles"} <= set(table.columns):
        raise InputError(f"{what}: expected columns id, smiles (and optionally name); found {', '.join(table.columns)}")
    records = pd.DataFrame({"record": np.arange(1, len(table) + 1), "id": table["id"].astype(str),
                            "input": table["smiles"].astype(str), "kind": "smiles"})
    kept, rejects = standardize(records, StandardizeOptions(inchikey=False))
    names = dict(zip(table["id"].astype(str), table["name"].astype(str))) if "name" in table else {}
    kept["name"] = [names.get(i, i) for i in kept["id"]]
    rejects.insert(0, "set", what)
    return kept, rejects


@torch.no_grad()
def score_pairs(candidates: pd.DataFrame, panel: pd.DataFrame, ensemble: DDIEnsemble | list, *,
                store: str | Path | None = None, top_k: int = 3, ad_threshold: float = DEFAULT_AD_THRESHOLD,
                chunk: int = 8192) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(scores, rejects): see the module docstring; ``candidates`` and ``panel`` are (id, smiles[, name])."""
    from theraflow.chem.featurize import featurize
    from theraflow.ddi.data import DDISet
    from theraflow.pairs.batches import Inputs, drug_tensors
    from theraflow.pairs.splits import nearest_neighbour_similarity

    ens = ensemble if isinstance(ensemble, DDIEnsemble) else load_ensemble(ensemble)
    cand, rej_c = _standardized(candidates, "candidates")
    pan, rej_p = _standardized(panel, "panel")
    drugs = pd.concat([cand.assign(role="candidate"), pan.assign(role="panel")], ignore_index=True)
    feat = ens.featurizer
    res = featurize(drugs["smiles"].tolist(), feat.get("name", "default"), store=store, params=feat.get("params") or {})
    failed = pd.DataFrame([(drugs["role"].iat[i], drugs["id"].iat[i], drugs["record"].iat[i], drugs["smiles"].iat[i],
                            "featurize", why) for i, why in res.errors.items()],
                          columns=["set", "id", "record", "input", "stage", "reason"])
    drugs = drugs.iloc[res.index].reset_index(drop=True)
    ci = np.nonzero((drugs["role"] == "candidate").to_numpy())[0]
    pi = np.nonzero((drugs["role"] == "panel").to_numpy())[0]
    if not len(ci) or not len(pi):
        raise InputError("nothing to score: no candidate or no panel drug could be standardized and featurized")
    # every ordered (candidate, panel drug) combination, both ways round
    a = np.concatenate([np.repeat(ci, len(pi)), np.tile(pi, len(ci))])
    b = np.concatenate([np.tile(pi, len(ci)), np.repeat(ci, len(pi))])
    order = np.array(["candidate → panel"] * (len(ci) * len(pi)) + ["panel → candidate"] * (len(ci) * len(pi)))
    probs = []
    for model, meta in zip(ens.models, ens.metas):
        vocab = {smi: i for i, smi in enumerate(meta.get("drug_vocab") or [])}
        ds = DDISet(drug_ids=drugs["id"].tolist(), graphs=res.graphs, pair_a=a, pair_b=b,
                    label=np.full(len(a), -1, np.int64), classes=meta["classes"],
                    drug_index=np.array([vocab.get(s, -1) for s in drugs["smiles"]], dtype=np.int64))
        inputs = Inputs.of(model)
        morgan = ds.morgan(*inputs.morgan) if "morgan" in inputs.drug else None
        emb = model.encode_drugs(drug_tensors(inputs, np.arange(len(drugs)), res.graphs, morgan, ds.drug_index))
        p = [model.probabilities(model.head.pairs(emb, torch.from_numpy(a[i : i + chunk]),
                                                  torch.from_numpy(b[i : i + chunk]))).numpy()
             for i in range(0, len(a), chunk)]
        probs.append(np.concatenate(p))
    probs = np.stack(probs)  # [models, pairs, classes]
    mean = probs.mean(axis=0)
    sd = probs.std(axis=0, ddof=1) if len(probs) > 1 else np.full_like(mean, np.nan)
    ad = nearest_neighbour_similarity(drugs["smiles"].tolist(), ens.train_smiles) if ens.train_smiles else \
        np.zeros(len(drugs))
    k = min(top_k, mean.shape[1])
    top = np.argsort(-mean, axis=1)[:, :k]
    classes, sentences = ens.classes, ens.sentences
    name = drugs["name"].to_numpy()
    rows = []
    cand_of = np.where(order == "candidate → panel", a, b)
    panel_of = np.where(order == "candidate → panel", b, a)
    for r in range(len(a)):
        for rank, c in enumerate(top[r], start=1):
            rows.append((drugs["id"].iat[cand_of[r]], drugs["id"].iat[panel_of[r]], order[r], rank, classes[c],
                         float(mean[r, c]), float(sd[r, c]),
                         fill_sentence(sentences.get(classes[c], ""), name[a[r]], name[b[r]]),
                         float(ad[cand_of[r]]), bool(ad[cand_of[r]] < ad_threshold)))
    scores = pd.DataFrame(rows, columns=SCORE_COLUMNS)
    scores = scores.sort_values(["rank", "probability"], ascending=[True, False], kind="stable").reset_index(drop=True)
    rejects = pd.concat([rej_c, rej_p, failed], ignore_index=True)
    return scores, rejects


def fill_sentence(template: str, drug1: str, drug2: str) -> str:
    """A type's sentence with the two drugs named ("#Drug1 can increase ... #Drug2")."""
    if not template:
        return ""
    return template.replace("#Drug1", drug1).replace("#Drug2", drug2)


def read_drug_table(path: str | Path) -> pd.DataFrame:
    """Drugs to score from a .smi file (SMILES, then id) or a table with id, smiles[, name]."""
    from theraflow.chem.readers import read_molecules
    from theraflow.io import read_table

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.suffix.lower() in (".smi", ".smiles", ".ism"):
        recs, rejects = read_molecules(path)
        if len(rejects):
            log.warning("%s: %d records could not be read (%s)", path, len(rejects), rejects["reason"].iat[0])
        return pd.DataFrame({"id": recs["id"], "smiles": recs["input"]})
    table = read_table(path, dtype=str, keep_default_na=False)
    if "id" not in table and "drug_id" in table:
        table = table.rename(columns={"drug_id": "id"})
    return table


def model_summary(model_dirs) -> list[dict]:
    out = []
    for d in map(Path, model_dirs):
        meta = json.loads((d / "model.json").read_text())
        entry = {"dir": str(d), "seed": meta.get("seed"), "epochs": meta.get("epochs_trained"),
                 "train_seconds": meta.get("train_seconds"), "split": meta.get("split")}
        if (d / "metrics.json").exists():
            entry["metrics"] = json.loads((d / "metrics.json").read_text()).get("parts", {})
        out.append(entry)
    return out
