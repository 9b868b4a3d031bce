"""theraflow: one pipeline for drug-discovery featurization/interaction models and MONAI imaging."""

__version__ = "0.1.0"


def _settle_tqdm_in_notebooks() -> None:
    """In a Jupyter kernel without ipywidgets, ``tqdm.auto`` warns "IProgress not found" when first imported,
    and libraries theraflow uses import it (torch_geometric, at import time): the warning would land in the
    notebook of anyone who imports theraflow. Importing it once here, quietly, makes the same choice
    ``tqdm.auto`` makes (the text bar) without the warning; theraflow's own bars pick widgets themselves
    (:func:`theraflow.progress.bar_class`)."""
    import sys

    if "IPython" not in sys.modules or "tqdm.autonotebook" in sys.modules:
        return  # not in IPython (the CLI, the workflow), or settled already
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        try:
            import tqdm.auto  # noqa: F401
        except Exception:  # tqdm missing or broken: the import that needs it reports it
            pass


_settle_tqdm_in_notebooks()
