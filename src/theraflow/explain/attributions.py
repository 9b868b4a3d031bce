"""Atom attributions of interaction scores: integrated gradients (Captum) over a molecule's inputs.

For one molecule against one partner (a target, a second drug) and each model of an ensemble of any
pair task, :func:`explain_pairs` asks
Captum's :class:`~captum.attr.IntegratedGradients` how much each input moved the score away from
that of an all-zero input (no atom features, no fingerprint bits), along a straight path of
``steps`` points:

- the graph branch: attributions over every atom's node features, summed over features per atom;
- the Morgan branch: attributions over the fingerprint bits; each bit's attribution is shared
  equally by the atoms of the environments that set it (centre atom and its neighbourhood up to
  the bit's radius), as in RDKit's fingerprint similarity maps;
- the molecule-id branch and the partner are held fixed (they are not atoms).

The score is the label kind's prediction: a value (regression), the probability of label 1 (binary),
the probability of one class (multiclass: the pair's ``class``, else the most likely). For tasks of
two molecules (drug–drug) each pair gets two maps: the first drug's atoms with the second held fixed,
and the second's with the first held fixed.

An atom's weight is the sum of both, averaged over the ensemble's models. Integrated gradients
are complete: the weights of a molecule add up to ``score - baseline_score`` up to the path's
discretisation (``delta``, reported per pair). ``steps`` is the first try: where the gap is above
:data:`GAP_TOLERANCE` (in the score's own units: pKd, or a probability) the integration is redone
with twice the points, up to :data:`MAX_STEPS` (on a demo DDI pair with a steep, kinked probability
24 fixed points left a gap of 0.26, 128 points 0.006). Positive weights push the score up.

All path points of a molecule go through the model as one batch of copies of its graph, so a
pair costs one forward and one backward pass of ``steps`` graphs per model and try: cheap for the top-k
of a screen, not meant for a whole library (the report explains only the top-k).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from theraflow.errors import InputError

log = logging.getLogger(__name__)

DEFAULT_STEPS = 32
GAP_TOLERANCE = 0.01  # largest completeness gap accepted before the integration is refined
MAX_STEPS = 256


@dataclass
class Attribution:
    """Atom weights of one (molecule, partner) score, averaged over the ensemble's models."""

    id: str
    smiles: str
    target_id: str  # the partner (a target, a second drug)
    score: float  # the ensemble's mean score of the pair
    baseline_score: float  # the mean score with the molecule's inputs all zero
    atom_weights: np.ndarray  # [n_atoms], RDKit atom order of Chem.MolFromSmiles(smiles)
    per_model: np.ndarray = field(repr=False)  # [n_models, n_atoms]
    branches: dict = field(default_factory=dict)  # attribution mass per molecule branch (graph, morgan)
    delta: float = 0.0  # |sum(weights) - (score - baseline)|, the discretisation error
    cls: str = ""  # the class whose probability is explained (multiclass)
    partner_smiles: str = ""  # tasks of two molecules: the partner's map too
    partner_weights: np.ndarray | None = None
    partner_baseline: float = 0.0

    def top_atoms(self, k: int) -> list[int]:
        """The ``k`` atoms with the largest weights (most positive first)."""
        return [int(i) for i in np.argsort(-self.atom_weights, kind="stable")[:k]]

    def row(self) -> dict:
        out = {"id": self.id, "smiles": self.smiles, "target_id": self.target_id, "class": self.cls,
               "score": self.score, "baseline_score": self.baseline_score, "completeness_gap": self.delta,
               "atom_weights": " ".join(f"{w:.4g}" for w in self.atom_weights),
               **{f"mass_{k}": v for k, v in self.branches.items()}}
        if self.partner_weights is not None:
            out |= {"partner_smiles": self.partner_smiles, "partner_baseline_score": self.partner_baseline,
                    "partner_weights": " ".join(f"{w:.4g}" for w in self.partner_weights)}
        return out


