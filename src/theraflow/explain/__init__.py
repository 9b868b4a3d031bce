"""Why a score, and how far to trust it: atom attributions of interaction scores and their sanity check.

Notebook use::

    from theraflow import explain
    attrs = explain.explain_pairs(top_hits, ["model/seed0", "model/seed1"])   # id, smiles, target_id[, class]
    png = explain.attribution_png(attrs[0].smiles, attrs[0].atom_weights)
    # drug–drug models: attrs[0].partner_weights is the second drug's map
"""

from theraflow.explain.attributions import Attribution, attribution_png, attributions_table, explain_pairs
from theraflow.explain.sanity import nci_smiles, substructure_overlap, substructure_pairs

__all__ = ["Attribution", "attribution_png", "attributions_table", "explain_pairs", "nci_smiles",
           "substructure_overlap", "substructure_pairs"]
