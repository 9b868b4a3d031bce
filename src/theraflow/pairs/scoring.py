"""Scoring molecules against partners with an ensemble of trained pair models — any task, any label kind.

The library molecules take a task's first role (a drug–target model's drug, a drug–drug model's first
drug); the partners the second (targets from FASTA or a table; panel drugs from a molecule table). By
default the partners are those the models trained on.

- Each partner is encoded once per model (:meth:`Ensemble.encode_partners`) and reused for every
  molecule; each molecule is encoded once per model; the pair head then runs on (molecule × partner).
- A score is the ensemble mean of the label kind's prediction — a value (regression), the probability
  of label 1 (binary), a class probability (multiclass: every class, or the most likely) — with its
  standard deviation over the models and an applicability-domain value: the molecule's maximum
  Tanimoto similarity (Morgan radius 2, 2048 bits) to the models' training molecules, flagged below a
  threshold.
- :func:`score_pairs` is the Python API and the ``theraflow <task> score`` command: molecules are
  standardized as the workflow's chemistry stage does, so both give the same answer for the same input
  (rejected molecules are returned with their reason). Tasks whose pairs have an order and join two
  molecules (drug–drug) are scored both ways round. The workflow's shard jobs
  (:mod:`theraflow.pairs.screen`) call the same :meth:`Ensemble.score_graphs`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from theraflow.errors import InputError
from theraflow.io import read_json
from theraflow.pairs.task import TaskSpec

log = logging.getLogger(__name__)

SCORE_COLUMNS = ["id", "smiles", "target_id", "class", "score_mean", "score_std", "ad_similarity", "ad_flag"]
DEFAULT_AD_THRESHOLD = 0.3


@dataclass
class LoadedModel:
    name: str
    model: torch.nn.Module
    meta: dict
    spec: TaskSpec
    checksum: str
    dir: Path | None = None  # where it was loaded from (the ONNX engines keep their exports there)

    def vocab(self, kind: str) -> list[str] | None:
        """The model's vocabulary of ``kind`` (a :class:`~theraflow.pairs.data.Vocabulary`: keys and keying)."""
        vocab = getattr(self.model, "vocab", None)
        if isinstance(vocab, dict) and kind in vocab:
            return vocab[kind]
        return (self.meta.get("vocab") or {}).get(kind)


@dataclass
class Encoded:
    """Partners encoded by each model: projected embeddings and rows in each model's vocabulary."""

    emb: list[torch.Tensor]
    index: list[torch.Tensor]
    table: pd.DataFrame  # id, value of each partner, in order


