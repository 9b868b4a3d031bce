"""Interaction models: shapes, and that encoding unique entities once per batch is exact."""

import numpy as np
import pytest
import torch

from theraflow.dti.train import build_model
from theraflow.nn.protein import tokenize

CFGS = {
    "gin+cnn": {"drug_encoder": {"type": "gin", "hidden": 32, "layers": 2},
                "target_encoder": {"type": "cnn", "embed": 8, "channels": [8, 16], "kernel": 3, "max_len": 64}},
    "gatv2+cnn+id": {"drug_encoder": {"type": "gatv2", "hidden": 32, "layers": 2, "heads": 4},
                     "target_encoder": {"type": "cnn+id", "embed": 8, "channels": [8], "kernel": 3, "id_dim": 4,
                                        "max_len": 64}},
    "attentivefp+id": {"drug_encoder": {"type": "attentivefp", "hidden": 32, "layers": 2, "out": 16},
                       "target_encoder": {"type": "id", "id_dim": 4}},
}


@pytest.mark.parametrize("name", list(CFGS))
def test_unique_encoding_equals_per_pair_encoding(name, seq_pairset):
    pairs, ps = seq_pairset
    torch.manual_seed(0)
    model = build_model(CFGS[name], 47, 14, len(ps.target_ids)).eval()
    idx = np.arange(len(ps))
    with torch.no_grad():
        b = ps.batch(idx)
        batched = model(b["drugs"], b["tokens"], b["target_index"], b["pair_drug"], b["pair_target"])
        single = []
        for i in idx:  # the naive way: every pair encodes its own drug and target
            s = ps.batch(np.array([i]))
            single.append(model(s["drugs"], s["tokens"], s["target_index"], s["pair_drug"], s["pair_target"]))
    assert batched.shape == (len(ps),)
    assert torch.allclose(batched, torch.cat(single), atol=1e-5)


def test_each_unique_entity_is_encoded_once_per_batch(seq_pairset):
    _, ps = seq_pairset
    model = build_model(CFGS["gin+cnn"], 47, 14, len(ps.target_ids)).eval()
    seen = {}
    model.drug.register_forward_hook(lambda m, i, o: seen.setdefault("drugs", []).append(o.shape[0]))
    model.target.register_forward_hook(lambda m, i, o: seen.setdefault("targets", []).append(o.shape[0]))
    b = ps.batch(np.arange(len(ps)))
    with torch.no_grad():
        model(b["drugs"], b["tokens"], b["target_index"], b["pair_drug"], b["pair_target"])
    assert seen == {"drugs": [6], "targets": [5]}  # 30 pairs, 6 drugs, 5 targets


def test_tokenize():
    t = tokenize(["ACDz", "XYZ*"], 6)
    assert t.shape == (2, 6)
    assert t[0, :4].tolist() == [1, 2, 3, 24] and t[0, 4:].tolist() == [0, 0]
    assert t[1, 3] == 26  # unknown character


def test_unknown_target_ids_share_one_vector():
    from theraflow.nn.protein import TargetIdEmbedding

    emb = TargetIdEmbedding(3, 4).eval()
    out = emb(torch.tensor([-1, 3, 7, 0]))
    assert torch.equal(out[0], out[1]) and torch.equal(out[1], out[2])
    assert not torch.equal(out[0], out[3])


def test_bad_configs():
    with pytest.raises(ValueError, match="unknown drug encoder"):
        build_model({"drug_encoder": {"type": "mpnn"}, "target_encoder": {"type": "id"}}, 47, 14, 2)
    with pytest.raises(ValueError, match="unknown target encoder"):
        build_model({"drug_encoder": {"type": "gin"}, "target_encoder": {"type": "esm"}}, 47, 14, 2)
