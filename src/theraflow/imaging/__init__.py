"""Imaging: MONAI segmentation stages as plain functions (the CLI and the workflow call these).

>>> from theraflow import imaging
>>> datalist, rejects = imaging.make_datalist(images="images/", labels="labels/", label_values=[0, 1, 2])
>>> record = imaging.train(datalist, "results/model", model_config="models/seg_unet_hippocampus")
>>> predictions, failed = imaging.segment("results/model", "new_scans/", "results/masks")
>>> table, _ = imaging.measure(predictions, datalist, labels={1: "anterior", 2: "posterior"})
"""

from theraflow.imaging.bundle import load_bundle
from theraflow.imaging.datalists import find_cases, make_datalist, read_datalist
from theraflow.imaging.download import download_msd
from theraflow.imaging.infer import segment
from theraflow.imaging.measure import measure, summarize
from theraflow.imaging.modelconfig import load_model_config
from theraflow.imaging.overlays import overlays
from theraflow.imaging.preprocess import preprocess
from theraflow.imaging.report import build_report
from theraflow.imaging.splits import assign_split
from theraflow.imaging.synth import make_synthetic
from theraflow.imaging.train import train

__all__ = [
    "assign_split", "build_report", "download_msd", "find_cases", "load_bundle", "load_model_config",
    "make_datalist", "make_synthetic", "measure", "overlays", "preprocess", "read_datalist", "segment",
    "summarize", "train",
]
