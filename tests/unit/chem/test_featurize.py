"""Featurizers: pyg == from_smiles, deepchem == DeepChem's own conversion, default layout."""

import numpy as np
import pytest
import torch
from rdkit import Chem

from theraflow.chem import featurize, get_featurizer, list_featurizers
from theraflow.chem.featurize import parse_smiles
from theraflow.chem.featurizers.default import NUM_EDGE_FEATURES, NUM_NODE_FEATURES


def test_registry():
    assert {"default", "pyg", "deepchem"} <= set(list_featurizers())
    with pytest.raises(ValueError, match="unknown featurizer 'nope'"):
        get_featurizer("nope")
    with pytest.raises(ValueError, match="has no parameter"):
        get_featurizer("default", radius=2)
    with pytest.raises(ValueError, match="must be bool"):
        get_featurizer("deepchem", use_chirality="yes")


def test_each_featurizer_module_is_its_featurizer():
    """One module per featurizer: FEATURIZER's name is the module's name; the docstring documents it."""
    import importlib
    import pkgutil

    import theraflow.chem.featurizers as package
    from theraflow.chem.featurize import GraphFeaturizer
    from theraflow.registry import FEATURIZERS

    modules = [m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_")]
    assert {"default", "pyg", "deepchem"} <= set(modules)
    assert set(modules) <= set(FEATURIZERS.names())
    for name in modules:
        module = importlib.import_module(f"theraflow.chem.featurizers.{name}")
        cls = module.FEATURIZER
        assert issubclass(cls, GraphFeaturizer), name
        assert cls.name == name, f"{module.__name__}: FEATURIZER.name is {cls.name!r}"
        assert cls.version and isinstance(cls.version, str), name
        assert module.__doc__ and f"``{name}``" in module.__doc__, f"{module.__name__}: document the columns"
        assert FEATURIZERS.get(name) is cls
        assert get_featurizer(name).identity()["name"] == name


def test_identities_are_unchanged():
    """The identities in feature-store keys (a change would orphan every store)."""
    from theraflow.chem.store import featurizer_id

    assert get_featurizer("default").identity() == {"name": "default", "params": {}, "version": "1"}
    assert get_featurizer("pyg").identity() == {"name": "pyg", "params": {}, "version": "1"}
    assert get_featurizer("deepchem").identity() == {
        "name": "deepchem", "params": {"use_chirality": False, "use_partial_charge": False}, "version": "1"}
    fid = featurizer_id({"name": "default", "params": {}, "version": "1"})
    assert featurize(["CCO"], "default").fid == fid


def test_register_featurizer_is_the_plugin_way():
    from theraflow.chem import GraphFeaturizer, register_featurizer
    from theraflow.chem.featurizers.default import DefaultFeaturizer
    from theraflow.registry import FEATURIZERS

    class Plugin(DefaultFeaturizer):
        name = "test_plugin_featurizer"
        version = "7"

    try:
        assert register_featurizer(Plugin) is Plugin
        assert "test_plugin_featurizer" in list_featurizers()
        assert get_featurizer("test_plugin_featurizer").identity()["version"] == "7"
        assert featurize(["CCO"], "test_plugin_featurizer").graphs.x.shape == (3, 47)
    finally:
        FEATURIZERS.unregister("test_plugin_featurizer")
    assert "test_plugin_featurizer" not in list_featurizers()

    class Clash(GraphFeaturizer):
        name = "default"
        version = "1"

    with pytest.raises(ValueError, match="already registered"):
        register_featurizer(Clash)
    assert get_featurizer("default").__class__ is DefaultFeaturizer


def test_pyg_identical_to_from_smiles(nci_smiles):
    from torch_geometric.utils import from_smiles

    smiles = [s for s in nci_smiles if Chem.MolFromSmiles(s) is not None]
    result = featurize(smiles, "pyg")
    assert not result.errors
    assert len(result.graphs) == len(smiles)
    for i, s in enumerate(smiles):
        ref = from_smiles(s)
        got = result.graphs[i]
        assert got.x.dtype == ref.x.dtype == torch.long
        assert torch.equal(got.x, ref.x), s
        assert torch.equal(got.edge_index, ref.edge_index), s
        assert torch.equal(got.edge_attr, ref.edge_attr), s
        assert got.smiles == ref.smiles


def test_pyg_reports_values_outside_its_vocabulary():
    # from_smiles raises on degree > 10; the pyg featurizer reports it instead
    s = "[S](F)(F)(F)(F)(F)(F)(F)(F)(F)(F)F"  # degree 11 sulfur
    mol = Chem.MolFromSmiles(s, sanitize=False)
    mol.UpdatePropertyCache(strict=False)
    Chem.SanitizeMol(mol, Chem.SanitizeFlags.SANITIZE_ALL ^ Chem.SanitizeFlags.SANITIZE_PROPERTIES)
    graphs, errors = get_featurizer("pyg").featurize_mols([Chem.MolFromSmiles("CCO"), mol])
    assert len(graphs) == 1
    assert 1 in errors and "degree value 11" in errors[1]


def test_deepchem_identical_to_deepchem_conversion(nci_mols):
    from deepchem.feat import MolGraphConvFeaturizer

    mols = nci_mols[:300]
    ref = MolGraphConvFeaturizer(use_edges=True).featurize(mols)
    graphs, errors = get_featurizer("deepchem").featurize_mols(mols)
    assert not errors
    for i, r in enumerate(ref):
        rp = r.to_pyg_graph()
        got = graphs[i]
        assert torch.equal(got.x, rp.x)
        assert torch.equal(got.edge_index, rp.edge_index)
        assert torch.equal(got.edge_attr, rp.edge_attr)


def test_default_layout(nci_canonical):
    result = featurize(nci_canonical[:500], "default")
    g = result.graphs
    assert g.num_node_features == NUM_NODE_FEATURES == 47
    assert g.num_edge_features == NUM_EDGE_FEATURES == 14
    x = g.x.astype(int)
    # exactly one element, degree, charge, H count, hybridization and chirality slot per atom
    for lo, hi in [(0, 16), (16, 23), (23, 28), (28, 33), (33, 40), (42, 46)]:
        assert (x[:, lo:hi].sum(1) == 1).all(), (lo, hi)
    e = g.edge_attr.astype(int)
    for lo, hi in [(0, 5), (7, 14)]:
        assert (e[:, lo:hi].sum(1) == 1).all()
    d = g[0]
    assert d.x.dtype == torch.float32 and d.edge_attr.dtype == torch.float32
    assert d.edge_index.shape[1] == 2 * Chem.MolFromSmiles(nci_canonical[0]).GetNumBonds()


def test_default_values_for_a_known_molecule():
    g = featurize(["C[C@H](O)c1ccccc1"], "default").graphs
    x = g.x
    # atom 1: sp3 carbon, chiral (CCW), 1 H, degree 4, not aromatic, not in a ring
    c = x[1]
    assert c[2] == 1  # carbon
    assert c[16 + 4] == 1  # degree 4
    assert c[28 + 1] == 1  # one hydrogen
    assert c[33 + 3] == 1  # SP3
    assert c[40] == 0 and c[41] == 0
    assert c[42 + 2] == 1  # tetrahedral CCW
    ring_c = x[3]
    assert ring_c[40] == 1 and ring_c[41] == 1 and ring_c[33 + 2] == 1  # aromatic sp2 ring carbon
    e = g.edge_attr
    ring_bond = e[2 * 3]  # bond 3 (c1-c) is aromatic, conjugated, in a ring
    assert ring_bond[3] == 1 and ring_bond[5] == 1 and ring_bond[6] == 1


def test_errors_and_order_are_kept():
    result = featurize(["CCO", "C1CC(", "", "c1ccccc1"], "default")
    assert result.index.tolist() == [0, 3]
    assert result.errors[1] == "RDKit could not parse the SMILES"
    assert result.errors[2] == "empty SMILES"
    assert result.graphs.smiles == ["CCO", "c1ccccc1"]
    assert len(result.keys) == 4


def test_duplicates_are_featurized_once():
    result = featurize(["CCO", "CCO", "CCN"], "default")
    assert result.misses == 2
    assert result.graphs.take([0]).equals(result.graphs.take([1]))
    assert result.keys[0] == result.keys[1] != result.keys[2]


def test_parse_smiles_reports():
    mols, errors = parse_smiles(["C", "C1CC", ""])
    assert mols[0] is not None and mols[1] is None
    assert set(errors) == {1, 2}


def test_keys_depend_on_featurizer_and_params():
    a = featurize(["CCO"], "deepchem").keys[0]
    b = featurize(["CCO"], "deepchem", params={"use_chirality": True}).keys[0]
    c = featurize(["CCO"], "default").keys[0]
    assert len({a, b, c}) == 3


@pytest.mark.parametrize("name", ["default", "pyg", "deepchem"])
def test_collate_matches_pyg_batching(name, nci_canonical):
    from torch_geometric.data import Batch

    g = featurize(nci_canonical[:20], name).graphs
    ours = g.collate([3, 0, 7])
    ref = Batch.from_data_list([g[3], g[0], g[7]])
    for key in ("x", "edge_index", "edge_attr", "batch", "ptr"):
        assert torch.equal(getattr(ours, key), getattr(ref, key)), key
    assert ours.num_graphs == 3


def test_graphset_take_and_concat(nci_canonical):
    from theraflow.chem import GraphSet

    g = featurize(nci_canonical[:30], "default").graphs
    parts = GraphSet.concat([g.take(np.arange(0, 10)), g.take(np.arange(10, 30))])
    assert parts.equals(g)
    rev = g.take(np.arange(29, -1, -1)).take(np.arange(29, -1, -1))
    assert rev.equals(g)
    assert g.take([]).x.shape == (0, g.num_node_features)
