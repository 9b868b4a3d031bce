"""``id``: an embedding per training target (by id); parameters under ``id:``."""

from theraflow.nn.entity import id_encoder

ENCODER = id_encoder(default_dropout=0.0)
