"""Entity encoders, one package per entity kind and one module per encoder (no imports here: the
registry lists the modules without loading torch). See :mod:`theraflow.nn.entity`."""
