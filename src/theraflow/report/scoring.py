"""The screening report: one self-contained HTML file for the chemists who read it.

Sections: run summary (records in, kept, rejected, time per stage, cache hits); the
model card with its test metrics and split protocol; score distributions per target;
the top-k of each target with 2D drawings, ensemble mean ± calibrated sd, the 80 % interval and
applicability domain; atom attributions of the top few; the calibration of the ensemble's spread
(coverage plot); uncertainty against applicability domain; the rejects table; provenance (config hash,
package versions, input sha256, model checksums).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from theraflow.io import sha256_file
from theraflow.report.html import HtmlReport, esc, mol_svg

PACKAGES = ("theraflow", "rdkit", "torch", "torch-geometric", "pytorch-lightning", "deepchem", "pandas", "numpy",
            "snakemake", "monai")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _markdown(text: str) -> str:
    """Just enough Markdown for model cards: headings, paragraphs, bold, code, lists."""
    out, para = [], []

    def inline(s: str) -> str:
        s = esc(s)
        s = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", s)
        return re.sub(r"`(.+?)`", r"<code>\1</code>", s)

    def flush() -> None:
        if para:
            out.append(f"<p>{inline(' '.join(para))}</p>")
            para.clear()

    for line in text.splitlines():
        if line.startswith("#"):
            flush()
            out.append(f"<h3>{inline(line.lstrip('#').strip())}</h3>")
        elif line.strip().startswith(("- ", "* ")):
            flush()
            out.append(f"<ul><li>{inline(line.strip()[2:])}</li></ul>")
        elif not line.strip():
            flush()
        else:
            para.append(line.strip())
    flush()
    return "".join(out)


def _versions() -> dict[str, str]:
    out = {}
    for pkg in PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _label_kind(model_dirs: Sequence[Path]):
    from theraflow.pairs.task import TaskSpec
    from theraflow.pairs.train import upgrade_meta

    meta = json.loads((Path(model_dirs[0]) / "model.json").read_text())
    meta.update(upgrade_meta(meta, Path(model_dirs[0])))
    return TaskSpec.from_json(meta["task"])


def _model_section(model_dirs: Sequence[Path], spec) -> str:
    parts = []
    rows = []
    card_shown = set()
    from theraflow.pairs.metrics import metric_name

    shown_metrics = [m for m in spec.label.summary_metrics if m != "brier"]
    for d in model_dirs:
        meta = json.loads((d / "model.json").read_text())
        name = meta["model_config"].get("name", d.name)
        split = meta.get("split_manifest") or {}
        row = {"model": name, "seed": meta.get("seed"), "split": split.get("name", "?"),
               "epochs": meta.get("epochs_trained"), "train s": meta.get("train_seconds"),
               "device": meta.get("device"),
               "weights sha256": hashlib.sha256((d / "model.safetensors").read_bytes()).hexdigest()[:16]}
        m = d / "metrics.json"
        if m.exists():
            test = json.loads(m.read_text()).get("parts", {}).get("test")
            if test:
                tm, ci = test["metrics"], test.get("ci95", {})
                for k in shown_metrics:
                    if k not in tm:
                        continue
                    lo, hi = ci.get(k, [None, None])
                    row[f"test {metric_name(k)}"] = (f"{tm[k]:.3f}"
                                                                      + (f" [{lo:.3f}, {hi:.3f}]" if lo is not None
                                                                         else ""))
        rows.append(row)
        card = d / "card.md"
        if card.exists() and name not in card_shown:
            card_shown.add(name)
            parts.append(f"<h3>Model card: {esc(name)}</h3>{_markdown(card.read_text())}")
        if split and name + "split" not in card_shown:
            card_shown.add(name + "split")
            params = ", ".join(f"{k}={v}" for k, v in (split.get("params") or {}).items())
            counts = ", ".join(f"{k} {v}" for k, v in (split.get("counts") or {}).items())
            parts.insert(0, f"<p><b>Split protocol.</b> {esc(split.get('kind'))} split ({esc(params)}): {esc(counts)} "
                            "pairs. Hyper-parameters and early stopping used the validation part only; the test "
                            "part was evaluated once.</p>")
    table = HtmlReport.table(pd.DataFrame(rows))
    return table + "".join(parts)


def _histograms(hist: dict, what: str) -> str:
    plt = _plt()
    edges = np.asarray(hist["edges"])
    targets = list(hist["counts"])
    shown = targets[:12]
    n = len(shown)
    cols = min(3, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.6 * rows), squeeze=False)
    centers = (edges[:-1] + edges[1:]) / 2
    for ax, t in zip(axes.ravel(), shown):
        ax.bar(centers, hist["counts"][t], width=np.diff(edges), color="#2458a6", alpha=0.85)
        ax.set_title(t, fontsize=10)
        ax.set_xlabel(f"{what} (ensemble mean)", fontsize=8)
        ax.set_ylabel("molecules", fontsize=8)
        ax.tick_params(labelsize=8)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    fig.tight_layout()
    note = f" First {len(shown)} of {len(targets)} targets." if len(targets) > len(shown) else ""
    return HtmlReport.figure(fig, "score distributions", f"Distribution of the ensemble-mean {what} per target." + note)


def _uncertainty(sample: pd.DataFrame, threshold: float) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for t, g in list(sample.groupby("target_id"))[:10]:
        ax.scatter(g["ad_similarity"], g["score_std"], s=6, alpha=0.5, label=t)
    ax.axvline(threshold, color="#b5462f", ls="--", lw=1, label=f"domain threshold {threshold}")
    ax.set_xlabel("max Tanimoto similarity to training drugs (applicability domain)")
    ax.set_ylabel("ensemble standard deviation")
    ax.legend(fontsize=7, loc="upper right", markerscale=2)
    fig.tight_layout()
    return HtmlReport.figure(fig, "uncertainty against applicability domain",
                             "Each point a (molecule, target) pair from a random sample. Left of the dashed line "
                             "a molecule is unlike anything the model was trained on: treat its score with care.")


def _attributions(rep: HtmlReport, topk: pd.DataFrame, model_dirs: Sequence[Path], targets, n: int) -> str:
    """The top ``n`` of each target drawn with their atom attributions (integrated gradients, ensemble mean)."""
    from theraflow.errors import InputError
    from theraflow.explain import explain_pairs
    from theraflow.explain.attributions import attribution_png
    from theraflow.pairs.scoring import load_ensemble, read_partners

    top = topk.sort_values(["target_id", "rank"], kind="stable").groupby("target_id", sort=False).head(n)
    try:
        ens = load_ensemble(model_dirs)
        table = read_partners(targets, ens.spec.task).rename(columns={"id": "target_id"}) if targets else None
        cols = ["id", "smiles", "target_id"] + (["class"] if "class" in top and ens.spec.label.name == "multiclass"
                                                 else [])
        attrs = explain_pairs(top[cols], ens, targets=table, progress=False)
    except InputError as exc:
        return f"<p class='muted'>No attributions for these models: {esc(exc)}</p>"
    body = ("<p>Each atom is coloured by how much it moves the molecule's score against the target, by "
            "integrated gradients (Captum) from an all-zero input, averaged over the ensemble's models: "
            "<b>green raises</b> the predicted affinity, <b>pink lowers</b> it; colours are scaled per molecule. "
            f"Only the top {n} of each target are explained. The weights of a molecule add up to its score "
            "minus the score of the empty input (the gap is the integration error).</p>")
    by_target: dict[str, list] = {}
    for a, rank, ad_flag in zip(attrs, top["rank"], top["ad_flag"]):
        by_target.setdefault(a.target_id, []).append((a, int(rank), bool(ad_flag)))
    for t, items in by_target.items():
        cells = []
        for a, rank, flag in items:
            caption = (f"#{rank} {a.id}: score {a.score:.2f} (empty input {a.baseline_score:.2f}, gap "
                       f"{a.delta:.2g})" + (" ⚠ outside the applicability domain" if flag else ""))
            cells.append(rep.png(attribution_png(a.smiles, a.atom_weights), alt=f"attribution map of {a.id}",
                                 caption=caption, width=300))
        body += f"<h3>{esc(t)}</h3><div class='gallery attributions'>" + "".join(cells) + "</div>"
    return body


def _calibration(model_dirs: Sequence[Path], calibration, spec) -> tuple[dict | None, str]:
    """(summary, why not): the ensemble's calibration from ``calibration`` (a calibration.json written by
    the calibrate stage), else fitted here from the models' predictions."""
    from theraflow.errors import InputError
    from theraflow.pairs.stages import calibrate_stage

    if len(model_dirs) < 2 and spec.label.name == "regression":
        return None, "one model, no ensemble: no uncertainty (train several seeds for one)"
    if calibration:
        return json.loads(Path(calibration).read_text()), ""
    try:
        return calibrate_stage(model_dirs), ""
    except InputError as exc:
        return None, f"the ensemble's {'spread' if spec.label.name == 'regression' else 'probabilities'} " \
                     f"are not calibrated: {exc}"


