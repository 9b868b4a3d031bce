"""theraflow: one pipeline for drug-discovery featurization/interaction models and MONAI imaging."""

__version__ = "0.1.0"
