"""Chemistry: read, standardize and featurize molecules; the feature store.

Notebook use::

    from theraflow import chem
    records, read_rejects = chem.read_molecules("library.smi")
    kept, rejects = chem.standardize(records)
    result = chem.featurize(kept["smiles"], "default", store="resources/feature_store")
    batch = result.graphs.collate()          # a torch_geometric Batch

The names below are imported on first use: importing ``theraflow.chem`` (which every import of
a submodule does, e.g. the registry listing :mod:`theraflow.chem.featurizers` or the molecule
formats of :mod:`theraflow.chem.formats` for the CLI) loads neither RDKit nor torch.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from theraflow.chem.featurize import (
        Featurized,
        GraphFeaturizer,
        featurize,
        featurize_mols,
        featurizer_is_current,
        get_featurizer,
        list_featurizers,
        register_featurizer,
    )
    from theraflow.chem.graphs import GraphSet
    from theraflow.chem.readers import read_molecules
    from theraflow.chem.shards import featurize_file, gather
    from theraflow.chem.standardize import StandardizeOptions, Standardizer, standardize, standardize_file
    from theraflow.chem.store import FeatureStore, featurizer_id

_EXPORTS = {  # public name -> the module that defines it
    "FeatureStore": "store",
    "Featurized": "featurize",
    "GraphFeaturizer": "featurize",
    "GraphSet": "graphs",
    "StandardizeOptions": "standardize",
    "Standardizer": "standardize",
    "featurize": "featurize",
    "featurize_file": "shards",
    "featurize_mols": "featurize",
    "featurizer_id": "store",
    "featurizer_is_current": "featurize",
    "gather": "shards",
    "get_featurizer": "featurize",
    "list_featurizers": "featurize",
    "read_molecules": "readers",
    "register_featurizer": "featurize",
    "standardize": "standardize",
    "standardize_file": "standardize",
}
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
    "featurizer_is_current",
    "gather",
    "get_featurizer",
    "list_featurizers",
    "read_molecules",
    "register_featurizer",
    "standardize",
    "standardize_file",
]

# Two functions are named like the module that defines them. Importing such a module sets the package's
# attribute of that name to the module; the package keeps the function instead (as ``from ... import``
# in this file did when it imported everything eagerly), so ``chem.featurize`` is always the function.
_FUNCTIONS_NAMED_LIKE_MODULES = frozenset({"featurize", "standardize"})


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


class _ChemPackage(types.ModuleType):
    def __setattr__(self, name: str, value) -> None:
        if name in _FUNCTIONS_NAMED_LIKE_MODULES and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _ChemPackage
