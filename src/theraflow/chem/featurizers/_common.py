"""Helpers shared by the featurizer modules (not a featurizer: the leading ``_`` hides it from the registry)."""

from __future__ import annotations

import numpy as np

from theraflow.chem.rdgraph import FieldBatch


def directed_edges(f: FieldBatch) -> tuple[np.ndarray, np.ndarray]:
    """Edge index (u→v, v→u per bond, interleaved) and each edge's bond number."""
    m = len(f.bond_begin)
    ei = np.empty((2, 2 * m), dtype=np.int32)
    ei[0, 0::2] = f.bond_begin
    ei[1, 0::2] = f.bond_end
    ei[0, 1::2] = f.bond_end
    ei[1, 1::2] = f.bond_begin
    return ei, np.repeat(np.arange(m), 2)
