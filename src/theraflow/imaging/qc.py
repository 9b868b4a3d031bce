"""Quality control from segmentation uncertainty: which cases a reader should look at first.

Each case's uncertainty score (:func:`theraflow.imaging.infer.uncertainty_score`, the mean spread of
the mirror passes over the predicted structures) is set against its Dice on the validation cases:

- :func:`fit_qc` reports the Spearman correlation of uncertainty with Dice there (negative when the
  score means something) and chooses the flag threshold on those cases only: the uncertainty that best
  separates the *poor* validation cases (Dice in the worst ``poor_share``, a tenth by default) from
  the rest by Youden's J (sensitivity + specificity − 1), ties going to the higher threshold;
- :func:`apply_qc` flags every case above the threshold — on new scans too, where no Dice exists.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from theraflow.io import InputError


def fit_qc(table: pd.DataFrame, *, dice: str = "dice_mean", poor_share: float = 0.1) -> dict:
    """Threshold and figures from the cases of ``table`` with both Dice and uncertainty (validation cases)."""
    from scipy.stats import spearmanr

    for col in (dice, "uncertainty"):
        if col not in table:
            raise InputError(f"QC needs columns {dice} and uncertainty (inference with mirror TTA); {col} is missing")
    t = table[[dice, "uncertainty"]].astype(float).dropna()
    if len(t) < 5:
        raise InputError(f"QC needs at least 5 cases with Dice and uncertainty to choose a threshold, got {len(t)}")
    d, u = t[dice].to_numpy(), t["uncertainty"].to_numpy()
    rho, p = spearmanr(u, d)
    cut = float(np.quantile(d, poor_share))
    poor = d <= cut
    best = (-np.inf, float(u.max()))
    for thr in np.unique(u):
        flagged = u >= thr
        sens = (flagged & poor).sum() / max(1, poor.sum())
        spec = (~flagged & ~poor).sum() / max(1, (~poor).sum())
        j = sens + spec - 1
        if j >= best[0]:
            best = (j, float(thr))
    thr = best[1]
    flagged = u >= thr
    return {"cases": int(len(t)), "spearman_uncertainty_dice": float(rho), "spearman_p": float(p),
            "poor_share": poor_share, "poor_dice_at_most": cut, "poor_cases": int(poor.sum()),
            "threshold": thr, "youden_j": float(best[0]), "flagged": int(flagged.sum()),
            "poor_flagged": int((flagged & poor).sum()),
            "mean_dice_flagged": float(d[flagged].mean()) if flagged.any() else None,
            "mean_dice_unflagged": float(d[~flagged].mean()) if (~flagged).any() else None}


def apply_qc(table: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """``table`` with a ``qc_flag`` column: True where the uncertainty is at least ``threshold``."""
    out = table.copy()
    if "uncertainty" not in out:
        out["qc_flag"] = False
        return out
    out["qc_flag"] = out["uncertainty"].astype(float) >= float(threshold)
    return out
