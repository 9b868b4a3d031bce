"""Interaction models: shapes, and that encoding unique entities once per batch is exact."""

import numpy as np
import pytest
import torch

from theraflow.dti.data import Inputs
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
    "gin+morgan+id/composition+id": {
        "drug_encoder": {"type": "gin+morgan+id", "hidden": 32, "layers": 2, "morgan": {"bits": 256, "hidden": 16},
                         "id": {"dim": 8}},
        "target_encoder": {"type": "composition+id", "composition": {"hidden": 16}, "id_dim": 4}},
    "morgan/cnn+composition": {
        "drug_encoder": {"type": "morgan", "morgan": {"bits": 128, "radius": 3, "hidden": 16}},
        "target_encoder": {"type": "cnn+composition", "embed": 8, "channels": [8], "kernel": 3, "max_len": 64}},
    "graphdta": {
        "drug_encoder": {"type": "graphdta_gin", "hidden": 16, "out": 32},
        "target_encoder": {"type": "graphdta_cnn", "embed": 8, "filters": 4, "kernel": 8, "out": 32, "max_len": 64},
        "head": {"hidden": [64, 32], "proj": None, "product": False}},
}


@pytest.mark.parametrize("name", list(CFGS))
def test_unique_encoding_equals_per_pair_encoding(name, seq_pairset):
    pairs, ps = seq_pairset
    torch.manual_seed(0)
    model = build_model(CFGS[name], 47, 14, len(ps.target_ids), len(ps.drug_ids)).eval()
    idx = np.arange(len(ps))
    inputs = Inputs.of(model)
    with torch.no_grad():
        batched = model(ps.batch(idx, inputs))
        single = []
        for i in idx:  # the naive way: every pair encodes its own drug and target
            single.append(model(ps.batch(np.array([i]), inputs)))
    assert batched.shape == (len(ps),)
    assert torch.allclose(batched, torch.cat(single), atol=1e-5)


def test_each_unique_entity_is_encoded_once_per_batch(seq_pairset):
    _, ps = seq_pairset
    model = build_model(CFGS["gin+cnn"], 47, 14, len(ps.target_ids)).eval()
    seen = {}
    model.drug.register_forward_hook(lambda m, i, o: seen.setdefault("drugs", []).append(o.shape[0]))
    model.target.register_forward_hook(lambda m, i, o: seen.setdefault("targets", []).append(o.shape[0]))
    b = ps.batch(np.arange(len(ps)), Inputs.of(model))
    with torch.no_grad():
        model(b)
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


def test_split_first_layer_equals_the_concatenation():
    from theraflow.nn.interaction import InteractionHead

    torch.manual_seed(0)
    head = InteractionHead(24, 12, hidden=(32, 16), dropout=0.0, proj=8).eval()
    d, t = torch.randn(5, 24), torch.randn(3, 12)
    pd_idx, pt_idx = torch.tensor([0, 1, 4, 4, 2]), torch.tensor([2, 0, 1, 2, 2])
    dp, tp = head.project(d, t)
    reference = head.mlp(torch.cat([dp[pd_idx], tp[pt_idx], dp[pd_idx] * tp[pt_idx]], dim=-1)).squeeze(-1)
    assert torch.allclose(head.pairs(dp, tp, pd_idx, pt_idx), reference, atol=1e-5)


def test_all_pairs_matches_pairs():
    from theraflow.nn.interaction import InteractionHead

    torch.manual_seed(1)
    head = InteractionHead(16, 8, hidden=(32,), dropout=0.0, proj=8).eval()
    dp, tp = head.project(torch.randn(6, 16), torch.randn(4, 8))
    grid = head.all_pairs(dp, tp)
    pd_idx, pt_idx = torch.arange(6).repeat_interleave(4), torch.arange(4).repeat(6)
    assert torch.allclose(grid.reshape(-1), head.pairs(dp, tp, pd_idx, pt_idx), atol=1e-5)


def test_protein_cnn_ignores_padding_and_batch_company():
    from theraflow.nn.protein import ProteinCNN

    torch.manual_seed(0)
    cnn = ProteinCNN(embed=8, channels=[8, 16], kernel=4, pool_every=2).train()
    short = tokenize(["MKTAYIAKQR"], 64)
    alone = cnn(short)
    longer = tokenize(["MKTAYIAKQR", "MSEQNNTEMTFQIQRIYTKDISFEAPNAPHVFQKDWMSEQNNTEMTFQ"], 64)
    assert torch.allclose(alone, cnn(longer)[:1], atol=1e-6)  # no batch statistics in training mode
    assert torch.allclose(alone, cnn(tokenize(["MKTAYIAKQR"], 128)), atol=1e-6)  # padding length irrelevant


@pytest.mark.parametrize("kind", ["gin", "gatv2"])
def test_drug_encoder_dropout_does_not_shift_the_output(kind, seq_pairset):
    """Averaged over dropout masks, training-mode output equals inference output (dropout must
    not act before the max readout, where it biases the maximum upwards)."""
    from theraflow.nn.drug import build_drug_encoder

    _, ps = seq_pairset
    torch.manual_seed(0)
    enc = build_drug_encoder({"type": kind, "hidden": 32, "layers": 3, "dropout": 0.5, "pool": "add+max"}, 47, 14)
    graphs = ps.batch(np.arange(min(len(ps), 20)))["drugs"]["graphs"]
    with torch.no_grad():
        enc.eval()
        ref = enc(graphs)
        enc.train()
        for m in enc.modules():  # batch statistics are not what this test is about
            if isinstance(m, torch.nn.BatchNorm1d):
                m.eval()
        mean = torch.stack([enc(graphs) for _ in range(1000)]).mean(0)
    rel = ((mean - ref).abs().mean() / ref.abs().mean()).item()
    assert rel < 0.05, rel  # sampling error about 0.025; dropout before the readout gave 0.3 and more


def test_gin_inference_path_equals_the_pyg_path(seq_pairset):
    """GIN's fused eval-mode path (batch norm folded, one gather + index_add per layer) computes
    what PyG's GINEConv with batch norm computes, including graphs with no bonds."""
    from theraflow.nn.drug import build_drug_encoder

    _, ps = seq_pairset
    torch.manual_seed(1)
    enc = build_drug_encoder({"type": "gin", "hidden": 32, "layers": 3, "dropout": 0.3, "pool": "add+max"}, 47, 14)
    graphs = ps.batch(np.arange(len(ps)))["drugs"]["graphs"]  # includes ethanol; the batch has many graphs
    with torch.no_grad():
        for m in enc.modules():  # non-trivial batch-norm statistics and affine parameters
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-1, 1), m.running_var.uniform_(0.5, 2)
                m.weight.uniform_(0.5, 1.5), m.bias.uniform_(-0.5, 0.5)
        for conv in enc.convs:
            conv.eps.fill_(0.3)
        enc.eval()
        fused = enc(graphs)
    enc.eval()
    pyg = enc(graphs)  # gradients on: the PyG path
    assert pyg.requires_grad and not fused.requires_grad
    assert torch.allclose(fused, pyg.detach(), rtol=1e-5, atol=1e-5)
    assert (fused - pyg.detach()).abs().max() < 1e-4 * pyg.abs().max()
    # the folded weights are cached: an in-place update (an optimizer step, a loaded state) renews them
    with torch.no_grad():
        enc.convs[1].nn[0].weight.mul_(1.5)
        enc.norms[2].running_var.mul_(2.0)
        again = enc(graphs)
    assert not torch.allclose(again, fused, atol=1e-3)
    assert torch.allclose(again, enc(graphs).detach(), rtol=1e-5, atol=1e-5)
