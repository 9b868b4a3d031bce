"""The binary-form field extractor must agree with the RDKit API on every field."""

import numpy as np
import pytest
from rdkit import Chem

from theraflow.chem.rdgraph import FieldBatch, extract_fields

EDGE_CASES = [
    "C[C@H](N)C(=O)[O-]",  # chirality, charge
    "C/C=C/Cl",  # bond stereo and direction
    "[13CH4]",  # isotope
    "[CH3:1]C",  # atom map number: falls back to the API
    "*CC",  # dummy atom: falls back to the API
    "[Na+].[Cl-]",
    "O=[N+]([O-])c1ccccc1",
    "C=[N+]=[N-]",
    "[Fe+2]",
    "[O]",  # radicals
    "[CH2]C",
    "F[P-](F)(F)(F)(F)F",  # hypervalent
    "[2H]C([2H])([2H])O",
    "C1CC2CCC1C2",  # bridged rings
    "c1ccc2c(c1)ccc1ccccc12",  # fused aromatic rings
    "C" * 300,  # > 255 atoms: 4-byte indices in the binary form
    "C1" + "C" * 299 + "1/C=C/c1ccccc1",  # a ring and stereo in the wide form
    "[H][H]",
    "[H]C([H])([H])[H]",
]


def _compare(a: FieldBatch, b: FieldBatch) -> None:
    for name in a.__dataclass_fields__:
        if name == "n_fallback":
            continue
        x, y = getattr(a, name), getattr(b, name)
        assert np.array_equal(x, y), f"field {name} differs"


def test_agrees_with_api_on_nci(nci_mols):
    fast = extract_fields(nci_mols)
    ref = extract_fields(nci_mols, use_pickle=False)
    _compare(fast, ref)
    assert fast.n_fallback == 0  # plain molecules never need the API


@pytest.mark.parametrize("smiles", EDGE_CASES)
def test_agrees_with_api_on_edge_cases(smiles):
    mol = Chem.MolFromSmiles(smiles)
    assert mol is not None
    _compare(extract_fields([mol]), extract_fields([mol], use_pickle=False))


def test_fallback_is_counted():
    mols = [Chem.MolFromSmiles(s) for s in ("[CH3:1]C", "CC", "*CC")]
    assert extract_fields(mols).n_fallback == 2


def test_offsets_and_degree():
    mols = [Chem.MolFromSmiles(s) for s in ("CCO", "c1ccccc1")]
    f = extract_fields(mols)
    assert f.atom_ptr.tolist() == [0, 3, 9]
    assert f.bond_ptr.tolist() == [0, 2, 8]
    assert f.degree[:3].tolist() == [4, 4, 2]  # total degree counts hydrogens
    assert f.in_ring.tolist() == [0, 0, 0] + [1] * 6
    assert f.bond_in_ring.tolist() == [0, 0] + [1] * 6