@dataclass
class Ensemble:
    models: list[LoadedModel]
    train_smiles: list[str]
    _train_fps: list = field(default_factory=list)
    engine: str = "torch"  # what runs the models (theraflow.registry.ENGINES)
    _runners: dict = field(default_factory=dict)

    def runner(self, j: int):
        """Model ``j``'s scoring calls through the ensemble's engine (made once)."""
        if j not in self._runners:
            from theraflow.pairs.engines import runner_for

            task = self.spec.task
            self._runners[j] = runner_for(self.engine, self.models[j], task.entity(task.roles[0]).name,
                                          self.models[j].dir)
        return self._runners[j]

    def engines_used(self) -> dict:
        """The engine asked for and, per model, what ran (``torch`` where the engine fell back, with why)."""
        models = []
        for j, m in enumerate(self.models):
            r = self._runners.get(j)
            row = {"model": m.name, "runs": r.runs if r else "not run yet"}
            if getattr(r, "fallback", None):
                row["fallback"] = r.fallback
            models.append(row)
        return {"engine": self.engine, "models": models}

    @property
    def spec(self) -> TaskSpec:
        return self.models[0].spec

    @property
    def featurizer(self) -> dict:
        return self.models[0].meta.get("featurizer") or {"name": "default"}

    def describe(self) -> list[dict]:
        return [{"name": m.name, "sha256": m.checksum, "seed": m.meta.get("seed"),
                 "epochs": m.meta.get("epochs_trained"), "split": m.meta.get("split_manifest", {}).get("name")}
                for m in self.models]

    # ---------------------------------------------------------------- partners (role b)
    def partner_table(self, partners: pd.DataFrame | None) -> pd.DataFrame:
        """Partners to score against (id, value): the given table, or every partner the models trained on."""
        task = self.spec.task
        role = task.roles[1]
        kind = task.entity(role)
        if partners is None:
            p = self.models[0].meta.get("partners") or {}
            return pd.DataFrame({"id": p.get("ids", []), "value": p.get("values", [])})
        t = partners.rename(columns={"target_id": "id", "sequence": "value", "smiles": "value"}).copy()
        if "id" not in t:
            raise InputError(f"partners: expected an id column (and {kind.value}); found {', '.join(t.columns)}")
        if "value" not in t:
            t["value"] = ""
        t["id"] = t["id"].astype(str)
        t["value"] = t["value"].fillna("").astype(str)
        trained = self.models[0].meta.get("partners") or {}
        known_value = dict(zip(trained.get("ids", []), trained.get("values", [])))
        blank = t["value"] == ""
        t.loc[blank, "value"] = t.loc[blank, "id"].map(known_value).fillna("")  # a trained partner, named by id
        if not kind.featurized:
            from theraflow.pairs.data import EntityTable

            entities = EntityTable(kind, t["id"].tolist(), t["value"].tolist())
            for m in self.models:
                rows = np.asarray(entities.with_vocabulary(m.vocab(kind.name)).vocab_index)
                reads = m.model.encoder(kind.name).reads_values
                if reads:
                    empty = t.loc[(t["value"] == "").to_numpy() & (rows < 0), "id"].tolist()
                    if empty:
                        raise InputError(f"model {m.name} reads {kind.value}s; no {kind.value} for {role.name}(s) "
                                         f"{empty[:5]}")
                else:
                    unknown = t.loc[rows < 0, "id"].tolist()
                    if unknown:
                        named = (m.meta.get("partners") or {}).get("ids") or m.vocab(kind.name) or []
                        raise InputError(f"model {m.name} knows {role.name}s by id only "
                                         f"({', '.join(map(str, named[:5]))}...); it cannot score {unknown[:5]}: "
                                         f"not a {role.name} it trained on (by {kind.value}, or by id where "
                                         f"none is given)")
        return t.drop_duplicates("id").reset_index(drop=True)

    def partner_identity(self, encoded: Encoded) -> list[dict]:
        """Per partner: whether each model trained on it (by its sequence or SMILES; by its id when it has
        neither) — ``known`` (every model), unseen (none) or partial (``models_known`` of ``models``) — with
        its id, name, length (residues) and the ids the models trained it under. An unseen partner is
        scored from its value alone (the models' unknown-entity vector and no fallback offset): said once
        per partner in the log. A sequence training gave under several ids (variants the data set told
        apart) but asked for under another name is unseen, with ``shares_sequence_with`` (those ids)."""
        from theraflow.pairs.data import EntityTable, variants_of

        task = self.spec.task
        role = task.roles[1]
        kind = task.entity(role)
        t = encoded.table
        n = len(self.models)
        known = np.stack([np.asarray(ix) >= 0 for ix in encoded.index]) if n else np.zeros((0, len(t)), bool)
        trained_as: list[dict[int, list[str]]] = []
        for m in self.models:
            by_row: dict[int, list[str]] = {}
            p = m.meta.get("partners") or {}
            if p.get("ids"):
                values = list(p.get("values") or [])
                values += [""] * (len(p["ids"]) - len(values))
                ptab = EntityTable(kind, [str(x) for x in p["ids"]], [str(v or "") for v in values])
                for i, r in zip(ptab.ids, np.asarray(ptab.with_vocabulary(m.vocab(kind.name)).vocab_index)):
                    if r >= 0:
                        by_row.setdefault(int(r), []).append(i)
            trained_as.append(by_row)
        out = []
        for i in range(len(t)):
            pid, value = str(t["id"].iat[i]), str(t["value"].iat[i])
            name = str(t["name"].iat[i]) if "name" in t and str(t["name"].iat[i]) not in ("", "nan") else pid
            k = int(known[:, i].sum())
            names = sorted({x for j in range(n) if known[j, i]
                            for x in trained_as[j].get(int(encoded.index[j][i]), [])})
            length = len("".join(value.split())) if kind.value == "sequence" and value else None
            entry = {"id": pid, "name": name, "length": length, "known": k == n, "models_known": k,
                     "models": n, "trained_as": names}
            shares = sorted({x for j, m in enumerate(self.models) if not known[j, i]
                             for x in variants_of(m.vocab(kind.name), value)})
            if shares:
                entry["shares_sequence_with"] = shares
            out.append(entry)
            if shares:
                log.warning("%s %s is unseen by %s: training gave its sequence under %d ids the data set told "
                            "apart (%s%s), and %r is not one of them; scored from its sequence alone. Name it as "
                            "one of them to use what the model learned of that one",
                            role.name, pid if name == pid else f"{pid} ({name})",
                            "every model" if k == 0 else f"{n - k} of {n} models", len(shares),
                            ", ".join(shares[:5]), ", …" if len(shares) > 5 else "", pid)
            elif k < n:
                what = f"its sequence ({length} residues)" if length else f"its {kind.value}" if value else "its id"
                log.warning("%s %s is unseen by %s (not a %s it trained on): scored from %s alone",
                            role.name, pid if name == pid else f"{pid} ({name})",
                            "every model" if k == 0 else f"{n - k} of {n} models", kind.value if value else "name",
                            what)
        return out

    @torch.no_grad()
    def encode_partners(self, partners: pd.DataFrame, store=None) -> Encoded:
        """Each model's projected embedding of every partner (and its row in the model's vocabulary), once."""
        from theraflow.pairs.data import EntityTable

        task = self.spec.task
        kind = task.entity(task.roles[1])
        graphs = None
        if kind.featurized:
            from theraflow.chem.featurize import featurize

            feat = self.featurizer
            res = featurize(partners["value"].tolist(), feat.get("name", "default"), store=store,
                            params=feat.get("params") or {})
            if res.errors:
                bad = partners["id"].iat[next(iter(res.errors))]
                raise InputError(f"partner {bad!r} could not be featurized ({next(iter(res.errors.values()))})")
            graphs = res.graphs
        base = EntityTable(kind, partners["id"].tolist(), partners["value"].tolist(), graphs)
        emb, rows = [], []
        for m in self.models:
            table = base.with_vocabulary(m.vocab(kind.name))
            inputs = table.tensors(np.arange(len(table)), m.model.needs()[kind.name])
            emb.append(m.model.embed(kind.name, inputs))
            rows.append(torch.from_numpy(np.asarray(table.vocab_index)))
        return Encoded(emb, rows, partners)

    # --------------------------------------------------------------- molecules (role a)
    @torch.no_grad()
    def score_graphs(self, graphs, partners: Encoded, chunk: int = 128) -> np.ndarray:
        """[n_models, n_molecules, n_partners(, n_classes)] predictions of the label kind."""
        from theraflow.pairs.data import EntityTable

        task, label = self.spec.task, self.spec.label
        kind = task.entity(task.roles[0])
        if not kind.featurized:
            raise InputError(f"task {task.name}: scoring needs molecules in the first role")
        n, n_p = len(graphs), len(partners.table)
        k = self.spec.n_out if label.name == "multiclass" else None
        out = np.empty((len(self.models), n, n_p, *((k,) if k else ())), dtype=np.float32)
        needs = [m.model.needs()[kind.name] for m in self.models]
        union: dict = {}
        for x in needs:
            union.update(x)
        smiles = graphs.smiles or []
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            rows = np.arange(start, stop)
            chunk_table = EntityTable(kind, [str(i) for i in rows], list(smiles[start:stop]), graphs.take(rows))
            shared = chunk_table.tensors(np.arange(stop - start), {k2: v for k2, v in union.items() if k2 != "index"})
            for j, m in enumerate(self.models):
                run = self.runner(j)
                vocab = chunk_table.with_vocabulary(m.vocab(kind.name)).vocab_index
                inputs = {**shared, "index": torch.from_numpy(np.asarray(vocab))}
                pa = run.embed(inputs)
                # rows per step so that the hidden activations stay near 16M floats (~64 MB)
                step = max(1, (16 << 20) // max(1, n_p * m.model.head.mlp[0].out_features))
                for a in range(0, len(pa), step):
                    grid = run.grid(pa[a : a + step], partners.emb[j], inputs["index"][a : a + step],
                                    partners.index[j])
                    out[j, start + a : start + min(len(pa), a + step)] = label.predict(grid)
        return out

    def applicability(self, mols: Sequence) -> np.ndarray:
        """Max Tanimoto similarity of each molecule to the training molecules."""
        return self.applicability_fps([fingerprint(m) if m is not None else None for m in mols])

    def applicability_fps(self, fps: Sequence) -> np.ndarray:
        """The same from precomputed Morgan fingerprints (radius 2, 2048 bits; see :func:`fingerprint`)."""
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
    global _MORGAN
    if _MORGAN is None:
        from rdkit.Chem import rdFingerprintGenerator

        _MORGAN = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    return _MORGAN.GetFingerprint(mol)


def fingerprints(smiles: Sequence[str]) -> list:
    """:func:`fingerprint` of each SMILES; None where RDKit cannot parse it."""
    from rdkit import Chem, rdBase

    with rdBase.BlockLogs():
        return [None if (mol := Chem.MolFromSmiles(s)) is None else fingerprint(mol) for s in smiles]


def load_ensemble(model_dirs: Sequence[str | Path], engine: str = "torch") -> Ensemble:
    """Load trained models (one per seed, say) of one task and label kind that share a featurizer; ``engine``
    runs them when they score molecules (:mod:`theraflow.pairs.engines`)."""
    from theraflow.registry import ENGINES

    ENGINES.get(engine)  # an unknown name stops here, naming the known ones
    from theraflow.pairs.train import load_model

    if not model_dirs:
        raise InputError("no model directories given")
    models, train_smiles = [], []
    for d in map(Path, model_dirs):
        model, meta, spec = load_model(d)
        checksum = hashlib.sha256((d / "model.safetensors").read_bytes()).hexdigest()
        models.append(LoadedModel(name=f"{d.parent.name}/{d.name}" if d.name.startswith("seed") else d.name,
                                  model=model, meta=meta, spec=spec, checksum=checksum, dir=d))
        drugs = d / "train_drugs.smi"
        if drugs.exists():
            train_smiles.extend(line.split()[0] for line in drugs.read_text().splitlines() if line.strip())
    first = models[0]
    for m in models[1:]:
        if (m.spec.task.name, m.spec.label.name, m.spec.classes) != (first.spec.task.name, first.spec.label.name,
                                                                     first.spec.classes):
            raise InputError(f"models {first.name} and {m.name} predict different things ({m.spec.describe()} vs "
                             f"{first.spec.describe()}): they cannot form one ensemble")
        if m.meta.get("featurizer") != first.meta.get("featurizer"):
            raise InputError(f"models {first.name} and {m.name} use different featurizers; they cannot form one "
                             "ensemble")
    if not train_smiles:
        log.warning("no train_drugs.smi next to the models: applicability-domain values will be 0")
    return Ensemble(models, sorted(set(train_smiles)), engine=engine)


def scores_frame(ids: Sequence[str], smiles: Sequence[str], partners: pd.DataFrame, pred: np.ndarray,
                 ad: np.ndarray, ad_threshold: float, spec: TaskSpec) -> pd.DataFrame:
    """Long table, one row per (molecule, partner): the ranking score (ensemble mean of the label kind's
    prediction; multiclass: the probability of the most likely class, named in ``class``) and its sd."""
    n, n_p = pred.shape[1], pred.shape[2]
    mean = pred.mean(axis=0)
    std = pred.std(axis=0, ddof=1) if pred.shape[0] > 1 else np.zeros_like(mean)
    if spec.label.name == "multiclass":
        top = mean.argmax(axis=-1)
        cls = np.asarray(spec.classes, dtype=object)[top].reshape(-1)
        mean = np.take_along_axis(mean, top[..., None], -1)[..., 0]
        std = np.take_along_axis(std, top[..., None], -1)[..., 0]
    else:
        cls = np.full(n * n_p, "", dtype=object)
    return pd.DataFrame({
        "id": np.repeat(np.asarray(ids, dtype=object), n_p),
        "smiles": np.repeat(np.asarray(smiles, dtype=object), n_p),
        "target_id": np.tile(partners["id"].to_numpy(dtype=object), n),
        "class": cls,
        "score_mean": mean.reshape(-1),
        "score_std": std.reshape(-1),
        "ad_similarity": np.repeat(ad, n_p),
        "ad_flag": np.repeat(ad < ad_threshold, n_p),
    })


def standardize_options(ensemble: Ensemble | None = None):
    """The standardization of a model's molecules: the options its chemistry stage recorded (``model.json``'s
    ``standardize``), else the workflow's defaults; without an InChIKey (scoring needs none)."""
    from dataclasses import fields

    from theraflow.chem.standardize import StandardizeOptions

    recorded = (ensemble.models[0].meta.get("standardize") or {}) if ensemble is not None else {}
    known = {f.name for f in fields(StandardizeOptions)}
    return StandardizeOptions(**{**{k: v for k, v in recorded.items() if k in known}, "inchikey": False})


def standardized(table: pd.DataFrame, what: str, options=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Standardize (id, smiles[, name]) records with the workflow's function and options
    (:func:`theraflow.chem.standardize.standardize`); rejects keep the id, the stage, the reason and its
    ``kind`` (:func:`theraflow.chem.standardize.reject_category`: "no carbon fragment", "over 150 heavy
    atoms", ..., the reasons the workflow counts by)."""
    from theraflow.chem.standardize import reject_category, standardize

    if not {"id", "smiles"} <= set(table.columns):
        raise InputError(f"{what}: expected columns id, smiles (and optionally name); found {', '.join(table.columns)}")
    records = pd.DataFrame({"record": np.arange(1, len(table) + 1), "id": table["id"].astype(str),
                            "input": table["smiles"].astype(str), "kind": "smiles"})
    kept, rejects = standardize(records, options or standardize_options())
    names = dict(zip(table["id"].astype(str), table["name"].astype(str))) if "name" in table else {}
    kept["name"] = [names.get(i, i) for i in kept["id"]]
    rejects.insert(0, "set", what)
    rejects["kind"] = [reject_category(st, r) for st, r in zip(rejects["stage"], rejects["reason"])]
    return kept, rejects


@torch.no_grad()
def score_pairs(molecules: pd.DataFrame, ensemble: Ensemble | Sequence[str | Path], *,
                partners: pd.DataFrame | None = None, store: str | Path | None = None, top_k: int = 3,
                ad_threshold: float = DEFAULT_AD_THRESHOLD) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(scores, rejects) of molecules (id, smiles[, name]) against partners; see the module docstring.
    ``scores.attrs["partners"]``: whether the models trained on each partner (:meth:`Ensemble.partner_identity`).

    Columns: molecule, partner, order (``molecule → partner``; for ordered pairs of two molecules also
    ``partner → molecule``), rank and class (multiclass: the ``top_k`` most likely classes, each with
    its description filled with the two names), score (value or probability), score_sd, interval (a
    probability's ensemble spread kept within [0, 1]), ad_similarity, ad_flag."""
    from theraflow.chem.featurize import featurize

    ens = ensemble if isinstance(ensemble, Ensemble) else load_ensemble(ensemble)
    spec, task = ens.spec, ens.spec.task
    options = standardize_options(ens)  # as the models' molecules were: one standardization, one rejection path
    mols, rejects = standardized(molecules, "molecules", options)
    partner_kind = task.entity(task.roles[1])
    if partners is not None and partner_kind.featurized:
        pan = partners.rename(columns={"value": "smiles"})
        pan, rej_p = standardized(pan, "partners", options)
        rejects = pd.concat([rejects, rej_p], ignore_index=True)
        partners = pan.rename(columns={"smiles": "value"})[["id", "value", "name"]]
    p_table = ens.partner_table(partners)
    if p_table.empty:
        raise InputError("nothing to score against: no partner could be standardized")
    feat = ens.featurizer
    res = featurize(mols["smiles"].tolist(), feat.get("name", "default"), store=store, params=feat.get("params") or {})
    failed = pd.DataFrame([("molecules", mols["id"].iat[i], mols["record"].iat[i], mols["smiles"].iat[i],
                            "featurize", why, "featurization failed") for i, why in res.errors.items()],
                          columns=["set", "id", "record", "input", "stage", "reason", "kind"])
    rejects = pd.concat([rejects, failed], ignore_index=True)
    mols = mols.iloc[res.index].reset_index(drop=True)
    if mols.empty:
        raise InputError("nothing to score: no molecule could be standardized and featurized")
    enc = ens.encode_partners(p_table, store)
    identity = ens.partner_identity(enc)
    pred = ens.score_graphs(res.graphs, enc)  # [models, n, p(, k)]
    orders = [("molecule → partner", pred)]
    if task.ordered and task.same_kind:
        # the other order: each partner in the first role, the molecule in the second
        rev = Ensemble(ens.models, ens.train_smiles, ens._train_fps)
        mol_table = pd.DataFrame({"id": mols["id"], "value": mols["smiles"]})
        enc_mols = rev.encode_partners(mol_table, store)
        p_graphs = featurize(p_table["value"].tolist(), feat.get("name", "default"), store=store,
                             params=feat.get("params") or {}).graphs
        back = rev.score_graphs(p_graphs, enc_mols)  # [models, p, n(, k)]
        orders.append(("partner → molecule", np.swapaxes(back, 1, 2)))
    ad = ens.applicability([_mol(s) for s in mols["smiles"]])
    names_m = mols["name"].tolist()
    names_p = (p_table["name"] if "name" in p_table else p_table["id"]).astype(str).tolist()
    rows = []
    for order, p in orders:
        mean = p.mean(axis=0)
        sd = p.std(axis=0, ddof=1) if p.shape[0] > 1 else np.full_like(mean, np.nan)
        for i in range(mean.shape[0]):
            for j in range(mean.shape[1]):
                base = (mols["id"].iat[i], p_table["id"].iat[j], order)
                common = (float(ad[i]), bool(ad[i] < ad_threshold))
                if spec.label.name == "multiclass":
                    top = np.argsort(-mean[i, j])[: min(top_k, mean.shape[-1])]
                    first, second = (names_m[i], names_p[j]) if order.startswith("molecule") else (names_p[j],
                                                                                                 names_m[i])
                    for rank, c in enumerate(top, start=1):
                        cls = spec.classes[c]
                        rows.append((*base, rank, cls, float(mean[i, j, c]), float(sd[i, j, c]),
                                     fill_description(spec.descriptions.get(cls, ""), first, second), *common))
                else:
                    rows.append((*base, 1, "", float(mean[i, j]), float(sd[i, j]), "", *common))
    scores = pd.DataFrame(rows, columns=["molecule", "partner", "order", "rank", "class", "score", "score_sd",
                                         "description", "ad_similarity", "ad_flag"])
    if spec.label.probability:
        lo, hi = probability_spread(scores["score"].to_numpy(), scores["score_sd"].to_numpy())
        scores["low"], scores["high"] = lo, hi
    scores = scores.sort_values(["rank", "score"], ascending=[True, False], kind="stable").reset_index(drop=True)
    scores.attrs["partners"] = identity  # known / unseen per partner (Ensemble.partner_identity)
    return scores, rejects


def probability_spread(p: np.ndarray, sd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """mean ± sd of an ensemble's probabilities, kept within [0, 1] (no interval leaves it)."""
    sd = np.nan_to_num(sd, nan=0.0)
    return np.clip(p - sd, 0.0, 1.0), np.clip(p + sd, 0.0, 1.0)


def _mol(smiles: str):
    from rdkit import Chem, rdBase

    with rdBase.BlockLogs():
        return Chem.MolFromSmiles(smiles)


def fill_description(template: str, first: str, second: str) -> str:
    """A class's sentence with the two entities named ("#Drug1 can increase ... #Drug2")."""
    if not template:
        return ""
    return template.replace("#Drug1", first).replace("#Drug2", second)


def read_targets(path: str | Path) -> pd.DataFrame:
    """Targets from FASTA (id = first word of the header, name = the rest, if any) or a table (target_id[,
    sequence, name]). An id (a name) is a label: models know a target by its sequence."""
    from theraflow.io import read_table

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.suffix.lower() in (".fasta", ".fa", ".faa"):
        rows, name, label, seq = [], None, "", []
        for n, line in enumerate(path.read_text().splitlines(), start=1):
            line = line.strip()
            if line.startswith(">"):
                if name is not None:
                    rows.append((name, "".join(seq), label))
                words = line[1:].split(maxsplit=1)
                name = words[0] if words else ""
                if not name:
                    raise InputError(f"{path}: line {n}: FASTA header without an id")
                label = words[1].strip() if len(words) > 1 else name
                seq = []
            elif line:
                if name is None:
                    raise InputError(f"{path}: line {n}: sequence before the first '>' header")
                seq.append(line.replace(" ", ""))
        if name is not None:
            rows.append((name, "".join(seq), label))
        if not rows:
            raise InputError(f"{path}: no FASTA records")
        df = pd.DataFrame(rows, columns=["target_id", "sequence", "name"])
    else:
        df = read_table(path)
        if "target_id" not in df:
            raise InputError(f"{path}: expected a target_id column (and optionally sequence); columns are "
                             f"{', '.join(map(str, df.columns))}")
    dup = df["target_id"][df["target_id"].duplicated()]
    if len(dup):
        raise InputError(f"{path}: target id {dup.iloc[0]!r} appears twice")
    return df


def read_drug_table(path: str | Path) -> pd.DataFrame:
    """Molecules from a .smi file (SMILES, then id) or a table with id, smiles[, name]."""
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


def read_partners(path: str | Path, task) -> pd.DataFrame:
    """A task's partners (its second role): targets from FASTA/a table for proteins, a molecule table or .smi
    for molecules; columns id, value[, name]."""
    from theraflow.registry import TASKS

    task = TASKS.get(task) if isinstance(task, str) else task
    kind = task.entity(task.roles[1])
    if kind.featurized:
        t = read_drug_table(path)
        return t.rename(columns={"smiles": "value"})
    t = read_targets(path)
    return t.rename(columns={"target_id": "id", "sequence": "value"})


def model_card_info(model_dirs: Sequence[str | Path]) -> dict:
    """What the report shows about the models: card text, split protocol, test metrics."""
    info = {"models": []}
    for d in map(Path, model_dirs):
        meta = read_json(d / "model.json")
        entry = {"dir": str(d), "name": meta["model_config"].get("name", d.name), "seed": meta.get("seed"),
                 "split": meta.get("split_manifest", {}), "epochs": meta.get("epochs_trained"),
                 "train_seconds": meta.get("train_seconds"), "device": meta.get("device")}
        metrics = d / "metrics.json"
        if metrics.exists():
            entry["metrics"] = read_json(metrics).get("parts", {})
        info["models"].append(entry)
    return info
