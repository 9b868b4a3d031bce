"""Pair models: shapes; encoding each unique entity once per batch is exact; the head's split first layer;
the order of a pair; encoder details (GIN's fast path, dropout, the protein CNN); configs and their schema."""

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from theraflow.pairs.data import build_pair_data
from theraflow.pairs.task import task_spec
from theraflow.pairs.train import build_model, model_dims

from .helpers import SEQ_SMILES, molecules_of, seq_data

CFGS = {
    "gin+cnn": {"drug_encoder": {"type": "gin", "hidden": 32, "layers": 2},
                "target_encoder": {"type": "cnn", "embed": 8, "channels": [8, 16], "kernel": 3, "max_len": 64}},
    "gatv2+cnn+id": {"drug_encoder": {"type": "gatv2", "hidden": 32, "layers": 2, "heads": 4},
                     "target_encoder": {"type": "cnn+id", "embed": 8, "channels": [8], "kernel": 3, "id_dim": 4,
                                        "max_len": 64}},
    "attentivefp+id": {"drug_encoder": {"type": "attentivefp", "hidden": 32, "layers": 2, "out": 16},
                       "target_encoder": {"type": "id", "id": {"dim": 4}}},
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
DDI_CFGS = {
    "gin+morgan": {"drug_encoder": {"type": "gin+morgan", "hidden": 32, "layers": 2, "morgan": {"bits": 128, "hidden": 16}},
                   "head": {"hidden": [32], "proj": 8}},
    "morgan+id": {"drug_encoder": {"type": "morgan+id", "morgan": {"bits": 128, "hidden": 16}, "id": {"dim": 4}},
                  "head": {"hidden": [32], "proj": 8}},
}


@pytest.fixture(scope="module")
def dti():
    pairs, data = seq_data()
    return pairs, data


@pytest.fixture(scope="module")
def ddi():
    """Every ordered pair of 6 molecules, 3 classes: PairData of the drug–drug task (one molecule table)."""
    ids = [f"m{i}" for i in range(len(SEQ_SMILES))]
    rows = [(ids[i], SEQ_SMILES[i], ids[j], SEQ_SMILES[j], str((i + 2 * j) % 3))
            for i in range(len(ids)) for j in range(len(ids)) if i != j]
    pairs = pd.DataFrame(rows, columns=["drug1", "smiles1", "drug2", "smiles2", "label"])
    spec = task_spec("ddi", "multiclass", ("0", "1", "2"))
    return pairs, build_pair_data(spec, pairs, molecules_of(ids, SEQ_SMILES))


def _model(data, cfg, seed=0):
    torch.manual_seed(seed)
    dims = model_dims(data, {k: len(t) for k, t in data.tables.items()})
    return build_model(data.spec, {"name": "t", **cfg}, dims).eval()


@pytest.mark.parametrize("task,name", [*(("dti", n) for n in CFGS), *(("ddi", n) for n in DDI_CFGS)])
def test_unique_encoding_equals_per_pair_encoding(task, name, dti, ddi):
    pairs, data = dti if task == "dti" else ddi
    model = _model(data, (CFGS if task == "dti" else DDI_CFGS)[name])
    idx = np.arange(len(data))
    needs = model.needs()
    with torch.no_grad():
        batched = model(data.batch(idx, needs))
        single = torch.cat([model(data.batch(np.array([i]), needs)) for i in idx])  # each pair encodes its own
    assert batched.shape == ((len(data),) if task == "dti" else (len(data), 3))
    assert torch.allclose(batched, single, atol=1e-5)


def test_each_unique_entity_is_encoded_once_per_batch(dti, ddi):
    _, data = dti
    model = _model(data, CFGS["gin+cnn"])
    seen = {}
    model.drug.register_forward_hook(lambda m, i, o: seen.setdefault("drugs", []).append(o.shape[0]))
    model.target.register_forward_hook(lambda m, i, o: seen.setdefault("targets", []).append(o.shape[0]))
    with torch.no_grad():
        model(data.batch(np.arange(len(data)), model.needs()))
    assert seen == {"drugs": [6], "targets": [5]}  # 30 pairs, 6 drugs, 5 targets
    # two roles of one kind: a molecule in both roles of a batch is encoded once (one shared encoder)
    _, data = ddi
    model = _model(data, DDI_CFGS["gin+morgan"])
    seen.clear()
    model.drug.register_forward_hook(lambda m, i, o: seen.setdefault("drugs", []).append(o.shape[0]))
    with torch.no_grad():
        model(data.batch(np.arange(len(data)), model.needs()))
    assert seen == {"drugs": [6]} and list(data.tables) == ["molecule"]  # 30 ordered pairs of 6 molecules


def test_tokenize():
    from theraflow.descriptors import tokenize

    t = tokenize(["ACDz", "XYZ*"], 6)
    assert t.shape == (2, 6)
    assert t[0, :4].tolist() == [1, 2, 3, 24] and t[0, 4:].tolist() == [0, 0]
    assert t[1, 3] == 26  # unknown character


def test_unknown_ids_share_one_vector():
    from theraflow.nn.entity import IdEmbedding

    emb = IdEmbedding(3, 4).eval()
    out = emb(torch.tensor([-1, 3, 7, 0]))
    assert torch.equal(out[0], out[1]) and torch.equal(out[1], out[2])
    assert not torch.equal(out[0], out[3])
    emb.dropout = 1.0  # in training, id dropout shows every entity as unknown
    emb.train()
    assert torch.equal(emb(torch.tensor([0, 1]))[0], out[0])


def test_bad_configs(dti):
    _, data = dti
    with pytest.raises(ValueError, match="unknown molecule encoder 'mpnn'"):
        _model(data, {"drug_encoder": {"type": "mpnn"}, "target_encoder": {"type": "id"}})
    with pytest.raises(ValueError, match="unknown protein encoder 'esm'"):
        _model(data, {"drug_encoder": {"type": "gin"}, "target_encoder": {"type": "esm"}})
    with pytest.raises(ValueError, match="gin and gatv2 are both graph encoders"):
        _model(data, {"drug_encoder": {"type": "gin+gatv2"}, "target_encoder": {"type": "id"}})
    with pytest.raises(ValueError, match="no target_encoder"):
        _model(data, {"drug_encoder": {"type": "gin"}})


def test_config_schema_names_the_file_and_key(tmp_path):
    from theraflow.errors import InputError
    from theraflow.pairs.model_config import load_model_config
    from theraflow.registry import TASKS

    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"name": "x", "drug_encoder": {"type": "gin", "hiden": 32},
                                    "target_encoder": {"type": "id"}}))
    with pytest.raises(InputError, match=r"config\.yaml.*hiden"):
        load_model_config(path)
    path.write_text(yaml.safe_dump({"name": "x", "task": "ddi", "drug_encoder": {"type": "gin"}}))
    with pytest.raises(InputError, match="this model is for ddi, not dti"):
        load_model_config(path, TASKS.get("dti"))
    path.write_text(yaml.safe_dump({"name": "x", "drug_encoder": {"type": "gin"}}))
    with pytest.raises(InputError, match="target_encoder missing"):
        load_model_config(path, TASKS.get("dti"))
    # the first releases' spellings are translated: id_dim at the top of a target encoder
    path.write_text(yaml.safe_dump({"name": "x", "drug_encoder": {"type": "gin"},
                                    "target_encoder": {"type": "id", "id_dim": 8, "max_len": 100}}))
    assert load_model_config(path, TASKS.get("dti"))["target_encoder"] == {"type": "id", "id": {"dim": 8}}


