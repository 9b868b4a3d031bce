"""The DDI section of theraflow's HTML reports: the interactions a scoring run found, with their
sentences, probabilities, ensemble spread and applicability domain, and the models' test metrics."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from theraflow.report.html import HtmlReport, esc


def ddi_section(scores: pd.DataFrame, model_dirs: Sequence[str | Path], *, top: int = 30) -> str:
    """HTML: the ``top`` most probable interactions (rank-1 type of each pair and order), AD flags marked
    in the table itself, and the models' test metrics and confusion matrix."""
    best = scores[scores["rank"] == 1].sort_values("probability", ascending=False).head(top).copy()
    ensemble = len(model_dirs) > 1
    best["probability"] = [f"{p:.2f} ± {s:.2f}" if ensemble else f"{p:.2f} (no ensemble: no spread)"
                           for p, s in zip(best["probability"], best["probability_sd"])]
    best["domain"] = [f"⚠ outside (max Tanimoto {a:.2f})" if f else f"in ({a:.2f})"
                      for a, f in zip(best["ad_similarity"], best["ad_flag"])]
    shown = best[["candidate", "panel_drug", "order", "type", "probability", "domain", "sentence"]]
    rows = ["flag" if f else "" for f in best["ad_flag"]]
    parts = [HtmlReport.kpis([("pairs × orders scored", scores[["candidate", "panel_drug", "order"]].drop_duplicates()
                                .shape[0]), ("candidates", scores["candidate"].nunique()),
                               ("panel drugs", scores["panel_drug"].nunique()),
                               ("models", len(model_dirs)),
                               ("candidates outside the domain", int(scores.drop_duplicates("candidate")["ad_flag"].sum()))]),
             "<h3>Most probable interactions</h3>",
             HtmlReport.table(shown, row_class=rows),
             "<p class='muted'>Each row: the most likely interaction type of one ordered pair (the sentence says "
             "which drug acts on which), the ensemble's mean probability ± its standard deviation over the models, "
             "and whether the candidate lies in the models' applicability domain (its nearest training drug).</p>"]
    metrics_rows = []
    for d in map(Path, model_dirs):
        m = d / "metrics.json"
        if m.exists():
            test = json.loads(m.read_text()).get("parts", {}).get("test", {}).get("metrics", {})
            metrics_rows.append({"model": d.parent.name + "/" + d.name, **{k: v for k, v in test.items() if k != "n"}})
        png = d / "confusion.png"
        if png.exists() and len(parts) < 8:
            parts.append(HtmlReport.png(png.read_bytes(), "confusion matrix", f"test-part confusion matrix of {d.name}",
                                        width=520))
    if metrics_rows:
        parts += ["<h3>Test metrics of the models</h3>", HtmlReport.table(pd.DataFrame(metrics_rows))]
    return "".join(parts)


def build_ddi_report(scores: pd.DataFrame, rejects: pd.DataFrame, model_dirs: Sequence[str | Path],
                     output: str | Path) -> Path:
    report = HtmlReport("theraflow DDI scoring", f"{scores['candidate'].nunique()} candidate(s) against "
                                                 f"{scores['panel_drug'].nunique()} panel drug(s)")
    report.add_section("Drug–drug interactions", ddi_section(scores, model_dirs))
    body = HtmlReport.table(rejects) if len(rejects) else "<p>No molecule was rejected.</p>"
    report.add_section("Rejected molecules", body)
    report.add_section("Models", "".join(f"<p>{esc(d)}</p>" for d in model_dirs))
    return report.write(output)
