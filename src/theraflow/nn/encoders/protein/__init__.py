"""Protein-sequence encoders, one module each (``ENCODER = EncoderSpec(...)``): ``cnn`` (a 1D CNN over
residues) or ``graphdta_cnn`` (GraphDTA's) with parameters at the top of ``target_encoder``,
``composition`` (an MLP over amino-acid and dipeptide composition; ``target_encoder.composition``) and
``id`` (an embedding per training target; ``target_encoder.id``), ``attention`` (self-attention over patches of
residues; ``target_encoder.attention``). Adding an encoder is adding a module."""
