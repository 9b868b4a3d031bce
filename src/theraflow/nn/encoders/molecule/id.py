"""``id``: an embedding per training molecule (by standardized structure); parameters under ``id:``."""

from theraflow.nn.entity import id_encoder

ENCODER = id_encoder(default_dropout=0.1)
