import numpy as np
import pytest

from theraflow.descriptors import AMINO_ACIDS, morgan_bits, residue_composition


def test_residue_composition_matches_a_hand_computed_example():
    # "MKKA": M 1, K 2, A 1 of 4 residues; dipeptides MK, KK, KA (3)
    comp = residue_composition(["MKKA"])[0]
    aa = {a: comp[i] for i, a in enumerate(AMINO_ACIDS)}
    assert aa["M"] == pytest.approx(20 * 1 / 4) and aa["K"] == pytest.approx(20 * 2 / 4)
    assert aa["A"] == pytest.approx(20 * 1 / 4) and sum(aa.values()) == pytest.approx(20)

    def dp(x, y):
        return comp[20 + AMINO_ACIDS.index(x) * 20 + AMINO_ACIDS.index(y)]

    assert dp("M", "K") == pytest.approx(400 / 3) and dp("K", "K") == pytest.approx(400 / 3)
    assert dp("K", "A") == pytest.approx(400 / 3) and dp("A", "M") == 0
    assert comp[20:].sum() == pytest.approx(400)


def test_residue_composition_skips_nonstandard_residues_and_empty_sequences():
    comp = residue_composition(["AXA", "", "xx", "aa"])
    assert comp[0, AMINO_ACIDS.index("A")] == pytest.approx(20)  # X not counted
    assert comp[0, 20:].sum() == 0  # AX and XA are not dipeptides of standard residues
    assert not comp[1].any() and not comp[2].any()
    np.testing.assert_allclose(comp[3], residue_composition(["AA"])[0])  # lower case reads as upper


def test_morgan_bits():
    fp = morgan_bits(["CCO", "c1ccccc1O"], bits=1024)
    assert fp.shape == (2, 1024) and fp.dtype == np.uint8 and 0 < fp[0].sum() < fp[1].sum()
    with pytest.raises(ValueError, match="'C1CC\\('"):
        morgan_bits(["CCO", "C1CC("])
