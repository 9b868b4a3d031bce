"""Pair data sources, one module each (``SOURCE = PairSource(...)``; see :mod:`theraflow.pairs.source`).
No imports here: the registry lists the modules without loading them."""
