"""Molecule encoders, one module each (``ENCODER = EncoderSpec(...)``): graph networks over the atoms
(``gin``, ``gatv2``, ``attentivefp``, ``graphdta_gin``; at most one per model, parameters at the top of
``drug_encoder``), ``morgan`` (an MLP over Morgan bits; ``drug_encoder.morgan``) and ``id`` (an
embedding per training molecule; ``drug_encoder.id``). Adding an encoder is adding a module here."""
