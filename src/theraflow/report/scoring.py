"""The screening report: one self-contained HTML file for the chemists who read it.

Sections: run summary (records in, kept, rejected and why, time per stage, cache hits); the targets (name,
length, known to the models or unseen); the model card with its test metrics and split protocol; score
distributions per target; the hits of each target as an interactive grid (2D drawings, ensemble mean ±
calibrated sd, the 80 % interval, applicability domain; filter, sort, CSV download); atom attributions of the
top few; the calibration of the ensemble's spread (coverage plot); uncertainty against applicability domain;
the rejects table; time and estimated energy per stage and of training the models (theraflow.energy);
provenance (config hash, package versions, input sha256, model checksums).

The page's weight does not grow with the library: the grids hold the top ``grid_rows`` of each target (and
the top ``grid_rows`` inside the domain), read from the head of the ranked tables; histograms and a fixed-size
sample describe the rest, and the full rankings are named by path. The page is Jinja2 templates
(``templates/``) around the shared builder of :mod:`theraflow.report.html`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from importlib import metadata, resources
from pathlib import Path

import numpy as np
import pandas as pd
from markupsafe import Markup

from theraflow.io import safe_name, sha256_file
from theraflow.report.html import HtmlReport, datatables_assets, esc, mol_svg, packed_json, templates

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
               "train Wh": (meta.get("train_energy") or {}).get("energy_wh"),
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
    from theraflow.report.pairs import counts_note  # every part's pairs given, scored, rejected by reason

    return table + "".join(parts) + counts_note(model_dirs)


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
    return HtmlReport.figure(fig, "score distributions", f"Distribution of the ensemble-mean {what} per target." + note,
                             palette=True)


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
                             "a molecule is unlike anything the model was trained on: treat its score with care.",
                             palette=True)


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
                                 caption=caption, width=300, palette=True))
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
                          "a probability means what it says.", width=460, palette=True)


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
                          "its nominal coverage: on the dashed diagonal an 80 % interval holds 80 % of them.", width=420,
                          palette=True)


def _target_entries(summary: dict) -> list[dict]:
    """The summary's targets as a list of dicts with an ``id`` (the gather writes a list; older screens a
    mapping id -> counts)."""
    raw = summary.get("targets") or []
    if isinstance(raw, dict):
        return [{"id": str(k), **(v if isinstance(v, dict) else {})} for k, v in raw.items()]
    return [dict(e) for e in raw if isinstance(e, dict) and "id" in e]


def _known_text(entry: dict) -> str:
    known, k, n = entry.get("known"), entry.get("models_known"), entry.get("models")
    if known is None:
        return "unknown"
    if known:
        return f"known: {'every model' if not n else 'the model' if n == 1 else f'all {n} models'} trained on it"
    shares = entry.get("shares_sequence_with") or []
    if shares:
        more = ", …" if len(shares) > 5 else ""
        return (f"unseen under this name: the models trained on its sequence as {len(shares)} targets the data "
                f"set told apart ({', '.join(map(str, shares[:5]))}{more}); scored from its sequence alone")
    if k:
        return f"partly unseen: {k} of {n} models trained on it"
    return "unseen: no model trained on it (scored from its sequence alone)"


def _targets(summary: dict, model_dirs: Sequence[Path], targets_file, spec) -> list[dict]:
    """Per target: id, name, length, whether the models know it, counts and the path of its full ranking.
    Where the summary does not say (screens gathered before it did), the name and length come from the
    targets file, else from the models' own partner table, and "known" from the models' partner ids."""
    entries = _target_entries(summary)
    side: dict[str, dict] = {}
    if targets_file and Path(targets_file).exists():
        from theraflow.errors import InputError

        try:
            from theraflow.pairs.scoring import read_partners

            for _, r in read_partners(targets_file, spec.task).iterrows():
                value = "" if pd.isna(r.get("value")) else str(r.get("value"))
                side[str(r["id"])] = {"name": r.get("name"), "length": len("".join(value.split())) or None}
        except (InputError, OSError, ValueError, KeyError):
            side = {}
    trained: list[set[str]] = []
    for d in model_dirs:
        p = json.loads((Path(d) / "model.json").read_text()).get("partners") or {}
        ids, values = [str(x) for x in p.get("ids") or []], list(p.get("values") or [])
        trained.append(set(ids))
        for i, v in zip(ids, values):
            if v and i not in side:
                side[i] = {"name": None, "length": len("".join(str(v).split()))}
    out = []
    for e in entries:
        t = str(e["id"])
        info = side.get(t, {})
        name = e.get("name") or info.get("name")
        length = e.get("length") or info.get("length")
        if "known" not in e and trained:
            k = sum(t in ids for ids in trained)
            e = {**e, "known": k == len(trained), "models_known": k, "models": len(trained)}
            known_text = _known_text(e) + " (by its id)"
        else:
            known_text = _known_text(e)
        out.append({**e, "id": t, "name": name if name and str(name) not in ("nan", "") else "unknown",
                    "length": f"{int(length):,}" if length else "unknown", "known_text": known_text,
                    "molecules": int(e.get("molecules", 0) or 0), "outside_domain": int(e.get("outside_domain", 0) or 0),
                    "file": e.get("file") or f"ranked/{safe_name(t)}.parquet", "anchor": "hits-" + safe_name(t)})
    return out


def _head_rows(screen: Path, target: dict, n: int, topk: pd.DataFrame, topk_in: pd.DataFrame) -> pd.DataFrame:
    """The top ``n`` of a target and its top ``n`` inside the domain, in rank order: read from the head of
    its ranked table (sorted by score), so the time does not grow with the library beyond the scan for
    in-domain rows; the gathered top-k tables where the ranked table is gone."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = screen / target["file"]
    if not path.exists():
        rows = pd.concat([topk[topk["target_id"] == target["id"]], topk_in[topk_in["target_id"] == target["id"]]])
        return rows.drop_duplicates("rank").sort_values("rank").reset_index(drop=True)
    pf = pq.ParquetFile(path)
    cols = [c for c in ("rank", "id", "smiles", "class", "score_mean", "score_std", "ad_similarity", "ad_flag")
            if c in pf.schema_arrow.names]
    head, inside, n_head, n_in = [], [], 0, 0
    for batch in pf.iter_batches(batch_size=max(1024, n), columns=cols):
        t = pa.Table.from_batches([batch])
        if n_head < n:
            head.append(t.slice(0, n - n_head))
            n_head += min(n - n_head, t.num_rows)
        flag = t.column("ad_flag").to_numpy(zero_copy_only=False)
        pick = np.flatnonzero(~flag)[: n - n_in]
        if len(pick):
            inside.append(t.take(pick))
            n_in += len(pick)
        if n_head >= n and n_in >= n:
            break
    parts = [x.to_pandas() for x in head + inside]
    if not parts:
        return pd.DataFrame(columns=cols)
    rows = pd.concat(parts, ignore_index=True)
    return rows.drop_duplicates("rank").sort_values("rank").reset_index(drop=True)


