"""Pair-task fixtures shared by the unit tests of pairs/ and explain/ (session-scoped: made and trained once).

The demo data sets go through the stages as the workflow runs them: ``prepare_dataset`` → the chemistry
stage's standardized molecules → ``split_stage`` → ``train_stage``.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from .pairs.helpers import SMALL_DTI, write_molecules


def _dataset(root, task: str, cfg: dict):
    from theraflow.pairs.stages import prepare_dataset, spec_of, split_stage

    prepare_dataset(task, cfg, root)
    molecules = write_molecules(root)
    split_stage(root / "pairs.parquet", "random", root / "splits", seed=0)
    return SimpleNamespace(dir=root, pairs=root / "pairs.parquet", split=root / "splits" / "random.parquet",
                           molecules=molecules, store=root.parent / "store", spec=spec_of(root / "pairs.parquet"))


@pytest.fixture(scope="session")
def dti_demo(tmp_path_factory):
    """The RDKit demo pairs (2 targets known by id, ~1,000 drugs, pKd) as a data set folder with a random split."""
    return _dataset(tmp_path_factory.mktemp("dti_demo") / "rdkit_demo", "dti", {"source": "rdkit_demo"})


@pytest.fixture(scope="session")
def demo_data(dti_demo):
    """(spec, pairs with their part, PairData, part) of the demo data set: what train_stage trains on."""
    from theraflow.pairs.splits import pairs_with_parts
    from theraflow.pairs.stages import _data

    pairs = pairs_with_parts(dti_demo.pairs, dti_demo.split)
    pairs, data, dropped = _data(dti_demo.spec, pairs, dti_demo.molecules, dti_demo.store, {"name": "default"})
    assert dropped == 0
    return dti_demo.spec, pairs, data, pairs["part"].to_numpy()


def _train(ds, cfg, outdir, seed: int = 0, **kw):
    from theraflow.pairs.stages import train_stage

    train_stage(pairs_path=ds.pairs, split_path=ds.split, molecules_path=ds.molecules, store=ds.store,
                model_config=cfg, outdir=outdir, seed=seed, progress=False, **kw)
    return outdir


@pytest.fixture(scope="session")
def demo_model(tmp_path_factory, dti_demo):
    """:data:`SMALL_DTI` trained 3 epochs on the demo set (seed 0) by train_stage."""
    return _train(dti_demo, SMALL_DTI, tmp_path_factory.mktemp("tiny") / "seed0", seed=0)


@pytest.fixture(scope="session")
def demo_ensemble(tmp_path_factory, dti_demo, demo_model):
    """Two seeds of the tiny demo model."""
    return [demo_model, _train(dti_demo, SMALL_DTI, demo_model.parent / "seed1", seed=1)]


@pytest.fixture(scope="session")
def ddi_demo(tmp_path_factory):
    """The offline drug–drug demo set (NCI molecules, 4 rule-based types of ordered pairs) with a random split."""
    return _dataset(tmp_path_factory.mktemp("ddi_demo") / "demo", "ddi", {"source": "demo"})


@pytest.fixture(scope="session")
def ddi_demo_model(tmp_path_factory, ddi_demo, repo):
    """The ddi_demo recipe (GIN + Morgan bits, 4 types) trained briefly: it learns the demo's rules."""
    from theraflow.pairs.stages import load_model_config

    cfg = load_model_config(repo / "models" / "ddi_demo" / "config.yaml", "ddi")
    return _train(ddi_demo, cfg, tmp_path_factory.mktemp("ddi_model") / "seed0", max_epochs=12, max_minutes=2,
                  threads=1)


@pytest.fixture(scope="session")
def ddi_demo_data(ddi_demo):
    """(spec, pairs with their part, PairData, part) of the drug–drug demo set."""
    from theraflow.pairs.splits import pairs_with_parts
    from theraflow.pairs.stages import _data

    pairs = pairs_with_parts(ddi_demo.pairs, ddi_demo.split)
    pairs, data, _ = _data(ddi_demo.spec, pairs, ddi_demo.molecules, ddi_demo.store, {"name": "default"})
    return ddi_demo.spec, pairs, data, np.asarray(pairs["part"])