def _head(widths, roles, seed, **kw):
    from theraflow.nn.pair import PairHead

    torch.manual_seed(seed)
    return PairHead(widths, roles, **{"dropout": 0.0, **kw}).eval()


def test_split_first_layer_equals_the_concatenation():
    head = _head({"pd": 24, "pt": 12}, ("pd", "pt"), 0, hidden=(32, 16), proj=8)
    d, t = torch.randn(5, 24), torch.randn(3, 12)
    ia, ib = torch.tensor([0, 1, 4, 4, 2]), torch.tensor([2, 0, 1, 2, 2])
    pa, pb = head.project("pd", d), head.project("pt", t)
    reference = head.mlp(torch.cat([pa[ia], pb[ib], pa[ia] * pb[ib]], dim=-1)).squeeze(-1)
    assert torch.allclose(head.pairs(pa, pb, ia, ib), reference, atol=1e-5)
    head.set_output(2.0, 5.0)  # regression: raw * sd + mean
    assert torch.allclose(head.pairs(pa, pb, ia, ib), reference * 2 + 5, atol=1e-5)


def test_all_pairs_matches_pairs():
    head = _head({"pd": 16, "pt": 8}, ("pd", "pt"), 1, hidden=(32,), proj=8, n_out=3)
    pa, pb = head.project("pd", torch.randn(6, 16)), head.project("pt", torch.randn(4, 8))
    grid = head.all_pairs(pa, pb)
    assert grid.shape == (6, 4, 3)
    ia, ib = torch.arange(6).repeat_interleave(4), torch.arange(4).repeat(6)
    assert torch.allclose(grid.reshape(-1, 3), head.pairs(pa, pb, ia, ib), atol=1e-5)