def _hits_section(screen: Path, targets: list[dict], topk, topk_in, spec, cal, ensemble: bool, *, grid_rows: int,
                  ad_threshold: float, spread: str, library_size: int, static_rows: int = 10) -> str:
    """The hit grids (one per target) with their data, the shared drawings and the DataTables assets."""
    from theraflow.explain.calibration import apply_calibration

    probability = spec.label.probability
    multiclass = spec.label.name == "multiclass"
    structures: dict[str, str] = {}
    keys: dict[str, str] = {}
    has_sd = ensemble
    has_interval = ensemble and (probability or cal is not None)
    interval_title = "range" if probability else "80 % interval"
    headers = ["rank", "structure", "id"] + (["class"] if multiclass else []) +         ["probability" if probability else "score"] + (["±"] if has_sd else []) +         ([interval_title] if has_interval else []) + ["domain", "SMILES"]
    names = ["rank", "structure", "id"] + (["class"] if multiclass else []) + ["score"] +         (["sd"] if has_sd else []) + (["low", "high"] if has_interval else []) + ["similarity", "inside", "smiles"]
    columns = {k: i for i, k in enumerate(names)}
    shown, total = [], 0
    for t in targets:
        g = _head_rows(screen, t, grid_rows, topk, topk_in)
        mean = g["score_mean"].to_numpy(dtype=float)
        sd = g["score_std"].to_numpy(dtype=float)
        lo = hi = None
        if probability:
            from theraflow.pairs.scoring import probability_spread

            if cal and spec.label.name == "binary":
                from theraflow.explain.classification import apply_probability_calibration

                mean = apply_probability_calibration(mean, cal["calibration"])
            lo, hi = probability_spread(mean, sd)
        elif cal is not None and len(g):
            c = apply_calibration(mean, sd, cal["calibration"], 0.8)
            sd, lo, hi = np.asarray(c["sd"]), np.asarray(c["low"]), np.asarray(c["high"])
        rows, static = [], []
        for i, r in enumerate(g.itertuples(index=False)):
            smi = str(r.smiles)
            key = keys.get(smi)
            if key is None:
                key = keys[smi] = f"m{len(keys)}"
                structures[key] = mol_svg(smi)
            inside = not bool(r.ad_flag)
            cls = None
            if multiclass:
                c_raw = g["class"].iat[i]
                cls = f"{c_raw} — {spec.descriptions.get(str(c_raw), '')}".rstrip(" —")
            row = [int(r.rank), key, str(r.id)] + ([cls] if multiclass else []) + [round(float(mean[i]), 4)]
            if has_sd:
                row.append(round(float(sd[i]), 4))
            if has_interval:
                row += [round(float(lo[i]), 4), round(float(hi[i]), 4)]
            row += [round(float(r.ad_similarity), 4), inside, smi]
            rows.append(row)
            if i < static_rows:
                static.append({"rank": int(r.rank), "svg": Markup(structures[key]), "id": str(r.id), "class": cls,
                               "score": f"{mean[i]:.2f}", "sd": f"{sd[i]:.2f}",
                               "interval": f"{lo[i]:.2f} – {hi[i]:.2f}" if has_interval else "",
                               "domain": f"{r.ad_similarity:.2f}" + ("" if inside else " ⚠ outside"),
                               "smiles": smi, "inside": inside})
        total += len(rows)
        shown.append({**t, "label": f"{t['id']}" + (f" ({t['name']})" if t["name"] not in ("unknown", t["id"]) else ""),
                      "rows": rows, "static": static, "inside": sum(1 for x in rows if x[columns["inside"]]),
                      "data": {"target": t["id"], "columns": columns, "rows": rows, "csv_name": f"hits_{safe_name(t['id'])}",
                               "score_title": headers[columns["score"]], "interval_title": interval_title}})
    return templates().get_template("hits.html.j2").render(
        targets=shown, headers=headers, has_class=multiclass, has_sd=has_sd, has_interval=has_interval,
        structures=packed_json(structures), assets=datatables_assets(), grid_rows=grid_rows, rows_total=total,
        ad_threshold=ad_threshold, spread=spread[0].upper() + spread[1:], library_size=library_size)


