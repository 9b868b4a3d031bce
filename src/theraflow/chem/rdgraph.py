"""Per-atom and per-bond fields of RDKit molecules, extracted in bulk.

RDKit's Python API creates a wrapper object for every atom and bond it hands out
(about 2.5 µs each on this project's reference machine), which costs more than
parsing the SMILES in the first place. ``Mol.ToBinary()`` serialises the same fields
in a single C++ call. :func:`extract_fields` reads what graph featurizers need from
that binary form (RDKit pickle format, major version 16, as written by
``MolPickler::_pickle``), and uses the RDKit API (:func:`_fields_from_api`, the
reference implementation) for any molecule whose pickle holds something it does not
decode: query atoms or bonds, atom-map numbers, dummy labels, monomer info,
substance-group end points, ring information that is missing, or another format
version. The tests check that both paths agree on every molecule of RDKit's NCI set.

The fields are columnar numpy arrays over all atoms (and all bonds) of a batch of
molecules; ``atom_ptr``/``bond_ptr`` give each molecule's slice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rdkit import Chem

log = logging.getLogger(__name__)

_PICKLE_MAJOR = 16
_NO_CONFORMERS = int(Chem.PropertyPickleOptions.NoConformers)
_HEADER = b"\xef\xbe\xad\xde\x00\x00\x00\x00"
_BEGINATOM, _BEGINBOND, _ENDMOL = 1, 11, 22
# Tags that open the ring-information block (SSSR, symmetrized SSSR, fast find,
# other/unknown). Anything else after the bonds means "no ring info": fall back.
_RING_TAGS = frozenset({20, 64, 65, 66, 67})
# Atom flags we cannot decode here: query (0x10), map number (0x08), dummy label
# (0x04), monomer info (0x02).
_ATOM_UNSUPPORTED = 0x1E
# Bond flags we cannot decode here: query (0x10), end points (0x01).
_BOND_UNSUPPORTED = 0x11

ATOM_FIELDS = (
    "atomic_num",
    "aromatic",
    "hybridization",
    "formal_charge",
    "chiral_tag",
    "total_hs",
    "radicals",
)
BOND_FIELDS = ("bond_type", "conjugated", "stereo")


class _Unsupported(Exception):
    """The pickle holds something this decoder does not read; use the API."""


@dataclass
class FieldBatch:
    """Columnar atom and bond fields of a batch of molecules.

    Atom arrays have one entry per atom of all molecules; bond arrays one per bond.
    ``bond_begin``/``bond_end`` are indices local to each molecule.
    ``degree`` is RDKit's total degree (heavy neighbours + hydrogens).
    """

    atom_ptr: np.ndarray
    bond_ptr: np.ndarray
    atomic_num: np.ndarray
    aromatic: np.ndarray
    hybridization: np.ndarray
    formal_charge: np.ndarray
    chiral_tag: np.ndarray
    total_hs: np.ndarray
    radicals: np.ndarray
    degree: np.ndarray
    in_ring: np.ndarray
    bond_begin: np.ndarray
    bond_end: np.ndarray
    bond_type: np.ndarray
    conjugated: np.ndarray
    stereo: np.ndarray
    bond_in_ring: np.ndarray
    n_fallback: int = 0

    def __len__(self) -> int:
        return len(self.atom_ptr) - 1


class _Columns:
    """Python lists the decoders append to; turned into arrays once per batch."""

    def __init__(self) -> None:
        self.atoms: list[list[int]] = [[] for _ in ATOM_FIELDS]
        self.bonds: list[list[int]] = [[] for _ in (0, 1, *BOND_FIELDS)]
        self.ring_atoms: list[int] = []  # global atom indices, ring after ring
        self.ring_sizes: list[int] = []
        self.n_atoms: list[int] = []
        self.n_bonds: list[int] = []

    def mark(self) -> tuple:
        return (len(self.atoms[0]), len(self.bonds[0]), len(self.ring_atoms), len(self.ring_sizes))

    def rollback(self, mark: tuple) -> None:
        na, nb, nra, nrs = mark
        for col in self.atoms:
            del col[na:]
        for col in self.bonds:
            del col[nb:]
        del self.ring_atoms[nra:]
        del self.ring_sizes[nrs:]


def _decode_pickle(b: bytes, cols: _Columns, atom_offset: int) -> tuple[int, int]:
    """Append the fields of one pickled molecule to ``cols``; return (atoms, bonds)."""
    if b[:8] != _HEADER or int.from_bytes(b[8:12], "little") != _PICKLE_MAJOR:
        raise _Unsupported("pickle version")
    n_atoms = int.from_bytes(b[20:24], "little")
    n_bonds = int.from_bytes(b[24:28], "little")
    if b[29] != _BEGINATOM:
        raise _Unsupported("no atom block")
    wide = n_atoms > 255  # atom indices are int32 instead of one byte
    z_l, ar_l, hy_l, ch_l, ct_l, hs_l, ra_l = cols.atoms
    i = 30
    for _ in range(n_atoms):
        z = b[i]
        fl = b[i + 1]
        pf = b[i + 2] | (b[i + 3] << 8)
        if fl & _ATOM_UNSUPPORTED or pf & 0x1 or b[i + 4] or b[i + 5]:
            raise _Unsupported("atom record")
        i += 6
        chg = chi = nexh = imph = rad = 0
        hyb = 4  # SP3 is the default the writer leaves out
        if pf & 0x2:
            chg = b[i] - 256 if b[i] > 127 else b[i]
            i += 1
        if pf & 0x4:
            chi = b[i]
            i += 1
        if pf & 0x8:
            hyb = b[i]
            i += 1
        if pf & 0x10:
            nexh = b[i]
            i += 1
        if pf & 0x20:  # explicit valence: not needed
            i += 1
        if pf & 0x40:
            imph = b[i]
            i += 1
        if pf & 0x80:
            rad = b[i]
            i += 1
        if pf & 0x100:  # isotope, uint32: not a feature here
            i += 4
        z_l.append(z)
        ar_l.append(fl >> 6 & 1)
        hy_l.append(hyb)
        ch_l.append(chg)
        ct_l.append(chi)
        hs_l.append(nexh + imph)
        ra_l.append(rad)
    if b[i] != _BEGINBOND:
        raise _Unsupported("no bond block")
    i += 1
    bb_l, be_l, bt_l, bc_l, bs_l = cols.bonds
    for _ in range(n_bonds):
        if wide:
            u = int.from_bytes(b[i : i + 4], "little")
            v = int.from_bytes(b[i + 4 : i + 8], "little")
            i += 8
        else:
            u = b[i]
            v = b[i + 1]
            i += 2
        fl = b[i]
        i += 1
        if fl & _BOND_UNSUPPORTED:
            raise _Unsupported("bond record")
        bt = 1
        st = 0
        if fl & 0x8:
            bt = b[i]
            i += 1
        if fl & 0x4:  # bond direction: not a feature here
            i += 1
        if fl & 0x2:
            st = b[i]
            i += 2 + b[i + 1] * (4 if wide else 1)
        bb_l.append(u)
        be_l.append(v)
        bt_l.append(bt)
        bc_l.append(fl >> 5 & 1)
        bs_l.append(st)
    tag = b[i]
    if tag not in _RING_TAGS:
        raise _Unsupported("no ring info")
    n_rings = int.from_bytes(b[i + 1 : i + 5], "little")
    i += 5
    ring_atoms = cols.ring_atoms
    ring_sizes = cols.ring_sizes
    if wide:
        for _ in range(n_rings):
            k = int.from_bytes(b[i : i + 4], "little")
            i += 4
            for _ in range(k):
                ring_atoms.append(atom_offset + int.from_bytes(b[i : i + 4], "little"))
                i += 4
            ring_sizes.append(k)
    else:
        for _ in range(n_rings):
            k = b[i]
            ring_atoms.extend([atom_offset + a for a in b[i + 1 : i + 1 + k]])
            ring_sizes.append(k)
            i += 1 + k
    return n_atoms, n_bonds


def _fields_from_api(mol: Chem.Mol, cols: _Columns, atom_offset: int) -> tuple[int, int]:
    """Reference implementation through RDKit's Python API (slow, always right)."""
    z_l, ar_l, hy_l, ch_l, ct_l, hs_l, ra_l = cols.atoms
    for a in mol.GetAtoms():
        z_l.append(a.GetAtomicNum())
        ar_l.append(int(a.GetIsAromatic()))
        hy_l.append(int(a.GetHybridization()))
        ch_l.append(a.GetFormalCharge())
        ct_l.append(int(a.GetChiralTag()))
        hs_l.append(a.GetTotalNumHs())
        ra_l.append(a.GetNumRadicalElectrons())
    bb_l, be_l, bt_l, bc_l, bs_l = cols.bonds
    for bd in mol.GetBonds():
        bb_l.append(bd.GetBeginAtomIdx())
        be_l.append(bd.GetEndAtomIdx())
        bt_l.append(int(bd.GetBondType()))
        bc_l.append(int(bd.GetIsConjugated()))
        bs_l.append(int(bd.GetStereo()))
    try:
        rings = mol.GetRingInfo().AtomRings()
    except RuntimeError:  # ring info not initialized: an unsanitized molecule
        Chem.FastFindRings(mol)
        rings = mol.GetRingInfo().AtomRings()
    for ring in rings:
        cols.ring_atoms.extend(atom_offset + a for a in ring)
        cols.ring_sizes.append(len(ring))
    return mol.GetNumAtoms(), mol.GetNumBonds()


