"""Imaging: MONAI segmentation stages as plain functions (the CLI and the workflow call these).

>>> from theraflow import imaging
>>> datalist, rejects = imaging.make_datalist(images="images/", labels="labels/", label_values=[0, 1, 2])
>>> record = imaging.train(datalist, "results/model", model_config="models/seg_unet_hippocampus")
>>> predictions, failed = imaging.segment("results/model", "new_scans/", "results/masks")
>>> table, _ = imaging.measure(predictions, datalist, labels={1: "anterior", 2: "posterior"})
"""

import importlib
import sys
import types

# name -> the module that defines it; imported on first use (PEP 562), so a light stage (datalist, measure,
# overlay, report) does not pay for MONAI and Lightning, which only training, preprocessing and inference need
_WHERE = {
    "load_bundle": "bundle", "find_cases": "datalists", "make_datalist": "datalists", "read_datalist": "datalists",
    "download_msd": "download", "segment": "infer", "measure": "measure", "summarize": "measure",
    "load_model_config": "modelconfig", "overlays": "overlays", "preprocess": "preprocess",
    "build_report": "report", "assign_split": "splits", "make_synthetic": "synth", "train": "train",
}
__all__ = sorted(_WHERE)


class _Package(types.ModuleType):
    """Four stages share their module's name (measure, overlays, preprocess, train). Importing such a module sets
    the package's attribute of that name to the module; here the attribute stays the stage function, as it was
    when this package imported every stage eagerly."""

    def __setattr__(self, name, value):
        if isinstance(value, types.ModuleType) and _WHERE.get(name) == name:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'theraflow.imaging' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"theraflow.imaging.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *_WHERE])
