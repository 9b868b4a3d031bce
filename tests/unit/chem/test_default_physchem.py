"""The default_physchem featurizer: the default columns plus per-atom Gasteiger charge, Crippen logP/MR
and TPSA contributions that reproduce RDKit's molecular descriptors and the published atom values."""

import numpy as np
import pytest
import torch
from rdkit import Chem, rdBase
from rdkit.Chem import Crippen, rdMolDescriptors

from theraflow.chem import FeatureStore, featurize, get_featurizer

Q, UNDEF, LOGP, MR, TPSA = range(47, 52)


def atoms(smiles: str) -> np.ndarray:
    """[atoms, 52] features of one molecule."""
    graphs, errors = get_featurizer("default_physchem").featurize_mols([Chem.MolFromSmiles(smiles)])
    assert not errors
    return graphs.x


def test_identity_and_layout():
    feat = get_featurizer("default_physchem")
    assert feat.identity() == {"name": "default_physchem", "params": {}, "version": "1"}
    g = featurize(["CC(=O)Nc1ccc(O)cc1"], "default_physchem").graphs
    assert g.x.shape == (11, 52) and g.x.dtype == np.float32
    d = g[0]
    assert d.x.dtype == torch.float32 and d.x.shape == (11, 52) and d.edge_attr.shape == (22, 14)
    assert featurize(["CCO"], "default_physchem").keys[0] != featurize(["CCO"], "default").keys[0]


def test_first_47_columns_are_the_default_features(nci_canonical):
    smiles = nci_canonical[:300]
    ours = featurize(smiles, "default_physchem").graphs
    ref = featurize(smiles, "default").graphs
    assert np.array_equal(ours.x[:, :47], ref.x.astype(np.float32))
    assert np.array_equal(ours.x_ptr, ref.x_ptr) and np.array_equal(ours.edge_index, ref.edge_index)
    assert np.array_equal(ours.edge_attr, ref.edge_attr)


def test_columns_add_up_to_the_molecular_descriptors(nci_canonical):
    """Each atom carries its implicit hydrogens' share, so a molecule's column sums are RDKit's
    MolLogP, MolMR, TPSA and (for the Gasteiger charges) its formal charge."""
    extra = ["CC(=O)[O-]", "C[NH3+]", "[2H]OC([2H])([2H])[2H]", "O=S(=O)(N)c1ccc(N)cc1", "O=P(O)(O)O",
             "C[N+](C)(C)CCOC(C)=O", "[O-][n+]1ccccc1", "CC(=O)[O-].[Na+]"]
    smiles = nci_canonical[:400] + extra
    res = featurize(smiles, "default_physchem")
    assert not res.errors
    g = res.graphs
    checked_charges = 0
    for k, s in enumerate(smiles):
        with rdBase.BlockLogs():
            mol = Chem.MolFromSmiles(s)
        x = g.x[g.x_ptr[k]:g.x_ptr[k + 1]].astype(np.float64)
        assert x.shape[0] == mol.GetNumAtoms()
        assert x[:, LOGP].sum() == pytest.approx(Crippen.MolLogP(mol), abs=2e-3), s
        assert x[:, MR].sum() == pytest.approx(Crippen.MolMR(mol), abs=2e-3), s
        assert x[:, TPSA].sum() == pytest.approx(rdMolDescriptors.CalcTPSA(mol), abs=2e-3), s
        if not x[:, UNDEF].any():
            assert x[:, Q].sum() == pytest.approx(Chem.GetFormalCharge(mol), abs=2e-3), s
            checked_charges += 1
    assert checked_charges > 350


def test_published_atom_values():
    """Per-atom values from the original tables (Wildman & Crippen 1999; Ertl et al. 2000)."""
    ethanol = atoms("CCO")
    assert ethanol[0, LOGP] == pytest.approx(0.1441 + 3 * 0.1230, abs=1e-4)  # C1 + 3 x H1
    assert ethanol[2, LOGP] == pytest.approx(-0.2893 - 0.2677, abs=1e-4)  # O2 alcohol + H2 alcohol
    assert ethanol[2, TPSA] == pytest.approx(20.23, abs=1e-3)  # [OH]
    assert ethanol[:2, TPSA].tolist() == [0.0, 0.0]
    pyridine = atoms("c1ccncc1")
    assert pyridine[3, TPSA] == pytest.approx(12.89, abs=1e-3)  # aromatic n
    assert pyridine[3, LOGP] == pytest.approx(-0.3239, abs=1e-4)  # N11
    acetamide = atoms("CC(N)=O")
    assert acetamide[2, TPSA] == pytest.approx(26.02, abs=1e-3)  # NH2
    assert acetamide[3, TPSA] == pytest.approx(17.07, abs=1e-3)  # O=
    deuterated = atoms("[2H]OC")  # a hydrogen in the graph keeps its own row
    assert deuterated[0, LOGP] == pytest.approx(-0.2677, abs=1e-4) and deuterated[1, LOGP] == pytest.approx(-0.2893, abs=1e-4)


def test_gasteiger_charges():
    acetate = atoms("CC(=O)[O-]")
    assert acetate[2, Q] == pytest.approx(acetate[3, Q], abs=1e-5) == pytest.approx(-0.5505, abs=1e-3)
    assert acetate[:, Q].sum() == pytest.approx(-1.0, abs=1e-5)
    phenol = atoms("Oc1ccccc1")
    assert phenol[0, Q] < -0.2 and phenol[1, Q] > 0.1  # O pulls electrons from the ipso carbon
    assert phenol[2, Q] == pytest.approx(phenol[6, Q]) and phenol[3, Q] == pytest.approx(phenol[5, Q])
    assert not phenol[:, UNDEF].any()


def test_undefined_charges_are_flagged_per_connected_part():
    selenide = atoms("C[Se]C")  # RDKit has no Gasteiger parameters for Se: NaN for the whole molecule
    assert selenide[:, UNDEF].tolist() == [1.0, 1.0, 1.0] and selenide[:, Q].tolist() == [0.0, 0.0, 0.0]
    assert np.isfinite(selenide).all()
    salt = atoms("N[Co+3](N)(N)(N)(N)N.[O-][N+]([O-])=O")  # cobalt complex, nitrate counter-ion
    assert salt[:7, UNDEF].tolist() == [1.0] * 7 and salt[7:, UNDEF].tolist() == [0.0] * 4
    assert salt[7:, Q].sum() == pytest.approx(-1.0, abs=1e-4)


def test_the_callers_molecule_is_left_alone():
    mol = Chem.MolFromSmiles("CCO")
    get_featurizer("default_physchem").featurize_mols([mol])
    assert not mol.GetAtomWithIdx(0).HasProp("_GasteigerCharge")
    assert mol.GetNumAtoms() == 3


def test_store_round_trip(tmp_path, nci_canonical):
    smiles = nci_canonical[:50]
    cold = featurize(smiles, "default_physchem", store=tmp_path / "store")
    warm = featurize(smiles, "default_physchem", store=FeatureStore(tmp_path / "store"))
    assert warm.misses == 0 and warm.hits == len(set(smiles))
    assert warm.graphs.equals(cold.graphs) and warm.graphs.x.dtype == np.float32
