"""The report of a pair-scoring run (``theraflow <task> score --report``): the best-scored pairs of each
order with their class descriptions, scores, ensemble spread and applicability domain, and the models'
test metrics and plots."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from theraflow.report.html import HtmlReport, esc


def pair_scores_section(scores: pd.DataFrame, model_dirs: Sequence[str | Path], *, top: int = 30) -> str:
    """HTML: the ``top`` best-scored pairs (rank 1 of each pair and order), AD flags marked in the table
    itself, and the models' test metrics and plots."""
    best = scores[scores["rank"] == 1].sort_values("score", ascending=False).head(top).copy()
    ensemble = len(model_dirs) > 1
    if "low" in best:
        best["score"] = [f"{p:.2f} ± {s:.2f} ({lo:.2f} – {hi:.2f})" if ensemble else f"{p:.2f} (no ensemble: no spread)"
                         for p, s, lo, hi in zip(best["score"], best["score_sd"], best["low"], best["high"])]
    else:
        best["score"] = [f"{p:.2f} ± {s:.2f}" if ensemble else f"{p:.2f} (no ensemble: no spread)"
                         for p, s in zip(best["score"], best["score_sd"])]
    best["domain"] = [f"⚠ outside (max Tanimoto {a:.2f})" if f else f"in ({a:.2f})"
                      for a, f in zip(best["ad_similarity"], best["ad_flag"])]
    cols = ["molecule", "partner", "order"] + (["class"] if best["class"].astype(bool).any() else []) + \
        ["score", "domain"] + (["description"] if best["description"].astype(bool).any() else [])
    rows = ["flag" if f else "" for f in best["ad_flag"]]
    parts = [HtmlReport.kpis([("pairs × orders scored", scores[["molecule", "partner", "order"]].drop_duplicates()
                                .shape[0]), ("molecules", scores["molecule"].nunique()),
                               ("partners", scores["partner"].nunique()), ("models", len(model_dirs)),
                               ("molecules outside the domain",
                                int(scores.drop_duplicates("molecule")["ad_flag"].sum()))]),
             "<h3>Best-scored pairs</h3>", HtmlReport.table(best[cols], row_class=rows),
             "<p class='muted'>Each row: one ordered pair (for a class, its most likely one, with the description "
             "saying which entity acts on which), the ensemble's mean score ± its standard deviation over the "
             "models (a probability's range kept within [0, 1]), and whether the molecule lies in the models' "
             "applicability domain (its nearest training molecule).</p>"]
    metrics_rows, shortcuts = [], {}
    for d in map(Path, model_dirs):
        m = d / "metrics.json"
        if m.exists():
            run = json.loads(m.read_text())
            test = run.get("parts", {}).get("test", {}).get("metrics", {})
            metrics_rows.append({"model": d.parent.name + "/" + d.name, **{k: v for k, v in test.items() if k != "n"}})
            if run.get("shortcut", {}).get("sentence"):
                shortcuts.setdefault(run["shortcut"]["sentence"], (run["shortcut"], []))[1].append(d)
        for png in ("confusion.png", "roc.png", "scatter.png"):
            if (d / png).exists() and len(parts) < 8:
                parts.append(HtmlReport.png((d / png).read_bytes(), png.removesuffix(".png"),
                                            f"test-part {png.removesuffix('.png')} of {d.name}", width=620))
    if metrics_rows:
        parts += ["<h3>Test metrics of the models</h3>", HtmlReport.table(pd.DataFrame(metrics_rows))]
    parts += [shortcut_note(shortcut, dirs) for shortcut, dirs in shortcuts.values()]
    parts.append(counts_note(model_dirs))
    return "".join(parts)


def counts_note(model_dirs: Sequence[str | Path]) -> str:
    """HTML: where the rows of the models' data set went, per split and part — given, scored, rejected by
    reason (``metrics.json``'s ``n_given``, ``n_scored``, ``n_rejected``; the same numbers as the run summary
    and the metrics table). Empty when no model was evaluated."""
    from theraflow.pairs.rejects import counts_line, metrics_counts

    shown, blocks = set(), []
    for d in map(Path, model_dirs):
        m = d / "metrics.json"
        if not m.exists():
            continue
        run = json.loads(m.read_text())
        counts = metrics_counts(run)
        if not counts or run.get("split") in shown:
            continue
        shown.add(run.get("split"))
        split = Path(str(run.get("split", ""))).stem or "split"
        lines = [counts_line(p, c["n_given"], c["n_scored"], c["n_rejected"], c["n_merged"]) for p, c in counts.items()]
        before = run.get("n_rejected_before_split") or {}
        if before:
            lines.insert(0, f"before the split: {sum(before.values()):,} row(s) rejected while reading ("
                         + ", ".join(f"{k} {v:,}" for k, v in before.items()) + ")")
        blocks.append(f"<p class='counts'><b>Pairs of the {esc(split)} split</b> (given, scored by the models, "
                      "rejected with the reason):<br>" + "<br>".join(esc(x) for x in lines) + "</p>")
    return "".join(blocks)


def shortcut_note(shortcut: dict, model_dirs: Sequence[str | Path] = ()) -> str:
    """HTML: the shortcut audit of the models' split (``metrics.json``'s ``shortcut``) — its sentence, marked
    as a warning when the entity-frequency baseline comes close to the model (or is near perfect alone)."""
    which = f" ({', '.join(esc(Path(d).parent.name + '/' + Path(d).name) for d in model_dirs)})" if model_dirs else ""
    if shortcut.get("flag"):
        return f"<p class='warn'>⚠ Shortcut{which}: {esc(shortcut['sentence'])}</p>"
    return f"<p class='muted'><b>Shortcut audit{which}.</b> {esc(shortcut['sentence'])}</p>"


def build_pair_scores_report(scores: pd.DataFrame, rejects: pd.DataFrame, model_dirs: Sequence[str | Path],
                             output: str | Path) -> Path:
    report = HtmlReport("theraflow pair scores", f"{scores['molecule'].nunique()} molecule(s) against "
                                                 f"{scores['partner'].nunique()} partner(s)")
    report.add_section("Scored pairs", pair_scores_section(scores, model_dirs))
    body = HtmlReport.table(rejects) if len(rejects) else "<p>No molecule was rejected.</p>"
    report.add_section("Rejected molecules", body)
    report.add_section("Models", "".join(f"<p>{esc(d)}</p>" for d in model_dirs))
    return report.write(output)
