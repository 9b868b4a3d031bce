"""Pair data: each entity once, block and random batches (resumable mid-epoch), vocabularies, labels per kind."""

import numpy as np
import pandas as pd
import pytest

from theraflow.pairs.data import PairBatches, build_pair_data, keep_featurized
from theraflow.pairs.task import task_spec

from .helpers import SEQ_SMILES, molecules_of, seq_data


def _epoch(batches):
    return [b["idx"].numpy() for b in batches]


def test_block_batches_are_blocks_of_the_matrix(demo_data):
    """mode=blocks: each batch is one (target group x drug group) block; an epoch covers every training pair
    once; the order is new each epoch and depends only on (seed, epoch)."""
    _, _, data, part = demo_data
    train = np.nonzero(part == "train")[0]
    b = PairBatches(data, train, mode="blocks", target_group=1, drug_group=100, seed=3)
    n = len(b)  # the batches of the coming pass
    first = _epoch(b)
    assert sorted(np.concatenate(first).tolist()) == train.tolist()
    for idx in first:
        assert len(np.unique(data.b[idx])) == 1  # one target per block (target_group 1)
        assert len(np.unique(data.a[idx])) <= 100
    assert n == len(first) > 2
    second = _epoch(b)
    assert [x.tolist() for x in first] != [x.tolist() for x in second]
    again = PairBatches(data, train, mode="blocks", target_group=1, drug_group=100, seed=3)
    assert [x.tolist() for x in _epoch(again)] == [x.tolist() for x in first]
    whole = PairBatches(data, train, mode="blocks", target_group=32, shuffle=False)  # both targets, all drugs
    assert [len(x) for x in _epoch(whole)] == [len(train)]