def _first_pass_sentence(summary: dict) -> str:
    """Which molecules each model scored, in a two-stage screen (nothing otherwise)."""
    first = summary.get("first_pass")
    if not first:
        return ""
    scored, passed = int(first["scored"]), int(first["passed"])
    share = f" ({passed / scored:.1%})" if scored else ""
    where = (f" Every molecule's first-pass score, and whether it was passed on, is in "
             f"<code>{esc(first['file'])}</code>." if first.get("file") else "")
    return (f"<p class='first-pass'><b>Two-stage screen.</b> The first-pass model <code>{esc(Path(first['model']).name)}"
            f"</code> (distilled from the ensemble: see its card.md) scored all {scored:,} molecules; the ensemble "
            f"scored the {passed:,}{share} it passed on — in each shard the {float(first['keep']):.0%} with the best "
            "first-pass rank for any target. Everything below (ranked tables, hits, distributions) is the "
            f"ensemble's scores of those {passed:,}; the other {scored - passed:,} have a first-pass score only."
            f"{where}</p>")


def _rejects_sentence(summary: dict, rejects: pd.DataFrame, chem: dict | None) -> str:
    """Every rejection count the run recorded, in words: by reason and by stage."""
    n = int(summary.get("rejected", 0) or 0)
    if not n and not len(rejects):
        return "No record was rejected."
    parts = []
    for key in sorted(k for k in {**(chem or {}), **summary} if k.startswith("rejected_by_")):
        counts = summary.get(key) or (chem or {}).get(key)
        if isinstance(counts, dict) and counts:
            what = key.removeprefix("rejected_by_").replace("_", " ")
            flat = {k: v for k, v in counts.items() if isinstance(v, int | float)}
            if flat:
                parts.append(f"by {what}: " + ", ".join(f"{k} {int(v):,}" for k, v in
                                                          sorted(flat.items(), key=lambda kv: -kv[1])))
    if not any(p.startswith("by reason") for p in parts) and len(rejects) and "reason" in rejects:
        try:  # a reason counted by its kind, not each record's own message
            from theraflow.pairs.rejects import reason_category
        except ImportError:
            def reason_category(text: str) -> str:
                return str(text).split(":")[0].strip() or "rejected"
        counts = rejects["reason"].fillna("").map(reason_category).value_counts()
        parts.insert(0, "by reason: " + ", ".join(f"{k} {int(v):,}" for k, v in counts.head(8).items())
                     + (f" and {len(counts) - 8} other reasons" if len(counts) > 8 else ""))
    return f"{n or len(rejects):,} record(s) were rejected" + ("; " + "; ".join(parts) if parts else "") + "."