def _probability_section(rep: HtmlReport, cal: dict | None, why: str) -> str:
    """A classifier's calibration: reliability before and after, ECE, conformal prediction sets."""
    from theraflow.explain.classification import reliability_figure

    if cal is None:
        return (f"<p>{esc(why)}.</p><p>The probabilities in the tables are the models' own; they may be over- or "
                "under-confident.</p>")
    b, a = cal["before"], cal["after"]
    sets = cal.get("prediction_sets") or {}
    s90 = sets.get("0.8") or next(iter(sets.values()), None)
    body = (f"<p>The ensemble's probabilities were calibrated on its {cal['validation_pairs']:,} validation pairs "
            f"({esc(cal['calibration'].get('method'))}). On the {cal['test_pairs']:,} test pairs, which the fit never "
            f"saw, the expected calibration error went from <b>{b['ece']:.3f}</b> to <b>{a['ece']:.3f}</b> and the "
            f"log-loss from {b['log_loss']:.3f} to {a['log_loss']:.3f}"
            + (f"; AUROC {b['auroc']:.3f} → {a['auroc']:.3f}" if "auroc" in b else "")
            + ". A probability of 0.8 in the tables then means: of such pairs, about 80 % are 1s.")
    if s90:
        body += (f" Conformal prediction sets at 80 % held {s90['coverage']:.0%} of the test labels (mean set size "
                 f"{s90['mean_size']:.2f}).")
    body += "</p>"
    fig = reliability_figure(cal, title=f"Reliability, {cal['test_pairs']:,} test pairs")
    return body + rep.png(fig, alt="reliability diagram", caption="Observed share of 1s (or of correct top classes) "
                          "against the predicted probability, before and after calibration: on the dashed diagonal "
                          "a probability means what it says.", width=460)


