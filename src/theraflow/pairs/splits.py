"""Train/validation/test splits of pair tables over the task's roles, saved with a manifest and an audit.

A task's two roles (:mod:`theraflow.pairs.task`) each have an id column and a key column saying when
two rows name the same entity (a molecule's standardized SMILES; a target's sequence, its id where it
has none). For tasks of two entities of one kind (drug–drug) "unseen" means unseen in either role.

Kinds (declared in :mod:`theraflow.pairs.split_kinds`; ``make_split`` dispatches by name):

- ``setting1``: DeepDTA's given folds. Test is the test fold; validation is carved from the train
  folds (a random ``valid_frac`` of them, or one whole fold with ``valid_fold``), never from the test fold.
- ``given``: the parts the data set came with; validation carved from train when none was given.
- ``random``: pairs shuffled into test / valid / train; for tasks of two molecules whole unordered
  pairs move together (both orders and every label of one pair).
- ``cold_drug`` / ``cold_target``: entities of one role (grouped by key: identical sequences under
  two target ids stay in one part) never seen in training appear in valid/test.
- ``cold_both`` (``both_unseen`` for two entities of one kind): a ``test_frac``/``valid_frac`` share
  of the entities is held out; test pairs join held-out entities only; pairs joining a held-out entity
  with a training one are left out ("unused").
- ``one_unseen`` (two entities of one kind): test pairs join one held-out entity with a training one;
  pairs of two held-out entities are unused.
- ``scaffold``: Bemis–Murcko scaffold groups of the first molecule role, largest groups to train
  (DeepChem's rule), the rarest scaffolds to test.

Every split is saved as ``<name>.parquet`` (pair_id, part), ``<name>.manifest.json`` (kind, parameters,
counts, checksum of the pair table) and ``<name>.audit.json``: entities, keys and scaffolds shared
across parts, groups straddling parts, the nearest-neighbour Tanimoto similarity (Morgan radius 2,
2048 bits) of valid/test molecules to training ones and, given the label kind, the shortcut audit
(``shortcut``: the entity-frequency baseline on valid/test; :mod:`theraflow.pairs.shortcut`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from theraflow.io import write_json, write_table
from theraflow.pairs.entity_keys import Entity, entity_key, roles_of  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)

PARTS = ("train", "valid", "test")


def pairs_checksum(pairs: pd.DataFrame) -> str:
    cols = [c for c in pairs.columns if c not in ("pair_id", "line", "file", "given_part", "pair_index", "group", "part")]
    h = hashlib.sha256()
    h.update(pd.util.hash_pandas_object(pairs[cols], index=False).to_numpy().tobytes())
    return h.hexdigest()


def scaffold_of(smiles: str) -> str:
    from rdkit import Chem, rdBase
    from rdkit.Chem.Scaffolds import MurckoScaffold

    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return f"unparsable:{smiles}"
    return MurckoScaffold.MurckoScaffoldSmiles(mol=mol)


def _group_assign(groups: pd.Series, test_frac: float, valid_frac: float, rng) -> pd.Series:
    """Assign whole groups to test/valid/train by pair counts, in random group order."""
    sizes = groups.value_counts()
    order = rng.permutation(sizes.index.to_numpy())
    total = len(groups)
    part_of: dict = {}
    n_test = n_valid = 0
    for g in order:
        if n_test < test_frac * total:
            part_of[g] = "test"
            n_test += sizes[g]
        elif n_valid < valid_frac * total:
            part_of[g] = "valid"
            n_valid += sizes[g]
        else:
            part_of[g] = "train"
    return groups.map(part_of)


def _entity_assign(entities: Sequence, test_frac: float, valid_frac: float, rng) -> dict:
    ents = rng.permutation(np.asarray(sorted(set(entities)), dtype=object))
    n = len(ents)
    n_test = max(1, int(round(test_frac * n)))
    n_valid = max(1, int(round(valid_frac * n))) if valid_frac > 0 else 0
    out = {e: "test" for e in ents[:n_test]}
    out.update({e: "valid" for e in ents[n_test : n_test + n_valid]})
    out.update({e: "train" for e in ents[n_test + n_valid :]})
    return out


def make_split(pairs: pd.DataFrame, kind: str, task, *, seed: int = 0, test_frac: float = 0.1,
               valid_frac: float = 0.1, folds: tuple[list[list[int]], list[int]] | None = None,
               valid_fold: int | None = None) -> pd.Series:
    """The part ("train", "valid", "test" or "unused") of every pair, as a Series."""
    from theraflow.pairs.split_kinds import not_applicable
    from theraflow.registry import SPLITS

    why = not_applicable(task, kind, has_folds=folds is not None if kind == "setting1" else None,
                         has_given="given_part" in pairs if kind == "given" else None)
    if why:
        raise ValueError(why)
    rng = np.random.default_rng(seed)
    part = pd.Series("train", index=pairs.index, dtype=object)
    fn = SPLITS.get(kind)
    part[:] = fn(pairs, task, rng, test_frac=test_frac, valid_frac=valid_frac, folds=folds, valid_fold=valid_fold)
    counts = part.value_counts().to_dict()
    log.info("split %s: %s", kind, ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if counts.get("train", 0) == 0 or counts.get("test", 0) == 0:
        raise ValueError(f"split {kind!r} left no training or no test pairs ({counts}); "
                         "the data set is too small for these fractions")
    return part


def _random(pairs, task, rng, test_frac, valid_frac) -> np.ndarray:
    group = task.group_key(pairs)
    if group is not None:
        return _group_assign(group, test_frac, valid_frac, rng).to_numpy()
    n = len(pairs)
    part = np.full(n, "train", dtype=object)
    perm = rng.permutation(n)
    n_test, n_valid = int(round(test_frac * n)), int(round(valid_frac * n))
    part[perm[:n_test]] = "test"
    part[perm[n_test : n_test + n_valid]] = "valid"
    return part


def random_split(pairs, task, rng, *, test_frac, valid_frac, **_) -> np.ndarray:
    return _random(pairs, task, rng, test_frac, valid_frac)


def setting1_split(pairs, task, rng, *, valid_frac, folds, valid_fold=None, **_) -> np.ndarray:
    if folds is None or "pair_index" not in pairs:
        raise ValueError("setting1 needs DeepDTA folds and a pair table with pair_index")
    train_folds, test_fold = folds
    pos = pd.Series(np.arange(len(pairs)), index=pairs["pair_index"].to_numpy())
    part = np.full(len(pairs), "unused", dtype=object)
    part[pos.loc[test_fold].to_numpy()] = "test"
    train_pos = pos.loc[[i for f in train_folds for i in f]].to_numpy()
    part[train_pos] = "train"
    if valid_fold is not None:
        part[pos.loc[train_folds[valid_fold]].to_numpy()] = "valid"
    else:
        chosen = rng.choice(train_pos, size=int(round(valid_frac * len(train_pos))), replace=False)
        part[chosen] = "valid"
    return part


def given_split(pairs, task, rng, *, valid_frac, **_) -> np.ndarray:
    """The given parts; without a given validation part, ``valid_frac`` of the given train part (whole
    unordered pairs for tasks of two molecules) becomes validation. The test part is as given."""
    part = pairs["given_part"].astype(object).to_numpy().copy()
    if not (part == "valid").any():
        train = np.nonzero(part == "train")[0]
        carved = _random(pairs.iloc[train], task, rng, 0.0, valid_frac)
        part[train] = carved
    return part


def _cold(pairs, task, rng, role: int, test_frac, valid_frac) -> np.ndarray:
    return _group_assign(entity_key(pairs, roles_of(task)[role]), test_frac, valid_frac, rng).to_numpy()


def cold_drug_split(pairs, task, rng, *, test_frac, valid_frac, **_) -> np.ndarray:
    role = next(i for i, r in enumerate(task.roles) if task.entity(r).featurized)
    return _cold(pairs, task, rng, role, test_frac, valid_frac)


def cold_target_split(pairs, task, rng, *, test_frac, valid_frac, **_) -> np.ndarray:
    role = next(i for i, r in enumerate(task.roles) if task.entity(r).name == "protein")
    return _cold(pairs, task, rng, role, test_frac, valid_frac)


def _held_out(pairs, task, rng, test_frac, valid_frac) -> tuple[np.ndarray, np.ndarray]:
    a, b = roles_of(task)
    ka, kb = entity_key(pairs, a), entity_key(pairs, b)
    if task.same_kind:  # one set of held-out entities, whichever role they appear in
        assign = _entity_assign(pd.concat([ka, kb]), test_frac, valid_frac, rng)
        return ka.map(assign).to_numpy(), kb.map(assign).to_numpy()
    return (ka.map(_entity_assign(ka, test_frac, valid_frac, rng)).to_numpy(),
            kb.map(_entity_assign(kb, test_frac, valid_frac, rng)).to_numpy())


def cold_both_split(pairs, task, rng, *, test_frac, valid_frac, **_) -> np.ndarray:
    pa, pb = _held_out(pairs, task, rng, test_frac, valid_frac)
    return np.where(pa == pb, pa, "unused")


both_unseen_split = cold_both_split


def one_unseen_split(pairs, task, rng, *, test_frac, valid_frac, **_) -> np.ndarray:
    pa, pb = _held_out(pairs, task, rng, test_frac, valid_frac)
    held = np.where(pa != "train", pa, pb)  # the held-out part of the pair, if any
    one = (pa == "train") != (pb == "train")
    return np.where((pa == "train") & (pb == "train"), "train", np.where(one, held, "unused"))


def scaffold_split(pairs, task, rng, *, test_frac, valid_frac, **_) -> np.ndarray:
    mol = next(e for e in roles_of(task) if e.molecule)
    n = len(pairs)
    scaffolds = pairs[mol.key].map({s: scaffold_of(s) for s in pairs[mol.key].unique()})
    sizes = scaffolds.value_counts()
    # DeepChem's ScaffoldSplitter: biggest scaffold sets first into train, then valid, then test
    order = sorted(sizes.index, key=lambda s: (-sizes[s], s))
    train_cut, valid_cut = (1 - test_frac - valid_frac) * n, (1 - test_frac) * n
    part_of, filled = {}, 0
    for s in order:
        if filled + sizes[s] <= train_cut:
            part_of[s] = "train"
        elif filled + sizes[s] <= valid_cut:
            part_of[s] = "valid"
        else:
            part_of[s] = "test"
        filled += sizes[s]
    return scaffolds.map(part_of).to_numpy()


def _fingerprints(smiles: Sequence[str]):
    from rdkit import Chem, rdBase
    from rdkit.Chem import rdFingerprintGenerator

    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    with rdBase.BlockLogs():
        mols = [Chem.MolFromSmiles(s) for s in smiles]
    return [gen.GetFingerprint(m) if m is not None else None for m in mols]


def nearest_neighbour_similarity(query: Sequence[str], reference: Sequence[str]) -> np.ndarray:
    """Max Tanimoto similarity (Morgan r=2, 2048 bits) of each query SMILES to the reference."""
    from rdkit import DataStructs

    ref = [f for f in _fingerprints(reference) if f is not None]
    out = np.full(len(query), np.nan)
    if not ref:
        return out
    for i, fp in enumerate(_fingerprints(query)):
        if fp is not None:
            out[i] = max(DataStructs.BulkTanimotoSimilarity(fp, ref))
    return out


def _distribution(values: np.ndarray) -> dict:
    v = values[~np.isnan(values)]
    if len(v) == 0:
        return {"n": 0}
    q = np.quantile(v, [0, 0.05, 0.25, 0.5, 0.75, 0.95, 1])
    hist, edges = np.histogram(v, bins=np.linspace(0, 1, 11))
    return {"n": int(len(v)), "min": q[0], "p05": q[1], "p25": q[2], "median": q[3], "p75": q[4],
            "p95": q[5], "max": q[6], "mean": float(v.mean()), "fraction_identical": float(np.mean(v >= 0.999)),
            "histogram": {"edges": [round(e, 2) for e in edges], "counts": hist.tolist()}}


def audit_split(pairs: pd.DataFrame, part: pd.Series, task, spec=None) -> dict:
    """What the parts share: entities (by id and by key), scaffolds, groups, and molecule similarity;
    with ``spec`` (the task with its label kind) also the shortcut audit of the labels (``shortcut``)."""
    audit = _leakage(pairs, part, task)
    if spec is not None and "label" in pairs:
        from theraflow.pairs.shortcut import measure_shortcut

        audit["shortcut"] = measure_shortcut(spec, pairs, np.asarray(part, dtype=object))
        if audit["shortcut"]["flag"]:
            log.warning("split audit: %s", audit["shortcut"]["sentence"])
    return audit


def _leakage(pairs: pd.DataFrame, part: pd.Series, task) -> dict:
    a, b = roles_of(task)
    same_kind = task.same_kind
    group = task.group_key(pairs)
    if group is not None:
        pairs = pairs.assign(group=group.to_numpy())
        group = "group"
    parts = {p: pairs[part == p] for p in PARTS}
    audit: dict = {"pairs": {p: int(len(df)) for p, df in parts.items()},
                   "unused_pairs": int((part == "unused").sum())}
    sets: dict = {}
    entities = (a, b) if not same_kind else (a,)
    for e in entities:
        cols = [a, b] if same_kind else [e]
        name = e.name
        ids = {p: set().union(*(set(df[c.id].astype(str)) for c in cols)) for p, df in parts.items()}
        keys = {p: set().union(*(set(entity_key(df, c)) for c in cols)) for p, df in parts.items()}
        sets[f"{name}s"] = ids
        sets[f"{name}_{'structures' if e.molecule else 'keys'}"] = keys
        if e.molecule:
            scaffold = {s: scaffold_of(s) for s in set().union(*(set(pairs[c.key]) for c in cols))}
            sets["scaffolds"] = {p: {scaffold[s] for c in cols for s in df[c.key]} for p, df in parts.items()}
    if group is not None:
        sets["groups"] = {p: set(df[group]) for p, df in parts.items()}
    for name, by_part in sets.items():
        audit[name] = {"count": {p: len(v) for p, v in by_part.items()},
                       "shared": {f"{x}&{y}": len(by_part[x] & by_part[y])
                                  for x, y in (("train", "valid"), ("train", "test"), ("valid", "test"))}}
    if not same_kind and not b.molecule and b.key in pairs:
        # identical sequences under different target ids in different parts
        seq_ids = pairs[pairs[b.key].astype(bool)].groupby(b.key)[b.id].unique()
        id_part = {p: set(df[b.id]) for p, df in parts.items()}
        cross = 0
        for ids in seq_ids:
            if len(ids) > 1:
                in_parts = {p for p in PARTS for i in ids if i in id_part[p]}
                cross += len(in_parts) > 1
        audit[f"{b.name}_keys"]["identical_across_parts_under_other_ids"] = int(cross)
    mol = next((e for e in (a, b) if e.molecule), None)
    if mol is None:
        return audit
    mol_cols = [a, b] if same_kind else [mol]
    structures = {p: sorted(set().union(*(set(df[c.key]) for c in mol_cols))) for p, df in parts.items()}
    for p in ("valid", "test"):
        audit[f"nn_tanimoto_{p}_to_train"] = _distribution(nearest_neighbour_similarity(structures[p],
                                                                                        structures["train"]))
    return audit


def save_split(pairs: pd.DataFrame, part: pd.Series, outdir: str | Path, name: str, *, kind: str,
               params: dict, task, audit: bool = True, spec=None) -> dict:
    """Write ``name``.parquet, .manifest.json and .audit.json under ``outdir`` (with the shortcut audit
    when ``spec``, the task with its label kind, is given); return the manifest."""
    outdir = Path(outdir)
    table = pd.DataFrame({"pair_id": pairs["pair_id"].to_numpy() if "pair_id" in pairs else np.arange(len(pairs)),
                          "part": part.to_numpy()})
    write_table(table, outdir / f"{name}.parquet")
    manifest = {"name": name, "kind": kind, "params": params, "pairs_sha256": pairs_checksum(pairs),
                "counts": {k: int(v) for k, v in part.value_counts().sort_index().items()}}
    write_json(outdir / f"{name}.manifest.json", manifest)
    if audit:
        write_json(outdir / f"{name}.audit.json", audit_split(pairs, part, task, spec=spec))
    return manifest


def load_split(path: str | Path, pairs: pd.DataFrame) -> pd.Series:
    """The part of each pair from a saved split, checked against the pair table."""
    from theraflow.errors import InputError
    from theraflow.io import read_json

    path = Path(path)
    table = pd.read_parquet(path)
    manifest_path = path.with_name(path.name.replace(".parquet", ".manifest.json"))
    if manifest_path.exists():
        manifest = read_json(manifest_path)
        if manifest.get("pairs_sha256") != pairs_checksum(pairs):
            raise InputError(f"{path}: this split was made for a different pair table (checksum differs)")
    ids = pairs["pair_id"] if "pair_id" in pairs else pd.Series(np.arange(len(pairs)))
    mapping = dict(zip(table["pair_id"], table["part"]))
    part = ids.map(mapping)
    if part.isna().any():
        raise InputError(f"{path}: {int(part.isna().sum())} pairs have no part in this split")
    return pd.Series(part.to_numpy(dtype=object), index=pairs.index, dtype=object)


def pairs_with_parts(pairs_path: str | Path, split_path: str | Path, parts: tuple[str, ...] | None = None) -> pd.DataFrame:
    """A saved pair table with the ``part`` of each pair from a saved split (only ``parts`` if given)."""
    pairs = pd.read_parquet(pairs_path)
    pairs["part"] = load_split(split_path, pairs).to_numpy()
    if parts is not None:
        pairs = pairs[pairs["part"].isin(parts)].reset_index(drop=True)
    return pairs
