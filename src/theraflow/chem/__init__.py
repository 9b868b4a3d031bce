"""Chemistry: read, standardize and featurize molecules; the feature store.

Notebook use::

    from theraflow import chem
    records, read_rejects = chem.read_molecules("library.smi")
    kept, rejects = chem.standardize(records)
    result = chem.featurize(kept["smiles"], "default", store="resources/feature_store")
    batch = result.graphs.collate()          # a torch_geometric Batch
"""

from theraflow.chem.featurize import (
    Featurized,
    GraphFeaturizer,
    featurize,
    featurize_mols,
    get_featurizer,
    list_featurizers,
    register_featurizer,
)
from theraflow.chem.graphs import GraphSet
from theraflow.chem.readers import read_molecules
from theraflow.chem.shards import featurize_file, gather
from theraflow.chem.standardize import StandardizeOptions, Standardizer, standardize, standardize_file
from theraflow.chem.store import FeatureStore, featurizer_id

__all__ = [
    "FeatureStore",
    "Featurized",
    "GraphFeaturizer",
    "GraphSet",
    "StandardizeOptions",
    "Standardizer",
    "featurize",
    "featurize_file",
    "featurize_mols",
    "featurizer_id",
    "gather",
    "get_featurizer",
    "list_featurizers",
    "read_molecules",
    "register_featurizer",
    "standardize",
    "standardize_file",
]