def morgan_atom_map(mol, radius: int, bits: int) -> dict[int, np.ndarray]:
    """For each set Morgan bit, the atoms of the environments that set it (repeats count once each).

    Uses the same generator as :func:`theraflow.descriptors.morgan_bits`, so bit numbers agree."""
    from rdkit import Chem
    from rdkit.Chem import rdFingerprintGenerator

    gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=bits)
    ao = rdFingerprintGenerator.AdditionalOutput()
    ao.AllocateBitInfoMap()
    gen.GetFingerprint(mol, additionalOutput=ao)
    out: dict[int, np.ndarray] = {}
    for bit, envs in ao.GetBitInfoMap().items():
        atoms: list[int] = []
        for centre, r in envs:
            env = {centre}
            if r > 0:
                for b in Chem.FindAtomEnvironmentOfRadiusN(mol, r, centre):
                    bond = mol.GetBondWithIdx(b)
                    env.update((bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()))
            atoms.extend(sorted(env))
        out[int(bit)] = np.asarray(atoms, dtype=np.int64)
    return out


def atom_weights(mol, node: np.ndarray | None, bits: np.ndarray | None, morgan: dict | None) -> np.ndarray:
    """Per-atom weights from node attributions and Morgan-bit attributions (each bit's share split equally
    over the atoms of the environments that set it; ``morgan``: the branch's radius and bits)."""
    w = np.zeros(mol.GetNumAtoms())
    if node is not None:
        w += node
    if bits is not None:
        for bit, atoms in morgan_atom_map(mol, **morgan).items():
            np.add.at(w, atoms, bits[bit] / len(atoms))
    return w


def featurized(smiles: Sequence[str], ids: Sequence[str], featurizer: dict):
    """The graphs of the distinct ``smiles`` with the models' featurizer, each SMILES's row in them, and its RDKit
    molecule; a SMILES that cannot be featurized raises :class:`InputError` naming its record's id."""
    from rdkit import Chem, rdBase

    from theraflow.chem.featurize import featurize

    smiles, ids = list(smiles), list(ids)
    uniq = list(dict.fromkeys(smiles))
    res = featurize(uniq, featurizer.get("name", "default"), params=featurizer.get("params") or {})
    if res.errors:
        pos, reason = next(iter(res.errors.items()))
        raise InputError(f"molecule {ids[smiles.index(uniq[pos])]!r} ({uniq[pos]}): cannot be featurized: {reason}")
    with rdBase.BlockLogs():
        mols = {s: Chem.MolFromSmiles(s) for s in uniq}
    return res.graphs, {uniq[i]: k for k, i in enumerate(res.index)}, mols


def _graph_copies(graph, x: torch.Tensor):
    """A PyG batch of ``x.shape[0]`` copies of ``graph`` whose node features are the rows of ``x`` [B, N, F]."""
    from torch_geometric.data import Batch

    b, n = x.shape[0], x.shape[1]
    e = graph.edge_index.shape[1]
    shift = (torch.arange(b) * n).repeat_interleave(e)
    out = Batch(x=x.reshape(b * n, -1), edge_index=graph.edge_index.repeat(1, b) + shift,
                edge_attr=graph.edge_attr.repeat(b, 1) if graph.edge_attr is not None else None,
                batch=torch.arange(b).repeat_interleave(n), ptr=torch.arange(b + 1) * n)
    out._num_graphs = b
    return out