def test_the_order_of_a_pair_of_one_kind():
    """Ordered (drug 1 acts on drug 2): (a, b) and (b, a) are different inputs, only the product term is
    symmetric. A task without order averages both orders: swapping gives the same output."""
    ordered = _head({"pd": 16}, ("pd", "pd"), 0, hidden=(32,), proj=8, n_out=5)
    p = ordered.project("pd", torch.randn(3, 16))
    a, b = torch.tensor([0, 1]), torch.tensor([1, 2])
    x_ab = torch.cat([p[a], p[b], p[a] * p[b]], -1)
    assert torch.allclose(ordered.pairs(p, p, a, b), ordered.mlp(x_ab), atol=1e-5)
    assert not torch.allclose(ordered.pairs(p, p, a, b), ordered.pairs(p, p, b, a))
    unordered = _head({"pd": 16}, ("pd", "pd"), 0, hidden=(32,), proj=8, n_out=5, ordered=False)
    p = unordered.project("pd", torch.randn(3, 16))
    assert torch.allclose(unordered.pairs(p, p, a, b), unordered.pairs(p, p, b, a), atol=1e-6)
    grid = unordered.all_pairs(p, p)
    assert torch.allclose(grid, grid.transpose(0, 1), atol=1e-6)


def test_protein_cnn_ignores_padding_and_batch_company():
    from theraflow.descriptors import tokenize
    from theraflow.nn.encoders.protein.cnn import ProteinCNN

    def tokens(seqs, n):
        return torch.from_numpy(tokenize(seqs, n))

    torch.manual_seed(0)
    cnn = ProteinCNN(embed=8, channels=[8, 16], kernel=4, pool_every=2).train()
    alone = cnn(tokens(["MKTAYIAKQR"], 64))
    longer = tokens(["MKTAYIAKQR", "MSEQNNTEMTFQIQRIYTKDISFEAPNAPHVFQKDWMSEQNNTEMTFQ"], 64)
    assert torch.allclose(alone, cnn(longer)[:1], atol=1e-6)  # no batch statistics in training mode
    assert torch.allclose(alone, cnn(tokens(["MKTAYIAKQR"], 128)), atol=1e-6)  # padding length irrelevant


def _graphs(data, extra=()):
    """A PyG batch of the pair data's molecules (and of ``extra`` SMILES)."""
    if extra:
        smiles = [*data.tables["molecule"].values, *extra]
        return molecules_of(range(len(smiles)), smiles).graphs.collate(np.arange(len(smiles)))
    return data.tables["molecule"].graphs.collate(np.arange(len(data.tables["molecule"])))


@pytest.mark.parametrize("kind", ["gin", "gatv2"])
def test_drug_encoder_dropout_does_not_shift_the_output(kind, dti):
    """Averaged over dropout masks, training-mode output equals inference output (dropout must
    not act before the max readout, where it biases the maximum upwards)."""
    from theraflow.nn.entity import EntityEncoder

    _, data = dti
    torch.manual_seed(0)
    enc = EntityEncoder("molecule", {"type": kind, "hidden": 32, "layers": 2, "dropout": 0.5, "pool": "add+max"},
                        data.tables["molecule"].kind.dims(data.tables["molecule"]))
    table = data.tables["molecule"]
    copies = 250  # each molecule 250 times in a batch: dropout draws a mask per graph, batch norm is off
    inputs = {"graphs": table.graphs.collate(np.tile(np.arange(len(table)), copies))}
    with torch.no_grad():
        enc.eval()
        ref = enc(inputs)[: len(table)]
        enc.train()
        for m in enc.modules():  # batch statistics are not what this test is about
            if isinstance(m, torch.nn.BatchNorm1d):
                m.eval()
        mean = torch.cat([enc(inputs).reshape(copies, len(table), -1) for _ in range(4)]).mean(0)
    rel = ((mean - ref).abs().mean() / ref.abs().mean()).item()
    assert rel < 0.05, rel  # sampling error about 0.025; dropout before the readout gave 0.3 and more