def extract_fields(mols: Sequence[Chem.Mol], *, use_pickle: bool = True) -> FieldBatch:
    """Columnar fields of ``mols`` (sanitized RDKit molecules).

    ``use_pickle=False`` forces the API path (for tests and debugging).
    """
    cols = _Columns()
    n_fallback = 0
    offset = 0
    for mol in mols:
        if use_pickle:
            mark = cols.mark()
            try:
                na, nb = _decode_pickle(mol.ToBinary(_NO_CONFORMERS), cols, offset)
            except (_Unsupported, IndexError) as exc:
                cols.rollback(mark)
                log.debug("pickle decode fell back to the RDKit API: %s", exc)
                n_fallback += 1
                na, nb = _fields_from_api(mol, cols, offset)
        else:
            na, nb = _fields_from_api(mol, cols, offset)
        cols.n_atoms.append(na)
        cols.n_bonds.append(nb)
        offset += na
    return _finish(cols, n_fallback)


def _finish(cols: _Columns, n_fallback: int) -> FieldBatch:
    atom_ptr = np.zeros(len(cols.n_atoms) + 1, dtype=np.int64)
    np.cumsum(cols.n_atoms, out=atom_ptr[1:])
    bond_ptr = np.zeros(len(cols.n_bonds) + 1, dtype=np.int64)
    np.cumsum(cols.n_bonds, out=bond_ptr[1:])
    n_atoms_total = int(atom_ptr[-1])
    atoms = {name: np.asarray(col, dtype=np.int16) for name, col in zip(ATOM_FIELDS, cols.atoms)}
    begin, end, btype, conj, stereo = (np.asarray(c, dtype=np.int64) for c in cols.bonds)
    # Global atom indices of each bond, to count degrees and find ring bonds.
    mol_of_bond = np.repeat(np.arange(len(cols.n_bonds)), cols.n_bonds)
    gb = begin + atom_ptr[:-1][mol_of_bond]
    ge = end + atom_ptr[:-1][mol_of_bond]
    heavy_degree = np.bincount(gb, minlength=n_atoms_total) + np.bincount(
        ge, minlength=n_atoms_total
    )
    degree = heavy_degree.astype(np.int16) + atoms["total_hs"]
    in_ring = np.zeros(n_atoms_total, dtype=np.int16)
    bond_in_ring = np.zeros(len(begin), dtype=np.int16)
    if cols.ring_atoms:
        ring_atoms = np.asarray(cols.ring_atoms, dtype=np.int64)
        in_ring[ring_atoms] = 1
        # Ring atoms are listed in cyclic order: consecutive pairs are ring bonds.
        sizes = np.asarray(cols.ring_sizes, dtype=np.int64)
        starts = np.cumsum(sizes) - sizes
        nxt = np.arange(1, len(ring_atoms) + 1)
        nxt[starts + sizes - 1] = starts
        a, b = ring_atoms, ring_atoms[nxt]
        ring_pairs = np.minimum(a, b) * n_atoms_total + np.maximum(a, b)
        bond_pairs = np.minimum(gb, ge) * n_atoms_total + np.maximum(gb, ge)
        bond_in_ring = np.isin(bond_pairs, ring_pairs).astype(np.int16)
    return FieldBatch(
        atom_ptr=atom_ptr,
        bond_ptr=bond_ptr,
        degree=degree,
        in_ring=in_ring,
        bond_begin=begin,
        bond_end=end,
        bond_type=btype.astype(np.int16),
        conjugated=conj.astype(np.int16),
        stereo=stereo.astype(np.int16),
        bond_in_ring=bond_in_ring,
        n_fallback=n_fallback,
        **atoms,
    )