def integrated_gradients(encoder, score, graph, morgan: torch.Tensor | None, steps: int
                         ) -> tuple[np.ndarray | None, np.ndarray | None, float, float, float]:
    """IG of ``score`` (drug inputs → one value per row) for one molecule, over the atom-level inputs that
    ``encoder`` (a molecule :class:`~theraflow.nn.entity.EntityEncoder`) reads: node-feature and Morgan-bit
    attributions, the score, the all-zero input's score and the completeness gap. ``steps`` points first,
    doubled while the gap is above :data:`GAP_TOLERANCE`, at most :data:`MAX_STEPS`.

    ``score`` receives a dict of drug inputs for B copies of the molecule (``graphs`` a PyG batch,
    ``morgan`` [B, bits]) and fills in the rest itself (a vocabulary index, the partner: a target or a
    second drug), so that one function serves every task."""
    from captum.attr import IntegratedGradients

    uses_graph = getattr(encoder, "graph", None) is not None
    uses_morgan = getattr(encoder, "morgan", None) is not None
    if not (uses_graph or uses_morgan):
        raise InputError("this model reads no atom-level molecule input (encoder 'id' only): nothing to attribute")

    def forward(*inputs):
        it = iter(inputs)
        drugs: dict = {}
        if uses_graph:
            drugs["graphs"] = _graph_copies(graph, next(it))
        if uses_morgan:
            drugs["morgan"] = next(it)
        return score(drugs, inputs[0].shape[0])

    inputs = []
    if uses_graph:
        if not torch.is_floating_point(graph.x):
            raise InputError("integrated gradients need real-valued atom features; this model's featurizer gives "
                             "integer atom codes (an embedding lookup has no gradient along the path)")
        inputs.append(graph.x.float()[None])
    if uses_morgan:
        inputs.append(morgan.float()[None])
    inputs = tuple(inputs)
    baselines = tuple(torch.zeros_like(t) for t in inputs)
    ig = IntegratedGradients(forward)
    while True:  # refine the path until the weights add up (see GAP_TOLERANCE)
        with torch.enable_grad():
            attr, delta = ig.attribute(inputs, baselines=baselines, n_steps=steps, method="gausslegendre",
                                       internal_batch_size=steps, return_convergence_delta=True)
        if float(delta.abs().sum()) <= GAP_TOLERANCE or steps >= MAX_STEPS:
            break
        steps = min(2 * steps, MAX_STEPS)
    with torch.no_grad():
        value, base = float(forward(*inputs)[0]), float(forward(*baselines)[0])
    it = iter(attr)
    node = next(it)[0].sum(-1).detach().numpy() if uses_graph else None
    bits = next(it)[0].detach().numpy() if uses_morgan else None
    return node, bits, value, base, float(delta.abs().sum())


def _score_fn(model, spec, role: int, vocab_index: int, partner: torch.Tensor, partner_index: int, cls: int | None):
    """The label kind's prediction for B copies of a molecule in ``role`` (0 or 1) against one fixed,
    projected ``partner`` in the other role (multiclass: the probability of class ``cls``)."""
    kind = spec.task.roles[role].entity

    def score(drugs: dict, b: int) -> torch.Tensor:
        drugs["index"] = torch.full((b,), vocab_index, dtype=torch.long)
        own = model.embed(kind, drugs)
        copies, fixed = torch.arange(b), torch.zeros(b, dtype=torch.long)
        if role == 0:
            out = model.head.pairs(own, partner, copies, fixed)
            out = model.shrunk(out, drugs["index"], torch.full((b,), partner_index, dtype=torch.long))
        else:
            out = model.head.pairs(partner, own, fixed, copies)
            out = model.shrunk(out, torch.full((b,), partner_index, dtype=torch.long), drugs["index"])
        if spec.label.name == "regression":
            return out
        if spec.label.name == "binary":
            return torch.sigmoid(out)
        return torch.softmax(out, dim=-1)[:, cls]

    return score