def test_gin_inference_path_equals_the_pyg_path(dti):
    """GIN's fused eval-mode path (batch norm folded, one gather + index_add per layer) computes
    what PyG's GINEConv with batch norm computes, including a graph with no bonds."""
    from theraflow.nn.encoders.molecule.gin import GINEncoder

    _, data = dti
    graphs = _graphs(data, extra=("C",))  # methane: one atom, no bonds
    assert int((graphs.batch == graphs.num_graphs - 1).sum()) == 1
    torch.manual_seed(1)
    enc = GINEncoder(graphs.x.shape[1], graphs.edge_attr.shape[1], hidden=32, layers=3, dropout=0.3, pool="add+max")
    with torch.no_grad():
        for m in enc.modules():  # non-trivial batch-norm statistics and affine parameters
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-1, 1), m.running_var.uniform_(0.5, 2)
                m.weight.uniform_(0.5, 1.5), m.bias.uniform_(-0.5, 0.5)
        for conv in enc.convs:
            conv.eps.fill_(0.3)
        enc.eval()
        fused = enc({"graphs": graphs})
    enc.eval()
    pyg = enc({"graphs": graphs})  # gradients on: the PyG path
    assert pyg.requires_grad and not fused.requires_grad
    assert torch.allclose(fused, pyg.detach(), rtol=1e-5, atol=1e-5)
    assert (fused - pyg.detach()).abs().max() < 1e-4 * pyg.abs().max()
    # the folded weights are cached: an in-place update (an optimizer step, a loaded state) renews them
    with torch.no_grad():
        enc.convs[1].nn[0].weight.mul_(1.5)
        enc.norms[2].running_var.mul_(2.0)
        again = enc({"graphs": graphs})
    assert not torch.allclose(again, fused, atol=1e-3)
    assert torch.allclose(again, enc({"graphs": graphs}).detach(), rtol=1e-5, atol=1e-5)


def test_batch_norm_options_keep_the_split_first_layer_exact(tmp_path, ddi):
    from theraflow.errors import InputError
    from theraflow.pairs.model_config import load_model_config

    _, data = ddi
    cfg = {"name": "bn", "drug_encoder": {"type": "morgan", "morgan": {"bits": 64, "hidden": 16, "batch_norm": True}},
           "head": {"hidden": [32, 16], "proj": 8, "dropout": 0.0, "batch_norm": True}}
    model = _model(data, cfg)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert [n.num_features for n in norms] == [16, 32, 16]  # the morgan MLP's first layer, both head layers
    inputs = data.tables["molecule"].tensors(np.arange(6), model.needs()["molecule"])
    model.train()
    model.embed("molecule", inputs)  # a training pass moves the running statistics
    model.eval()
    p = model.embed("molecule", inputs)
    a, b = torch.tensor([0, 1, 2]), torch.tensor([1, 2, 0])
    reference = model.head.mlp(torch.cat([p[a], p[b], p[a] * p[b]], -1))
    assert torch.allclose(model.head.pairs(p, p, a, b), reference, atol=1e-5)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert load_model_config(path)["head"]["batch_norm"] is True
    cfg["head"]["batch_norm"] = "yes"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(InputError, match="batch_norm"):
        load_model_config(path)


def test_input_dropout_of_the_bits_acts_in_training_only(tmp_path):
    from theraflow.errors import InputError
    from theraflow.nn.entity import FeatureMLP
    from theraflow.pairs.model_config import load_model_config

    torch.manual_seed(0)
    plain, dropped = FeatureMLP(64, hidden=16, dropout=0.0), FeatureMLP(64, hidden=16, dropout=0.0, input_dropout=0.5)
    assert list(plain.state_dict()) == list(dropped.state_dict())  # same weights' names: old bundles load
    dropped.load_state_dict(plain.state_dict())
    bits = (torch.rand(8, 64) < 0.3).float()
    dropped.eval()
    assert torch.equal(dropped(bits), plain.eval()(bits))
    dropped.train()
    assert not torch.allclose(dropped(bits), plain(bits))
    cfg = {"name": "d", "drug_encoder": {"type": "morgan", "morgan": {"bits": 64, "input_dropout": 0.2}}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert load_model_config(path)["drug_encoder"]["morgan"]["input_dropout"] == 0.2
    cfg["drug_encoder"]["morgan"]["input_dropout"] = 1.5
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(InputError, match="input_dropout"):
        load_model_config(path)


@pytest.mark.parametrize("label,n_out,shape", [("regression", 1, (4,)), ("binary", 1, (4,)),
                                                ("multiclass", 3, (4, 3))])
def test_the_head_is_as_wide_as_the_label_kind_needs(dti, label, n_out, shape):
    from dataclasses import replace

    _, data = dti
    spec = task_spec("dti", label, ("a", "b", "c") if label == "multiclass" else ())
    assert spec.n_out == n_out
    model = _model(replace(data, spec=spec), CFGS["gin+cnn"])
    with torch.no_grad():
        assert model(data.batch(np.arange(4), model.needs())).shape == shape