def _calibration_section(rep: HtmlReport, cal: dict | None, why: str, ensemble: bool, spec=None) -> str:
    from theraflow.explain.calibration import coverage_figure, multiplier

    if spec is not None and spec.label.probability:
        return _probability_section(rep, cal, why)
    if cal is None:
        if ensemble:
            return (f"<p>{esc(why)}.</p><p>The ± of the tables is the raw spread of the models: it tells which "
                    "scores the models disagree on, not how wide an interval really is.</p>")
        return f"<p>{esc(why)}.</p>"
    c = cal["calibration"]
    cov, raw = cal["coverage"], cal["coverage_uncalibrated"]
    rho = cal["spearman_abs_error_sd"]
    ranking = ("the wider a molecule's interval, the larger its error tends to be" if rho >= 0.3 else
               "a weak tendency for wider intervals to hold larger errors" if rho >= 0.1 else
               "the spread does not rank the errors; read the interval as a typical width, not as an ordering")
    body = (f"<p>The ensemble's spread was calibrated on its validation pairs ({c['pairs']:,}): "
            f"sd<sub>cal</sub>² = ({c['scale']:.2f} · sd)² + {c['floor']:.2f}², so ± in the tables is sd<sub>cal</sub>; "
            f"the 80 % column is the mean ± {multiplier(c, 0.8):.2f} sd<sub>cal</sub>, the multiplier being the 80th "
            "percentile of the validation pairs' errors in units of sd<sub>cal</sub> (split conformal: no "
            "Gaussian shape assumed). Measured on the "
            f"{cal['test_pairs']:,} test pairs, which the fit never saw: 80 % intervals hold "
            f"<b>{float(cov['0.8']):.0%}</b> of the labels and 95 % intervals <b>{float(cov['0.95']):.0%}</b> "
            f"(the raw spread: {float(raw['0.8']):.0%} and {float(raw['0.95']):.0%}). The rank correlation between "
            f"|error| and the calibrated spread is {rho:.2f} (Spearman): {ranking}. Outside the applicability "
            "domain the calibration is an extrapolation, like the score.</p>")
    fig = coverage_figure(cal, title=f"Interval coverage, {cal['test_pairs']:,} test pairs")
    return body + rep.png(fig, alt="coverage plot", caption="Share of held-out labels inside the interval against "
                          "its nominal coverage: on the dashed diagonal an 80 % interval holds 80 % of them.", width=420)