def explain_pairs(pairs: pd.DataFrame, ensemble, *, steps: int = DEFAULT_STEPS, targets: pd.DataFrame | None = None,
                  store=None, progress: bool | None = None) -> list[Attribution]:
    """Atom attributions for ``pairs`` (columns id, smiles, target_id — the partner's id —, and for
    multiclass models optionally ``class``): one :class:`Attribution` each.

    ``ensemble`` is a :class:`theraflow.pairs.scoring.Ensemble` or a list of model folders; ``targets``
    (the partners: id and sequence or SMILES) is needed only for partners the models did not train on.
    A SMILES that cannot be featurized raises :class:`InputError` naming it and its id.
    """
    from theraflow.pairs.scoring import Ensemble, load_ensemble

    for col in ("id", "smiles", "target_id"):
        if col not in pairs:
            raise InputError(f"pairs to explain need columns id, smiles and target_id; {col!r} is missing")
    if steps < 2:
        raise InputError(f"steps must be at least 2, got {steps}")
    ens = ensemble if isinstance(ensemble, Ensemble) else load_ensemble(ensemble)
    spec, task = ens.spec, ens.spec.task
    wanted = pairs["target_id"].astype(str)
    table = ens.partner_table(targets.rename(columns={"target_id": "id", "sequence": "value", "smiles": "value"})
                              if targets is not None else None)
    missing = sorted(set(wanted) - set(table["id"]))
    if missing:
        raise InputError(f"partner(s) {missing[:5]} are not among the models' partners nor in the partners table")
    table = table[table["id"].isin(set(wanted))].reset_index(drop=True)
    enc = ens.encode_partners(table, store)
    p_row = {t: i for i, t in enumerate(table["id"])}
    two = task.entity(task.roles[1]).featurized
    smiles = [*pairs["smiles"].astype(str)] + ([*table["value"]] if two else [])
    ids = [*pairs["id"].astype(str)] + ([*table["id"]] if two else [])
    graphs, g_row, mols = featurized(smiles, ids, ens.featurizer)
    classes = list(spec.classes)
    for m in ens.models:
        m.model.eval()
    out = []
    cols = ["id", "smiles", "target_id"] + (["class"] if "class" in pairs else [])
    rows = list(pairs[cols].astype(str).itertuples(index=False))
    if progress is not False:  # None: the CLI's --progress/--no-progress, else bars only on a terminal
        from theraflow.progress import bar_class
        from theraflow.progress import progress as bar

        rows = bar(rows, desc="attributions", unit="pair") if progress is None else bar_class()(rows, desc="attributions")
    for r in rows:
        pid, smi, tid = r[0], r[1], r[2]
        cls_name = r[3] if len(r) > 3 and r[3] not in ("", "nan") else ""
        graph = graphs.collate([g_row[smi]])
        mol = mols[smi]
        if graph.x.shape[0] != mol.GetNumAtoms():
            raise InputError(f"molecule {pid!r}: its graph has {graph.x.shape[0]} nodes but RDKit reads "
                             f"{mol.GetNumAtoms()} atoms from {smi!r}: atoms cannot be matched to nodes")
        per_model, per_partner, scores, bases, pbases, gaps = [], [], [], [], [], []
        mass = {"graph": 0.0, "morgan": 0.0}
        j = p_row[tid]
        cls = None
        if spec.label.name == "multiclass":
            if cls_name and cls_name not in classes:
                raise InputError(f"class {cls_name!r} is not one of the models' classes ({', '.join(classes[:8])} ...)")
            cls = classes.index(cls_name) if cls_name else \
                int(ens.score_graphs(graphs.take([g_row[smi]]), enc).mean(0)[0, j].argmax())
        for k, m in enumerate(ens.models):
            enc_mol = m.model.encoder(task.roles[0].entity)
            params = {"radius": enc_mol.morgan.radius, "bits": enc_mol.morgan.bits} \
                if getattr(enc_mol, "morgan", None) is not None else None
            bits = _bits(mol, params)
            vocab = _vocab_row(m, task.roles[0].entity, smi)
            node, bit_attr, value, base, gap = integrated_gradients(
                enc_mol, _score_fn(m.model, spec, 0, vocab, enc.emb[k][j : j + 1].detach(), int(enc.index[k][j]),
                                   cls), graph, bits, steps)
            per_model.append(atom_weights(mol, node, bit_attr, params))
            mass["graph"] += float(node.sum()) / len(ens.models) if node is not None else 0.0
            mass["morgan"] += float(bit_attr.sum()) / len(ens.models) if bit_attr is not None else 0.0
            scores.append(value)
            bases.append(base)
            gaps.append(gap)
            if two:  # the partner's atoms, the molecule held fixed
                psmi = table["value"].iat[j]
                pmol = mols[psmi]
                with torch.no_grad():
                    own = m.model.embed(task.roles[0].entity, _inputs(graph, bits, vocab))
                pnode, pbits, _, pbase, pgap = integrated_gradients(
                    enc_mol, _score_fn(m.model, spec, 1, _vocab_row(m, task.roles[1].entity, psmi), own, vocab, cls),
                    graphs.collate([g_row[psmi]]), _bits(pmol, params), steps)
                per_partner.append(atom_weights(pmol, pnode, pbits, params))
                pbases.append(pbase)
                gaps[-1] = (gap + pgap) / 2
        per_model = np.stack(per_model)
        out.append(Attribution(id=pid, smiles=smi, target_id=tid, score=float(np.mean(scores)),
                               baseline_score=float(np.mean(bases)), atom_weights=per_model.mean(0),
                               per_model=per_model, branches={k: v for k, v in mass.items() if v},
                               delta=float(np.mean(gaps)), cls=classes[cls] if cls is not None else "",
                               partner_smiles=table["value"].iat[j] if two else "",
                               partner_weights=np.mean(per_partner, 0) if two else None,
                               partner_baseline=float(np.mean(pbases)) if two else 0.0))
    return out


