"""Fixed-length descriptors of the entities interaction models read: molecules and protein sequences.

- :func:`morgan_bits`: Morgan (ECFP-like) bit vectors of molecules, RDKit's generator;
- :func:`residue_composition`: amino-acid composition (20 values) and dipeptide composition
  (400 values) of protein sequences, each scaled so that a uniform sequence reads 1.0;
- :func:`tokenize`: residues as integer tokens for sequence networks.

Both are cheap next to a graph or sequence network and generalize across entities: a model may
read them beside (or instead of) its graph and sequence encoders. No I/O here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
COMPOSITION_DIM = len(AMINO_ACIDS) + len(AMINO_ACIDS) ** 2
_AA_CODE = np.full(256, -1, dtype=np.int64)
for _i, _a in enumerate(AMINO_ACIDS):
    _AA_CODE[ord(_a)] = _i
    _AA_CODE[ord(_a.lower())] = _i


def residue_composition(sequences: Sequence[str]) -> np.ndarray:
    """[n, 420] float32: amino-acid composition × 20, then dipeptide composition × 400.

    Residues outside the 20 standard amino acids (X, B, U, ...) are not counted and break
    dipeptides (a dipeptide is two consecutive standard residues). A sequence without a
    standard residue gives zeros. Fractions are scaled by the number of categories, so
    every value of a sequence with uniform composition is 1.0.
    """
    n_aa = len(AMINO_ACIDS)
    out = np.zeros((len(sequences), COMPOSITION_DIM), dtype=np.float32)
    for row, seq in enumerate(sequences):
        codes = _AA_CODE[np.frombuffer(seq.encode("ascii", "replace"), dtype=np.uint8)]
        std = codes[codes >= 0]
        if len(std):
            out[row, :n_aa] = np.bincount(std, minlength=n_aa) * (n_aa / len(std))
        a, b = codes[:-1], codes[1:]
        ok = (a >= 0) & (b >= 0)
        if ok.any():
            pairs = a[ok] * n_aa + b[ok]
            out[row, n_aa:] = np.bincount(pairs, minlength=n_aa * n_aa) * (n_aa * n_aa / int(ok.sum()))
    return out


ALPHABET = "ACDEFGHIKLMNPQRSTVWYBUXZO"
VOCAB_SIZE = len(ALPHABET) + 2  # + padding (0) + unknown
_CODE = np.full(256, len(ALPHABET) + 1, dtype=np.int64)
for _i, _a in enumerate(ALPHABET):
    _CODE[ord(_a)] = _i + 1
    _CODE[ord(_a.lower())] = _i + 1


def tokenize(sequences: Sequence[str], max_len: int) -> np.ndarray:
    """[n, max_len] int64 tokens: 0 = padding, the 20 standard amino acids, then B, U, X, Z, O, then
    "unknown"; sequences truncated to ``max_len`` and right-padded with 0."""
    out = np.zeros((len(sequences), max_len), dtype=np.int64)
    for i, s in enumerate(sequences):
        b = np.frombuffer(s[:max_len].encode("ascii", "replace"), dtype=np.uint8)
        out[i, : len(b)] = _CODE[b]
    return out


def morgan_bits(smiles: Sequence[str], *, radius: int = 2, bits: int = 2048) -> np.ndarray:
    """[n, bits] uint8 Morgan bit vectors; a SMILES RDKit cannot parse raises ValueError naming it."""
    from rdkit import Chem, rdBase
    from rdkit.Chem import rdFingerprintGenerator

    gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=bits)
    out = np.zeros((len(smiles), bits), dtype=np.uint8)
    with rdBase.BlockLogs():
        for i, smi in enumerate(smiles):
            mol = Chem.MolFromSmiles(smi) if smi else None
            if mol is None:
                raise ValueError(f"cannot compute a Morgan fingerprint of SMILES {smi!r} (position {i})")
            out[i] = gen.GetFingerprintAsNumPy(mol)
    return out


def morgan_bits_of_mols(mols: Sequence, *, radius: int = 2, bits: int = 2048) -> np.ndarray:
    """The same from RDKit molecules already parsed (rows of None stay zero)."""
    from rdkit.Chem import rdFingerprintGenerator

    gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=bits)
    out = np.zeros((len(mols), bits), dtype=np.uint8)
    for i, mol in enumerate(mols):
        if mol is not None:
            out[i] = gen.GetFingerprintAsNumPy(mol)
    return out
