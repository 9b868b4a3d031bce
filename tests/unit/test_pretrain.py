"""Pretraining a molecule encoder (attribute masking): its loss falls on a small corpus, and a pair model starts
from the bundle frozen (the weights stay the bundle's) or fine-tuned (they start there and move); a bundle that
does not fit the model is refused with what differs."""

import copy
import hashlib
import json

import numpy as np
import pytest
import torch

from theraflow.errors import InputError
from theraflow.pretrain import load_pretrained, pretrain

ENCODER = {"type": "gin", "hidden": 32, "layers": 2, "dropout": 0.0, "pool": "add+max"}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, nci_smi):
    lines = [line for line in nci_smi.read_text().splitlines() if line.strip()][:600]
    work = tmp_path_factory.mktemp("pretrain")
    lib = work / "corpus.smi"
    lib.write_text("\n".join(lines) + "\nnot_a_smiles bad1\n")
    meta = pretrain(lib, work / "bundle", encoder=ENCODER, store=work / "store", max_epochs=8, max_minutes=2,
                    batch_size=64, lr=3e-3, valid_fraction=0.1, patience=8, progress=False)
    return work / "bundle", meta


def test_the_masking_objective_learns(bundle):
    path, meta = bundle
    hist = meta["history"]
    assert len(hist) == meta["training"]["epochs"] >= 4
    assert meta["corpus"]["rejected"] >= 1 and meta["corpus"]["molecules"] + meta["corpus"]["rejected"] == 601
    # the held-out loss falls, and the masked atoms' elements are told better than by always saying carbon
    assert hist[-1]["val_loss"] < 0.8 * hist[0]["val_loss"], hist
    assert hist[-1]["val_accuracy"] > 0.75
    for name in ("model.safetensors", "model.json", "card.md", "loss.png"):
        assert (path / name).stat().st_size > 0, name
    assert "attribute_masking" in (path / "card.md").read_text()
    state, m = load_pretrained(path)
    assert m["encoder"] == ENCODER and any(k.startswith("convs.") for k in state)


def test_every_record_is_used_or_rejected_and_a_rerun_reuses_the_corpus(bundle, caplog):
    """rejects.tsv names each record not pretrained on and why; a second run (a resume) reads the standardized
    corpus from the bundle's folder instead of standardizing again, also when the library was laid out again (a
    fresh mtime, the same content): the cache is keyed on its sha256, which the card's corpus records."""
    import logging
    import os

    import pandas as pd

    path, meta = bundle
    rejects = pd.read_csv(path / "rejects.tsv", sep="\t")
    assert len(rejects) == meta["corpus"]["rejected"] and "bad1" in set(rejects["id"])
    assert rejects["reason"].str.len().gt(0).all() and set(rejects.columns) >= {"id", "record", "stage", "reason"}
    library = path.parent / "corpus.smi"
    assert meta["corpus"]["sha256"] == hashlib.sha256(library.read_bytes()).hexdigest()
    os.utime(library, (library.stat().st_atime + 3600, library.stat().st_mtime + 3600))
    with caplog.at_level(logging.INFO, logger="theraflow.pretrain"):
        again = pretrain(library, path, encoder=ENCODER, store=path.parent / "store", max_epochs=8,
                         max_minutes=2, batch_size=64, lr=3e-3, valid_fraction=0.1, patience=8, progress=False)
    assert "standardized before" in caplog.text
    assert again["corpus"] == meta["corpus"]


def _pair_cfg(bundle, freeze):
    return {"name": "tiny_pretrained", "featurizer": {"name": "default", "params": {}},
            "drug_encoder": {**ENCODER, "pretrained": {"bundle": str(bundle), "freeze": freeze}},
            "target_encoder": {"type": "composition", "composition": {"hidden": 16}},
            "head": {"hidden": [16], "proj": 8},
            "training": {"max_epochs": 2, "batch_size": 64, "threads": 1}}


@pytest.mark.parametrize("freeze", [True, False])
def test_a_pair_model_starts_from_the_bundle(tmp_path, bundle, demo_data, freeze):
    from theraflow.pairs.train import load_model, train_model

    path, _ = bundle
    spec, _pairs, data, parts = demo_data
    state, _ = load_pretrained(path)
    meta = train_model(data, parts, _pair_cfg(path, freeze), tmp_path / "m", progress=False,
                       featurizer={"name": "default", "params": {}})
    assert meta["pretrained"][0]["freeze"] is freeze and meta["pretrained"][0]["bundle"] == str(path)
    model = load_model(tmp_path / "m")[0]
    graph = next(getattr(model, k.module).graph for k in model.kinds if k.featurized)
    trained = graph.state_dict()
    same = [torch.equal(trained[k], v) for k, v in state.items()]
    if freeze:  # weights and batch statistics are the bundle's
        assert all(same)
    else:  # started there (the test below) and trained on
        assert not all(same)


def test_a_bundle_that_does_not_fit_is_refused(tmp_path, bundle, demo_data):
    from theraflow.pairs.train import train_model

    path, _ = bundle
    _spec, _pairs, data, parts = demo_data
    cfg = _pair_cfg(path, False)
    cfg["drug_encoder"]["hidden"] = 64
    with pytest.raises(InputError, match="differs from the pretrained encoder in hidden"):
        train_model(data, parts, cfg, tmp_path / "m", progress=False)
    other = tmp_path / "not_a_bundle"
    other.mkdir()
    (other / "model.json").write_text(json.dumps({"format": "something-else"}))
    (other / "model.safetensors").write_bytes(b"")
    cfg = _pair_cfg(other, False)
    with pytest.raises(InputError, match="not a pretrained encoder"):
        train_model(data, parts, cfg, tmp_path / "m2", progress=False)


def test_fine_tuning_starts_from_the_bundle(bundle, demo_data):
    from theraflow.pairs.model_config import normalized
    from theraflow.pairs.train import build_model, model_dims
    from theraflow.pretrain import apply_pretrained

    path, _ = bundle
    spec, _pairs, data, _parts = demo_data
    cfg = normalized(spec.task, _pair_cfg(path, False))
    model = build_model(spec, copy.deepcopy(cfg), model_dims(data, {}))
    apply_pretrained(model, cfg, {"name": "default"})
    state, _ = load_pretrained(path)
    graph = next(getattr(model, k.module).graph for k in model.kinds if k.featurized)
    assert all(torch.equal(graph.state_dict()[k], v) for k, v in state.items())
    assert all(p.requires_grad for p in graph.parameters())
    np.testing.assert_equal(len(state), len(graph.state_dict()))


@pytest.mark.parametrize("name", ["default", "pyg", "default_physchem"])
def test_the_masked_elements_read_from_the_features_are_the_molecules(nci_smi, name):
    """Pretraining reads each atom's element back from the node features (no second parse of a corpus of
    millions): the same classes as parsing the SMILES, atom by atom."""
    from theraflow.chem import featurize
    from theraflow.chem.featurize import get_featurizer
    from theraflow.pretrain import _CLASS_OF, element_classes

    smiles = [line.split()[0] for line in nci_smi.read_text().splitlines()[:300] if line.strip()]
    res = featurize(smiles, name)
    reader = get_featurizer(name).atomic_numbers
    assert reader is not None
    graphs = res.graphs.collate(list(range(len(res.index))))
    from_features = _CLASS_OF[reader(graphs.x.numpy())]
    parsed = np.concatenate(element_classes([smiles[i] for i in res.index]))
    assert len(from_features) == len(parsed) > 1000
    assert np.array_equal(from_features, parsed)
    assert len(set(parsed.tolist())) >= 5  # C, N, O, ... and "other": not a trivial agreement