def build_scoring_report(screen_dir: str | Path, model_dirs: Sequence[str | Path], output: str | Path, *,
                         library: str | Path | None = None, targets: str | Path | None = None,
                         chem_summary: str | Path | None = None, config: str | Path | dict | None = None,
                         title: str = "theraflow screening report", top_rows: int = 25,
                         ad_threshold: float = 0.3, explain_top: int = 5,
                         calibration: str | Path | None = None) -> Path:
    screen = Path(screen_dir)
    model_dirs = [Path(d) for d in model_dirs]
    summary = json.loads((screen / "summary.json").read_text())
    hist = json.loads((screen / "histograms.json").read_text())
    topk = pd.read_csv(screen / "topk.tsv", sep="\t", dtype={"id": str})
    in_path = screen / "topk_in_domain.tsv"
    topk_in = pd.read_csv(in_path, sep="\t", dtype={"id": str}) if in_path.exists() else topk.iloc[0:0]
    sample = pd.read_parquet(screen / "ad_sample.parquet")
    rejects_path = screen / "rejects.tsv"
    rejects = pd.read_csv(rejects_path, sep="\t", dtype=str) if rejects_path.exists() else pd.DataFrame()

    rep = HtmlReport(title, subtitle=f"library {Path(library).name if library else screen.name}")

    # ----------------------------------------------------------- run summary
    chem = json.loads(Path(chem_summary).read_text()) if chem_summary else None
    records = summary.get("records") or (chem or {}).get("records", 0)
    rejected = summary.get("rejected", 0)
    outside = sum(v["outside_domain"] for v in summary["targets"].values())
    pairs = summary.get("pairs", 0)
    body = rep.kpis([("records in", f"{records:,}"), ("kept", f"{summary.get('kept', 0):,}"),
                     ("rejected", f"{rejected:,}"), ("targets", len(summary["targets"])), ("pairs scored", f"{pairs:,}"),
                     ("feature-store hits", f"{summary.get('store_hits', 0):,}"),
                     ("feature-store misses", f"{summary.get('store_misses', 0):,}"),
                     ("pairs outside domain", f"{outside:,}")])
    steps = dict(summary.get("seconds_by_step", {}))
    steps["gather"] = summary.get("gather_seconds", 0)
    if chem:
        for k, v in chem.get("seconds_by_stage", {}).items():
            steps[f"chem {k}"] = v
    time_df = pd.DataFrame({"stage": list(steps), "seconds (summed over jobs)": [float(v) for v in steps.values()]})
    by_stage = summary.get("rejected_by_stage") or (chem or {}).get("rejected_by_stage", {})
    body += "<h3>Time per stage</h3>" + rep.table(time_df, floatfmt="{:.1f}")
    if by_stage:
        body += "<h3>Rejected records by stage</h3>" + rep.table(
            pd.DataFrame({"stage": list(by_stage), "records": [int(v) for v in by_stage.values()]}))
    rep.add_section("Run summary", body)

    # --------------------------------------------------------------- model
    spec = _label_kind(model_dirs)
    probability = spec.label.probability
    what = {"regression": "predicted score", "binary": "probability of label 1",
            "multiclass": "probability of the most likely class"}.get(spec.label.name, "score")
    rep.add_section("Model", f"<p>Task: {esc(spec.describe())}; the score is the {what}.</p>"
                    + _model_section(model_dirs, spec))

    # -------------------------------------------------------- distributions
    rep.add_section("Score distributions", _histograms(hist, what))

    # ---------------------------------------------------------------- top-k
    ensemble = len(model_dirs) > 1
    cal, why_not = _calibration(model_dirs, calibration, spec)
    if probability:
        spread = ("the probability is calibrated on validation pairs (see the calibration section); ± is the "
                  "ensemble's spread, the range column mean ± sd kept within [0, 1]" if cal else
                  "± is the ensemble standard deviation of the probability, not calibrated" if ensemble else
                  "one model, no ensemble: no spread")
    else:
        spread = ("± is the calibrated spread and the 80 % column the calibrated interval (see the calibration "
                  "section)" if cal else "± is the ensemble standard deviation, not calibrated" if ensemble else
                  "one model, no ensemble: the scores carry no uncertainty estimate (train several seeds for one)")
    body = (f"<p>Ranked by the ensemble-mean score; {spread}; the domain column is "
            f"the maximum Tanimoto similarity to the training drugs (rows below {ad_threshold} are "
            f"<span class='warn'>outside the domain</span>). Full rankings: <code>ranked/&lt;target&gt;.parquet"
            f"</code>; the top {summary.get('top_k', '')} per target: <code>topk.tsv</code> and "
            f"<code>topk_in_domain.tsv</code>. Rank is the rank among all molecules.</p>")
    def topk_table(g: pd.DataFrame) -> str:
        from theraflow.explain.calibration import apply_calibration

        g = g.head(top_rows)
        view = pd.DataFrame({
            "rank": g["rank"].astype(int).tolist(),
            "structure": [mol_svg(s) for s in g["smiles"]],
            "id": g["id"].tolist()})
        if spec.label.name == "multiclass" and "class" in g:
            view["class"] = [f"{c} — {spec.descriptions.get(str(c), '')}".rstrip(" —") for c in g["class"]]
        if probability:
            from theraflow.pairs.scoring import probability_spread

            p = g["score_mean"].to_numpy(dtype=float)
            if cal and spec.label.name == "binary":
                from theraflow.explain.classification import apply_probability_calibration

                p = apply_probability_calibration(p, cal["calibration"])
            lo, hi = probability_spread(p, g["score_std"].to_numpy(dtype=float))
            view["probability"] = [f"{m:.2f} ± {s:.2f}" if ensemble else f"{m:.2f} (no ensemble: no spread)"
                                   for m, s in zip(p, g["score_std"])]
            if ensemble:
                view["range"] = [f"{a:.2f} – {b:.2f}" for a, b in zip(lo, hi)]
        elif cal:
            c = apply_calibration(g["score_mean"].to_numpy(), g["score_std"].to_numpy(), cal["calibration"], 0.8)
            view["score"] = [f"{m:.2f} ± {s:.2f}" for m, s in zip(g["score_mean"], c["sd"])]
            view["80 % interval"] = [f"{lo:.2f} – {hi:.2f}" for lo, hi in zip(c["low"], c["high"])]
        else:
            view["score"] = [f"{m:.2f} ± {s:.2f} (uncalibrated)" if ensemble else
                             f"{m:.2f} (no ensemble: no uncertainty)" for m, s in zip(g["score_mean"], g["score_std"])]
        view = view.assign(**{
            "domain": [f"{a:.2f}" + (" ⚠ outside" if f else "") for a, f in zip(g["ad_similarity"], g["ad_flag"])],
            "smiles": g["smiles"].tolist(),
        })
        return rep.table(view, raw_columns=("structure",), css_class="topk",
                         row_class=["flag" if f else "" for f in g["ad_flag"]])

    for t, g in topk.groupby("target_id", sort=False):
        inside = topk_in[topk_in["target_id"] == t]
        body += f"<h3>{esc(t)} — within the applicability domain</h3>"
        body += topk_table(inside) if len(inside) else "<p class='muted'>No scored molecule lies within the domain.</p>"
        body += f"<h3>{esc(t)} — all molecules</h3>" + topk_table(g)
    rep.add_section("Top-ranked molecules", body)

    # ---------------------------------------------------------- attributions
    if explain_top > 0 and len(topk):
        rep.add_section("Why these scores: atom attributions", _attributions(rep, topk, model_dirs, targets,
                                                                             explain_top))

    # ---------------------------------------------------------- calibration
    rep.add_section("How far to trust a score: calibrated uncertainty",
                    _calibration_section(rep, cal, why_not, ensemble, spec))

    # --------------------------------------------------- uncertainty vs AD
    if not ensemble:
        body = ("<p>One model: there is no ensemble spread to show. The applicability domain (above, per molecule) "
                "is the only guide to how far a score can be trusted.</p>")
    else:
        body = _uncertainty(sample, ad_threshold) if len(sample) else "<p>No pairs were scored.</p>"
    rep.add_section("Uncertainty and applicability domain", body)

    # -------------------------------------------------------------- rejects
    if len(rejects):
        body = (f"<p>{len(rejects)} record(s) were not scored; each has the stage and reason. The full table is "
                f"<code>rejects.tsv</code>.</p>" + rep.table(rejects, max_rows=200))
    else:
        body = "<p>No record was rejected.</p>"
    rep.add_section("Rejected records", body)

    # ----------------------------------------------------------- provenance
    if isinstance(config, dict):
        config_hash = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()
    elif config:
        config_hash = sha256_file(config)
    else:
        config_hash = "(no config file: run from the command line or API)"
    inputs = []
    for label, path in (("library", library), ("targets", targets)):
        if path and Path(path).exists():
            inputs.append({"input": label, "file": str(path), "sha256": sha256_file(path)})
    models = [{"model": str(d), "weights sha256": hashlib.sha256((d / "model.safetensors").read_bytes()).hexdigest()}
              for d in model_dirs]
    body = (f"<p><b>Config sha256:</b> <code>{esc(config_hash)}</code></p>"
            + ("<h3>Inputs</h3>" + rep.table(pd.DataFrame(inputs)) if inputs else "")
            + "<h3>Models</h3>" + rep.table(pd.DataFrame(models))
            + "<h3>Packages</h3>" + rep.table(pd.DataFrame({"package": list(_versions()),
                                                              "version": list(_versions().values())})))
    rep.add_section("Provenance", body)
    return rep.write(output)
