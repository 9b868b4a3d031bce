"""Entity kinds, one module each (``ENTITY = ...``; see :mod:`theraflow.pairs.entity`). No imports here."""