def _cost_section(benchmarks: Sequence[str | Path], model_dirs: Sequence[Path]) -> str:
    """Time and estimated energy of the stages behind the screen, and of training the models (their cards)."""
    from theraflow.energy import costs_html, run_costs

    training = []
    for d in model_dirs:
        meta = json.loads((d / "model.json").read_text()) if (d / "model.json").exists() else {}
        e = meta.get("train_energy") or {}
        training.append({"model": d.name, "seconds": meta.get("train_seconds"), "energy_wh": e.get("energy_wh"),
                         "method": e.get("method", "not recorded (trained before theraflow recorded energy)")})
    intro = ("<p>Each stage's jobs summed (job time is summed over jobs, not the run's elapsed time); a re-run "
             "shows the jobs that made the current results, including those cached from an earlier run.</p>")
    return intro + costs_html(run_costs(benchmarks, exclude_stages=("report",)), training=training)


def build_scoring_report(screen_dir: str | Path, model_dirs: Sequence[str | Path], output: str | Path, *,
                         library: str | Path | None = None, targets: str | Path | None = None,
                         chem_summary: str | Path | None = None, config: str | Path | dict | None = None,
                         title: str = "theraflow screening report", grid_rows: int = 200,
                         ad_threshold: float = 0.3, explain_top: int = 5,
                         calibration: str | Path | None = None,
                         benchmarks: Sequence[str | Path] = ()) -> Path:
    """Write the screening report of a gathered screen to ``output`` (one self-contained HTML file).

    ``benchmarks``: the folders of the Snakemake benchmark files of the stages behind the screen (time and
    estimated energy per stage, :mod:`theraflow.energy`); the models' training figures come from their cards.

    ``grid_rows``: the hits of each target in its grid (the top by score, and the top inside the domain);
    the page's weight depends on it and on the number of targets, not on the library's size."""
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
    spec = _label_kind(model_dirs)
    target_rows = _targets(summary, model_dirs, targets, spec)

    # ----------------------------------------------------------- run summary
    chem = json.loads(Path(chem_summary).read_text()) if chem_summary else None
    records = summary.get("records") or (chem or {}).get("records", 0)
    rejected = summary.get("rejected", 0)
    outside = sum(t["outside_domain"] for t in target_rows)
    pairs = summary.get("pairs", 0)
    body = rep.kpis([("records in", f"{records:,}"), ("kept", f"{summary.get('kept', 0):,}"),
                     ("rejected", f"{rejected:,}"), ("targets", len(target_rows)), ("pairs scored", f"{pairs:,}"),
                     ("feature-store hits", f"{summary.get('store_hits', 0):,}"),
                     ("feature-store misses", f"{summary.get('store_misses', 0):,}"),
                     ("pairs outside domain", f"{outside:,}")])
    body += f"<p class='rejects-sentence'>{esc(_rejects_sentence(summary, rejects, chem))}</p>"
    body += _first_pass_sentence(summary)
    steps = dict(summary.get("seconds_by_step", {}))
    steps["gather"] = summary.get("gather_seconds", 0)
    if chem:
        for k, v in chem.get("seconds_by_stage", {}).items():
            steps[f"chem {k}"] = v
    time_df = pd.DataFrame({"stage": list(steps), "seconds (summed over jobs)": [float(v) for v in steps.values()]})
    body += "<h3>Time per stage</h3>" + rep.table(time_df, floatfmt="{:.1f}")
    rep.add_section("Run summary", body)

    # -------------------------------------------------------------- targets
    known = [t for t in target_rows if t.get("known") is True]
    unseen = [t for t in target_rows if t.get("known") is False]
    sentence = (f"{len(target_rows)} target(s): {len(known)} known to the models, {len(unseen)} unseen or partly "
                "unseen" + (" (an unseen target is scored from its sequence alone: its scores are an extrapolation)"
                            if unseen else "") + ".")
    rep.add_section("Targets", templates().get_template("targets.html.j2").render(targets=target_rows,
                                                                                 sentence=sentence))

    # --------------------------------------------------------------- model
    probability = spec.label.probability
    what = {"regression": "predicted score", "binary": "probability of label 1",
            "multiclass": "probability of the most likely class"}.get(spec.label.name, "score")
    rep.add_section("Model", f"<p>Task: {esc(spec.describe())}; the score is the {what}.</p>"
                    + _model_section(model_dirs, spec))

    # -------------------------------------------------------- distributions
    rep.add_section("Score distributions", _histograms(hist, what))

    # ----------------------------------------------------------------- hits
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
    library_size = int(summary.get("kept", 0) or max((t["molecules"] for t in target_rows), default=0))
    rep.add_section("Top-ranked molecules", _hits_section(
        screen, target_rows, topk, topk_in, spec, cal, ensemble, grid_rows=grid_rows, ad_threshold=ad_threshold,
        spread=spread, library_size=library_size))

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
        body = (f"<p>{esc(_rejects_sentence(summary, rejects, chem))} Each has the stage and reason; the first 200 "
                f"are below, all of them in <code>rejects.tsv</code>.</p>" + rep.table(rejects, max_rows=200))
    else:
        body = "<p>No record was rejected.</p>"
    by_stage = summary.get("rejected_by_stage") or (chem or {}).get("rejected_by_stage", {})
    if by_stage:
        body += "<h3>Rejected records by stage</h3>" + rep.table(
            pd.DataFrame({"stage": list(by_stage), "records": [int(v) for v in by_stage.values()]}))
    rep.add_section("Rejected records", body)

    # ------------------------------------------------------------ run cost
    rep.add_section("Time and energy", _cost_section(benchmarks, model_dirs))

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
    first = summary.get("first_pass")
    if first and (Path(first["model"]) / "model.safetensors").exists():
        models.append({"model": f"{first['model']} (first pass)",
                       "weights sha256": sha256_file(Path(first["model"]) / "model.safetensors")})
    versions = _versions()
    versions["itables (DataTables)"] = datatables_assets()["version"]
    eng = summary.get("engine") or {"engine": "torch", "models": []}
    runs = "; ".join(f"{m['model']}: {m['runs']}" + (f" ({m['fallback']})" if m.get("fallback") else "")
                     for m in eng.get("models", []))
    body = (f"<p><b>Config sha256:</b> <code>{esc(config_hash)}</code>. Screen: <code>{esc(screen.resolve())}</code>"
            f"</p><p><b>Scoring engine:</b> {esc(eng['engine'])}" + (f" — {esc(runs)}" if runs else "") + "</p>"
            + ("<h3>Inputs</h3>" + rep.table(pd.DataFrame(inputs)) if inputs else "")
            + "<h3>Models</h3>" + rep.table(pd.DataFrame(models))
            + "<h3>Packages</h3>" + rep.table(pd.DataFrame({"package": list(versions),
                                                              "version": list(versions.values())})))
    rep.add_section("Provenance", body)
    script = (resources.files("theraflow.report") / "templates" / "hits.js").read_text(encoding="utf-8")
    links = [(t["anchor"], f"hits: {t['id']}") for t in target_rows]
    return rep.write(output, links=links, scripts=[script])
