"""The screening report opened in headless Chromium: tables and drawings render, no console errors.

Needs Debian's chromium (/usr/bin/chromium; .ci/run installs it) and the playwright
package (its driver only: no browser download). Without them the test is skipped,
unless THERAFLOW_REQUIRE_BROWSER=1 (set by .ci/run), which makes a skip a failure.
"""

import os
import shutil

import numpy as np
import pandas as pd
import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def _require():
    missing = []
    if not os.path.exists(CHROMIUM):
        missing.append("chromium (apt install chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("playwright (pip install playwright)")
    if missing:
        msg = f"browser test needs {', '.join(missing)}"
        if os.environ.get("THERAFLOW_REQUIRE_BROWSER") == "1":
            pytest.fail(msg)
        pytest.skip(msg)


@pytest.fixture(scope="module")
def report(tmp_path_factory, nci_smi):
    """A real screen of 400 NCI molecules with a tiny two-seed drug–target model, and its report."""
    from theraflow import pairs
    from theraflow.chem import featurize
    from theraflow.pairs.screen import score_library
    from theraflow.report.scoring import build_scoring_report

    tmp = tmp_path_factory.mktemp("screen")
    spec, dti, _, _ = pairs.load_dataset("dti", {"source": "rdkit_demo"})
    drugs = dti[["drug_id", "smiles"]].drop_duplicates("drug_id")
    res = featurize(drugs["smiles"].tolist(), "default")
    data = pairs.build_pair_data(spec, dti, pairs.Molecules({d: i for i, d in enumerate(drugs["drug_id"])},
                                                             res.graphs))
    part = pairs.make_split(dti, "random", spec.task).to_numpy()
    cfg = {"name": "tiny", "drug_encoder": {"type": "gin", "hidden": 32, "layers": 2},
           "target_encoder": {"type": "id", "id": {"dim": 8}}, "head": {"hidden": [32], "proj": 16},
           "training": {"max_epochs": 3, "batch_mode": "random", "batch_size": 128, "threads": 1}}
    models = [tmp / "seed0", tmp / "seed1"]
    held_out = np.flatnonzero(np.isin(part, ["valid", "test"]))
    for seed, d in enumerate(models):
        pairs.train_model(data, part, cfg, d, seed=seed, progress=False)
        # what `theraflow dti evaluate` writes: the report calibrates the spread from it
        model, meta, _ = pairs.load_model(d)
        preds = dti.iloc[held_out][["pair_id", "label"]].assign(part=part[held_out])
        preds["prediction"] = pairs.predict(model, data.with_vocabulary(meta["vocab"]), held_out)
        preds.to_parquet(d / "predictions.parquet")
    lines = [line for line in nci_smi.read_text().splitlines() if line.strip()][:400]
    lib = tmp / "lib.smi"
    lib.write_text("\n".join(lines) + "\nC1CC( unclosed\n")
    score_library(lib, models, tmp / "out", chunk_size=200, top_k=10)
    return build_scoring_report(tmp / "out", models, tmp / "out" / "report.html", library=lib), tmp


def test_report_renders_in_headless_chromium(report, tmp_path):
    _require()
    from playwright.sync_api import sync_playwright

    path, _ = report
    html = path.read_text()
    # self-contained: nothing fetched (namespace URIs inside the SVGs are names, not requests)
    import re

    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)|url\(\s*["']?(https?:|//)|<link\b|<script\b""", html)
    errors = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.on("console", lambda m: errors.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
        page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
        page.goto(path.as_uri(), wait_until="load")
        rows = page.locator("table.topk tbody tr")
        assert rows.count() >= 10  # top-k rows rendered
        drawings = page.locator("table.topk td.mol svg")
        assert drawings.count() == rows.count()
        for i in range(min(5, drawings.count())):
            box = drawings.nth(i).bounding_box()
            assert box and box["width"] > 100 and box["height"] > 80, box  # the drawing has a size
            assert drawings.nth(i).locator("path").count() > 3  # and bonds drawn in it
        imgs = page.locator("figure img")
        assert imgs.count() >= 2
        for i in range(imgs.count()):  # inline PNGs decoded (histograms, uncertainty plot)
            assert page.evaluate("(img) => img.complete && img.naturalWidth > 0", imgs.nth(i).element_handle())
        maps = page.locator(".attributions figure img")  # atom attributions of the top 5 of each target
        assert maps.count() == 10, maps.count()
        for i in range(maps.count()):
            assert page.evaluate("(img) => img.complete && img.naturalWidth >= 300", maps.nth(i).element_handle())
        coverage = page.locator("figure img[alt='coverage plot']")  # calibrated spread, fitted on validation
        assert coverage.count() == 1
        assert page.evaluate("(img) => img.complete && img.naturalWidth >= 400", coverage.element_handle())
        assert page.locator("table.topk th", has_text="80 % interval").count() >= 2
        for name in ("Run summary", "Model", "Score distributions", "Top-ranked molecules",
                     "Why these scores: atom attributions", "How far to trust a score: calibrated uncertainty",
                     "Uncertainty and applicability domain", "Rejected records", "Provenance"):
            assert page.get_by_role("heading", name=name, exact=True).count() == 1, name
        bad = page.locator("tr", has_text="unclosed")  # the rejects table shows the bad record and why
        assert bad.count() == 1 and "unparsable SMILES" in bad.inner_text()
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert shot.stat().st_size > 50_000
    assert not errors, errors


def test_report_content(report):
    path, tmp = report
    html = path.read_text()
    summary = pd.read_json(tmp / "out" / "summary.json", typ="series")
    assert f"{summary['records']:,}" in html
    assert "weights sha256" in html and "Config sha256" in html
    assert html.count("<svg") >= 20
