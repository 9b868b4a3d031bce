"""Label kinds, one module each (``LABEL = ...``; see :mod:`theraflow.pairs.label`). No imports here."""
