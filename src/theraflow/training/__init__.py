"""The training runtime every theraflow task plugs into (:mod:`theraflow.training.runtime`) and the
learning-rate schedules they share (:mod:`theraflow.training.schedules`)."""

from theraflow.training.runtime import FitResult, Recipe, device_name, fit, seed_everything

__all__ = ["FitResult", "Recipe", "device_name", "fit", "seed_everything"]
