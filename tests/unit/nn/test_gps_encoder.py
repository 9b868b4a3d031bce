"""The ``gps`` molecule encoder, added as one module (src/theraflow/nn/encoders/molecule/gps.py) with no other edit:
the registry lists it, the model schema accepts it and its parameters, a pair model trains with it, and its
global attention reads atoms beyond the reach of its message passing."""

from __future__ import annotations

import torch

from theraflow.chem.featurize import featurize
from theraflow.nn.entity import EntityEncoder
from theraflow.registry import encoders

from .helpers import training_losses


def _graphs(smiles):
    res = featurize(smiles, "default")
    return res.graphs


def test_registered_and_in_the_model_schema():
    from theraflow.pairs.model_config import model_schema
    from theraflow.schemas import validate

    assert "gps" in encoders("molecule").names()
    cfg = {"name": "m", "drug_encoder": {"type": "gps+morgan", "hidden": 32, "layers": 2, "heads": 4,
                                         "attn_dropout": 0.0, "morgan": {"bits": 256}},
           "target_encoder": {"type": "id"}}
    validate(cfg, model_schema(), where="test")


def test_permutation_invariant_and_global():
    torch.manual_seed(0)
    enc = EntityEncoder("molecule", {"type": "gps", "hidden": 32, "layers": 1, "heads": 4, "dropout": 0.0,
                                     "attn_dropout": 0.0, "pool": "mean"}, {"node_dim": 47, "edge_dim": 14})
    enc.eval()
    # a long chain: with one layer, message passing sees only neighbours; attention reaches the far end
    a, b = "CCCCCCCCCCCCCCN", "CCCCCCCCCCCCCCO"
    g = _graphs([a, b])
    with torch.no_grad():
        out = enc({"graphs": g.collate([0, 1])})
        atom_states = {}
        for i, smi in enumerate((a, b)):
            data = g.collate([i])
            h = enc.graph.embed(data.x)
            atom_states[smi] = enc.graph.layers[0](h, data.edge_index, data.batch, edge_attr=data.edge_attr)[0]
    assert out.shape == (2, 32)
    # atom 0 (a carbon 14 bonds away from the N/O) differs between the two molecules: attention carried it
    assert (atom_states[a] - atom_states[b]).abs().max() > 1e-4
    # reversing the atom order (another SMILES of the same chain) gives the same graph vector
    rev = _graphs(["NCCCCCCCCCCCCCC"])
    with torch.no_grad():
        assert torch.allclose(enc({"graphs": rev.collate([0])})[0], out[0], atol=1e-5)


def test_a_pair_model_trains_with_it():
    from theraflow.nn.pair import PairModel
    from theraflow.pairs.task import task_spec

    torch.manual_seed(0)
    spec = task_spec("dti", "regression")
    cfg = {"drug_encoder": {"type": "gps", "hidden": 32, "layers": 2, "heads": 2, "dropout": 0.0},
           "target_encoder": {"type": "id"}, "head": {"hidden": [16], "dropout": 0.0, "proj": 16}}
    model = PairModel(spec.task, cfg, {"molecule": {"node_dim": 47, "edge_dim": 14, "vocab": 0},
                                       "protein": {"vocab": 1}}, n_out=1, head_defaults=spec.task.head)
    smiles = ["c1ccccc1O", "c1ccccc1N", "CCO", "CCN", "CC(=O)O", "c1ccncc1"]
    y = torch.tensor([1.0, 0.8, 0.1, 0.2, 0.3, 0.9])  # aromatic rings score high
    g = _graphs(smiles)
    batch = {"entities": {"molecule": {"graphs": g.collate(range(6)), "index": torch.full((6,), -1)},
                          "protein": {"index": torch.zeros(1, dtype=torch.long)}},
             "a": torch.arange(6), "b": torch.zeros(6, dtype=torch.long)}
    losses = training_losses(model, batch, y, steps=60, lr=1e-2)
    assert losses[-1] < 0.1 * losses[0]
