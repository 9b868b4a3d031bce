"""Atom attributions for drug–drug interaction predictions: which atoms of each drug make a type likely.

For an ordered pair (drug 1, drug 2) and an interaction type, the probability the model gives that
type is attributed by integrated gradients (:func:`theraflow.explain.attributions.integrated_gradients`)
to the atoms of drug 1 with drug 2 held as it is, and to the atoms of drug 2 with drug 1 held: two
maps per pair, averaged over the ensemble's models. The order of the pair is kept (the model's head
is order-aware: the first drug acts on the second).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from theraflow.errors import InputError
from theraflow.explain.attributions import DEFAULT_STEPS, atom_weights, featurized, integrated_gradients

COLUMNS = ("drug1_id", "smiles1", "drug2_id", "smiles2", "type")


@dataclass
class PairAttribution:
    """Atom weights of both drugs for the probability of one interaction type, ensemble-averaged."""

    drug1_id: str
    smiles1: str
    drug2_id: str
    smiles2: str
    type: str
    probability: float
    weights1: np.ndarray  # atoms of drug 1 (RDKit order of its SMILES)
    weights2: np.ndarray
    baseline1: float = 0.0  # the probability with drug 1's inputs all zero
    baseline2: float = 0.0
    delta: float = 0.0  # mean completeness gap of the two integrations
    per_model: list = field(default_factory=list, repr=False)


@torch.no_grad()
def _embed(model, graph, bits: torch.Tensor | None, index: int) -> torch.Tensor:
    """One drug's projected embedding (the partner held fixed while the other drug is explained)."""
    drugs = {"graphs": graph, "index": torch.tensor([index])}
    if bits is not None:
        drugs["morgan"] = bits.float()[None]
    return model.encode_drugs(drugs)


def _ddi_score(model, partner: torch.Tensor, first: bool, drug_index: int, cls: int):
    """Probability of class ``cls`` for B copies of a drug paired with ``partner`` (its projected
    embedding), the copies first (``first``) or second in the pair."""

    def score(drugs: dict, b: int) -> torch.Tensor:
        drugs["index"] = torch.full((b,), drug_index, dtype=torch.long)
        p = torch.cat([model.encode_drugs(drugs), partner])
        own, other = torch.arange(b), torch.full((b,), b, dtype=torch.long)
        logits = model.head.pairs(p, own, other) if first else model.head.pairs(p, other, own)
        return model.probabilities(logits)[:, cls]

    return score


def explain_ddi_pairs(pairs: pd.DataFrame, ensemble, *, steps: int = DEFAULT_STEPS) -> list[PairAttribution]:
    """Attributions for ``pairs`` (columns drug1_id, smiles1, drug2_id, smiles2, type) with a
    :class:`theraflow.ddi.scoring.DDIEnsemble` or a list of DDI model folders."""
    from theraflow.ddi.scoring import DDIEnsemble, load_ensemble
    from theraflow.descriptors import morgan_bits_of_mols

    missing = [c for c in COLUMNS if c not in pairs]
    if missing:
        raise InputError(f"pairs to explain need columns {', '.join(COLUMNS)}; missing {', '.join(missing)}")
    ens = ensemble if isinstance(ensemble, DDIEnsemble) else load_ensemble(ensemble)
    classes = [str(c) for c in ens.classes]
    bad = sorted(set(pairs["type"].astype(str)) - set(classes))
    if bad:
        raise InputError(f"type(s) {bad[:5]} are not among the models' classes ({', '.join(classes[:8])}...)")
    graphs, row, mols = featurized([*pairs["smiles1"].astype(str), *pairs["smiles2"].astype(str)],
                                   [*pairs["drug1_id"].astype(str), *pairs["drug2_id"].astype(str)], ens.featurizer)
    out = []
    for r in pairs[list(COLUMNS)].astype(str).itertuples(index=False):
        w1, w2, probs, b1, b2, gaps = [], [], [], [], [], []
        for model, meta in zip(ens.models, ens.metas):
            model.eval()
            vocab = {s: i for i, s in enumerate(meta.get("drug_vocab") or [])}
            params = model.drug.morgan_params
            inputs = {}
            for smi in (r.smiles1, r.smiles2):
                bits = torch.from_numpy(morgan_bits_of_mols([mols[smi]], **params)[0]) if params else None
                inputs[smi] = (graphs.collate([row[smi]]), bits, vocab.get(smi, -1))

            cls = classes.index(r.type)
            maps = []
            for smi, partner, first in ((r.smiles1, r.smiles2, True), (r.smiles2, r.smiles1, False)):
                graph, bits, idx = inputs[smi]
                node, bit_attr, value, base, gap = integrated_gradients(
                    model.drug, _ddi_score(model, _embed(model, *inputs[partner]), first, idx, cls), graph, bits, steps)
                maps.append((atom_weights(mols[smi], node, bit_attr, params), value, base, gap))
            (m1, p, base1, g1), (m2, _, base2, g2) = maps
            w1.append(m1)
            w2.append(m2)
            probs.append(p)
            b1.append(base1)
            b2.append(base2)
            gaps.append((g1 + g2) / 2)
        out.append(PairAttribution(r.drug1_id, r.smiles1, r.drug2_id, r.smiles2, r.type, float(np.mean(probs)),
                                   np.mean(w1, 0), np.mean(w2, 0), float(np.mean(b1)), float(np.mean(b2)),
                                   float(np.mean(gaps)), per_model=list(zip(w1, w2))))
    return out


def pair_png(att: PairAttribution, *, size: tuple[int, int] = (300, 240)) -> tuple[bytes, bytes]:
    """The two drugs' attribution maps (drug 1, drug 2) as PNG bytes."""
    from theraflow.explain.attributions import attribution_png

    return attribution_png(att.smiles1, att.weights1, size=size), attribution_png(att.smiles2, att.weights2, size=size)


def ddi_attributions_table(attrs: Sequence[PairAttribution]) -> pd.DataFrame:
    return pd.DataFrame([{"drug1_id": a.drug1_id, "drug2_id": a.drug2_id, "type": a.type,
                          "probability": a.probability, "baseline_drug1_zeroed": a.baseline1,
                          "baseline_drug2_zeroed": a.baseline2, "completeness_gap": a.delta,
                          "weights1": " ".join(f"{w:.4g}" for w in a.weights1),
                          "weights2": " ".join(f"{w:.4g}" for w in a.weights2)} for a in attrs])