def test_random_batches_resume_mid_epoch(demo_data):
    """A resumed run sets epoch and skip from its checkpoint and sees the batches an uninterrupted run would."""
    _, _, data, part = demo_data
    train = np.nonzero(part == "train")[0]
    full = PairBatches(data, train, batch_size=100, seed=1)
    epochs = [_epoch(full) for _ in range(2)]
    assert [len(x) for x in epochs[0]] == [100] * (len(train) // 100) + ([len(train) % 100] if len(train) % 100 else [])
    resumed = PairBatches(data, train, batch_size=100, seed=1)
    resumed.epoch, resumed.skip = 1, 3
    tail = _epoch(resumed)
    assert [x.tolist() for x in tail] == [x.tolist() for x in epochs[1][3:]]
    assert resumed.epoch == 2 and resumed.skip == 0  # the next pass is a whole one
    with pytest.raises(ValueError, match="unknown batch mode"):
        PairBatches(data, train, mode="pairs")


def test_a_batch_holds_each_entity_once(demo_data):
    _, _, data, _ = demo_data
    idx = np.arange(0, 400, 3)
    b = data.batch(idx, {"molecule": {"graphs": None, "index": None}, "protein": {"index": None}})
    mols, prots = b["entities"]["molecule"], b["entities"]["protein"]
    assert mols["graphs"].num_graphs == len(np.unique(data.a[idx])) and len(prots["index"]) == len(np.unique(data.b[idx]))
    # the pairs point at their own entities
    assert np.array_equal(np.unique(data.a[idx])[b["a"].numpy()], data.a[idx])
    assert np.array_equal(np.unique(data.b[idx])[b["b"].numpy()], data.b[idx])
    assert np.array_equal(b["y"].numpy(), data.label[idx]) and np.array_equal(b["idx"].numpy(), idx)


def test_two_roles_of_one_kind_share_one_table():
    ids = [f"m{i}" for i in range(4)]
    pairs = pd.DataFrame({"drug1": ["m0", "m1", "m2", "m3"], "smiles1": SEQ_SMILES[:4],
                          "drug2": ["m1", "m0", "m3", "m1"], "smiles2": [SEQ_SMILES[i] for i in (1, 0, 3, 1)],
                          "label": ["b", "a", "b", "c"]})
    data = build_pair_data(task_spec("ddi", "multiclass", ("a", "b", "c")), pairs, molecules_of(ids, SEQ_SMILES[:4]))
    assert list(data.tables) == ["molecule"] and data.tables["molecule"].ids == ids
    assert data.a.tolist() == [0, 1, 2, 3] and data.b.tolist() == [1, 0, 3, 1]
    assert data.label.tolist() == [1, 0, 1, 2]  # class rows in the declared order
    b = data.batch(np.array([0, 1]), {"molecule": {"index": None}})
    assert len(b["entities"]["molecule"]["index"]) == 2  # m0 and m1, each once though each is in both roles
    assert b["a"].tolist() == [0, 1] and b["b"].tolist() == [1, 0]


def test_labels_of_each_kind():
    _, data = seq_data()
    assert data.label.dtype == np.float32
    pairs = pd.DataFrame({"drug_id": ["d0", "d1"], "smiles": SEQ_SMILES[:2], "target_id": "t", "sequence": "MKV",
                          "label": ["1", "0.0"]})
    mols = molecules_of(["d0", "d1"], SEQ_SMILES[:2])
    assert build_pair_data(task_spec("dti", "binary"), pairs, mols).label.tolist() == [1, 0]
    with pytest.raises(ValueError, match="binary labels must be 0 or 1, got '2'"):
        build_pair_data(task_spec("dti", "binary"), pairs.assign(label=["1", "2"]), mols)
    with pytest.raises(ValueError, match="label 'z' is not one of the classes"):
        build_pair_data(task_spec("dti", "multiclass", ("x", "y")), pairs.assign(label=["x", "z"]), mols)
    unlabelled = build_pair_data(task_spec("dti", "regression"), pairs.drop(columns="label"), mols)
    assert np.isnan(unlabelled.label).all()  # scoring: pairs without labels
    with pytest.raises(ValueError, match="task ddi does not take continuous labels"):
        task_spec("ddi", "continuous")
    with pytest.raises(ValueError, match="has no role"):
        task_spec("dti", "binary").task.role("drug1")


def test_vocabulary_rows_and_unknown_entities(demo_data, demo_model):
    """A model knows the entities it trained on (molecules by standardized SMILES, targets by id); others are -1."""
    import json

    _, pairs, data, part = demo_data
    vocab = json.loads((demo_model / "model.json").read_text())["vocab"]
    known = data.with_vocabulary(vocab)
    train, test = np.nonzero(part == "train")[0], np.nonzero(part == "test")[0]
    assert (known.vocab_rows("drug", train) >= 0).all() and (known.vocab_rows("target", train) >= 0).all()
    new_drugs = ~pairs["drug_id"].iloc[test].isin(set(pairs["drug_id"].iloc[train])).to_numpy()
    assert new_drugs.any() and (known.vocab_rows("drug", test)[new_drugs] == -1).all()
    assert (known.vocab_rows("drug", test)[~new_drugs] >= 0).all()
    smiles = known.tables["molecule"].keys()
    rows = known.vocab_rows("drug", train)
    assert [vocab["molecule"][r] for r in rows[:20]] == [smiles[i] for i in data.a[train][:20]]
    assert known.with_vocabulary(None) is known


def test_pairs_whose_molecule_was_rejected_are_dropped_and_counted(demo_data):
    from theraflow.pairs.data import Molecules

    spec, pairs, data, _ = demo_data
    table = data.tables["molecule"]
    keep = {i: r for r, i in enumerate(table.ids) if i != pairs["drug_id"].iat[0]}
    kept, dropped = keep_featurized(spec, pairs, Molecules(keep, table.graphs))
    assert dropped == int((pairs["drug_id"] == pairs["drug_id"].iat[0]).sum()) and len(kept) == len(pairs) - dropped
    with pytest.raises(ValueError, match="their graphs are needed"):
        keep_featurized(spec, pairs, None)
