"""The ``attention`` protein encoder, added as one module (nn/encoders/protein/attention.py): registered and in
the model schema, blind to padding and to the batch it sits in, reading residues far apart, and a pair model
learns with it."""

from __future__ import annotations

import numpy as np
import torch

from theraflow.descriptors import tokenize
from theraflow.nn.entity import EntityEncoder
from theraflow.registry import encoders

from .helpers import training_losses

SEQ = "MSTNPKPQRKTKRNTNRRPQDVKFPGGGQIVGGVYLLPRRGPRLGVRATRKTSERSQPRGRRQPIPKARRPEGRTWAQPGYPWPLYGNEGCGWAGWLLSPRGSRPSWGP"


def _encoder(**kw):
    torch.manual_seed(0)
    enc = EntityEncoder("protein", {"type": "attention", "attention": {"dim": 32, "layers": 2, "heads": 4, "patch": 4,
                                                                      "dropout": 0.0, "max_len": 256, **kw}}, {})
    return enc.eval()


def test_registered_and_in_the_model_schema():
    from theraflow.pairs.model_config import model_schema
    from theraflow.schemas import validate

    assert "attention" in encoders("protein").names()
    validate({"name": "m", "drug_encoder": {"type": "gin"},
              "target_encoder": {"type": "attention+id", "attention": {"dim": 64, "heads": 4}, "id": {"dim": 8}}},
             model_schema(), where="test")


def test_padding_and_batch_do_not_change_a_sequence():
    enc = _encoder()
    short, long_ = SEQ[:37], SEQ
    with torch.no_grad():
        alone = enc({"tokens": torch.from_numpy(tokenize([short], 256))})
        both = enc({"tokens": torch.from_numpy(tokenize([short, long_], 256))})
        empty = enc({"tokens": torch.from_numpy(tokenize([""], 256))})
    assert torch.allclose(alone[0], both[0], atol=1e-5)
    assert not torch.allclose(both[0], both[1], atol=1e-3)
    assert torch.equal(empty, torch.zeros_like(empty))


def test_attention_reads_residues_far_apart():
    enc = _encoder(layers=1)
    a = SEQ
    b = "W" + SEQ[1:]  # the first residue changed: the last tokens' states see it only through attention
    with torch.no_grad():
        h = {}
        for s in (a, b):
            tok = torch.from_numpy(tokenize([s], 256))
            x = enc.attention.patches(enc.attention.embedding(tok).transpose(1, 2)).transpose(1, 2)
            x = enc.attention.encoder(x + enc.attention.positions[: x.shape[1]])
            h[s] = x[0, -1]
    assert (h[a] - h[b]).abs().max() > 1e-4


def test_a_pair_model_learns_with_it():
    from theraflow.nn.pair import PairModel
    from theraflow.pairs.task import task_spec

    torch.manual_seed(0)
    spec = task_spec("dti", "regression")
    cfg = {"drug_encoder": {"type": "morgan", "morgan": {"bits": 256}},
           "target_encoder": {"type": "attention", "attention": {"dim": 32, "layers": 1, "heads": 4, "patch": 4,
                                                                 "dropout": 0.0, "max_len": 128}},
           "head": {"hidden": [16], "dropout": 0.0, "proj": 16}}
    model = PairModel(spec.task, cfg, {"molecule": {"vocab": 0}, "protein": {"vocab": 0}}, n_out=1,
                      head_defaults=spec.task.head)
    targets = [SEQ[:60], SEQ[40:100], "MKKLLPTAAAGLLLLAAQPAMA" * 3]
    from theraflow.descriptors import morgan_bits

    smiles = ["CCO", "c1ccccc1O"]
    bits = torch.from_numpy(morgan_bits(smiles, bits=256).astype(np.float32))
    a = torch.tensor([0, 0, 0, 1, 1, 1])
    b = torch.tensor([0, 1, 2, 0, 1, 2])
    y = torch.tensor([0.1, 0.9, 0.5, 0.3, 0.2, 0.8])  # depends on the target and the pair
    batch = {"entities": {"molecule": {"morgan": bits, "index": torch.full((2,), -1)},
                          "protein": {"tokens": torch.from_numpy(tokenize(targets, 128)),
                                      "index": torch.full((3,), -1)}},
             "a": a, "b": b}
    losses = training_losses(model, batch, y, steps=150, lr=3e-3)
    assert losses[-1] < 0.1 * losses[0]
