"""The featurizers: one module per featurizer, named like it (``theraflow featurize --featurizer NAME``).

Each public module defines one :class:`~theraflow.chem.featurize.GraphFeaturizer` subclass whose
``name`` is the module's name and sets ``FEATURIZER`` to it; its docstring documents the node and
edge columns. :data:`theraflow.registry.FEATURIZERS` lists the modules without importing them, so
this file imports nothing (the CLI builds its choices without loading RDKit or torch). Adding a
featurizer is adding a module here plus its test; modules starting with ``_`` are shared helpers.
"""