def _bits(mol, params):
    if not params:
        return None
    from theraflow.descriptors import morgan_bits_of_mols

    return torch.from_numpy(morgan_bits_of_mols([mol], **params)[0])


def _vocab_row(m, kind: str, smiles: str) -> int:
    vocab = m.vocab(kind) or []
    return vocab.index(smiles) if smiles in vocab else -1


def _inputs(graph, bits, vocab: int) -> dict:
    out = {"graphs": graph, "index": torch.tensor([vocab])}
    if bits is not None:
        out["morgan"] = bits.float()[None]
    return out


def attributions_table(attrs: Sequence[Attribution]) -> pd.DataFrame:
    """One row per pair: ids, scores, the completeness gap and the atom weights as text."""
    return pd.DataFrame([a.row() for a in attrs])


def attribution_png(smiles: str, weights: Sequence[float], *, size: tuple[int, int] = (320, 260),
                    legend: str = "") -> bytes:
    """The molecule's 2D depiction coloured by atom weight (RDKit similarity map: green up, pink down)."""
    from rdkit import Chem
    from rdkit.Chem.Draw import SimilarityMaps, rdMolDraw2D

    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise InputError(f"cannot draw {smiles!r}: RDKit cannot parse it")
    w = np.asarray(weights, dtype=float)
    if len(w) != mol.GetNumAtoms():
        raise InputError(f"{smiles!r} has {mol.GetNumAtoms()} atoms but {len(w)} weights were given")
    scale = float(np.abs(w).max()) or 1.0
    d = rdMolDraw2D.MolDraw2DCairo(*size)
    if legend:
        d.drawOptions().legendFontSize = 14
    SimilarityMaps.GetSimilarityMapFromWeights(mol, (w / scale).tolist(), draw2d=d, colorMap="PiYG",
                                               contourLines=6)
    d.FinishDrawing()
    return d.GetDrawingText()


def explain_stage(pairs_file: str | Path, model_dirs: Sequence[str | Path], outdir: str | Path, *,
                  top: int | None = None, steps: int = DEFAULT_STEPS, targets: str | Path | None = None,
                  progress: bool | None = None) -> dict:
    """Stage: attributions of the pairs in a table (id, smiles, target_id — a screen's ``topk.tsv`` works),
    written as ``attributions.tsv`` and one PNG per pair under ``png/`` (file names sanitized).

    ``top`` keeps the first N rows of each target (by ``rank`` when the table has one)."""
    from theraflow.io import atomic_write, read_table, safe_name, write_table
    from theraflow.pairs.scoring import load_ensemble, read_partners

    df = read_table(pairs_file, dtype={"id": str, "target_id": str})
    missing = [c for c in ("id", "smiles", "target_id") if c not in df]
    if missing:
        raise InputError(f"{pairs_file}: expected columns id, smiles and target_id; missing {', '.join(missing)}")
    if top is not None:
        if top < 1:
            raise InputError(f"top must be at least 1, got {top}")
        if "rank" in df:
            df = df.sort_values(["target_id", "rank"], kind="stable")
        df = df.groupby("target_id", sort=False).head(top)
    ens = load_ensemble(model_dirs)
    attrs = explain_pairs(df, ens, steps=steps, targets=read_partners(targets, ens.spec.task) if targets else None,
                          progress=progress)
    out = Path(outdir)
    table = attributions_table(attrs)
    table["png"] = [f"png/{safe_name(a.target_id)}__{safe_name(a.id)}.png" for a in attrs]
    for a, rel in zip(attrs, table["png"]):
        with atomic_write(out / rel) as fh:
            fh.write(attribution_png(a.smiles, a.atom_weights))
        if a.partner_weights is not None:
            with atomic_write(out / rel.replace(".png", "__partner.png")) as fh:
                fh.write(attribution_png(a.partner_smiles, a.partner_weights))
    write_table(table, out / "attributions.tsv")
    log.info("explained %d pairs into %s", len(attrs), out)
    return {"pairs": len(attrs), "outdir": str(out), "table": str(out / "attributions.tsv")}
