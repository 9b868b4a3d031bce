"""The screening report opened in headless Chromium: the hit grids filter, sort and download, section links
land on rendered sections, drawings and figures render, no console errors.

Needs Debian's chromium (/usr/bin/chromium; .ci/run installs it) and the playwright
package (its driver only: no browser download). Without them the test is skipped,
unless THERAFLOW_REQUIRE_BROWSER=1 (set by .ci/run), which makes a skip a failure.
"""

import csv
import os
import re
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
    from tests.report.fabricate import tiny_models
    from theraflow.pairs.screen import score_library
    from theraflow.report.scoring import build_scoring_report

    tmp = tmp_path_factory.mktemp("screen")
    models = tiny_models(tmp)
    lines = [line for line in nci_smi.read_text().splitlines() if line.strip()][:400]
    lib = tmp / "lib.smi"
    lib.write_text("\n".join(lines) + "\nC1CC( unclosed\n")
    score_library(lib, models, tmp / "out", chunk_size=200, top_k=10)
    return build_scoring_report(tmp / "out", models, tmp / "out" / "report.html", library=lib), tmp


@pytest.fixture(scope="module")
def browser():
    _require()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def _open(browser, path, errors, fragment=""):
    page = browser.new_page(viewport={"width": 1300, "height": 900}, accept_downloads=True)
    page.on("console", lambda m: errors.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    page.goto(path.as_uri() + fragment, wait_until="load")
    page.wait_for_selector("body[data-hits-ready]", state="attached", timeout=20_000)
    assert page.evaluate("document.body.dataset.hitsReady") == "1"
    return page


def _ink(png: bytes) -> float:
    """The share of pixels that are not background white in a screenshot."""
    import io

    from PIL import Image

    a = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    return float((a < 235).mean())


def test_report_renders_in_headless_chromium(report, browser, tmp_path):
    path, _ = report
    html = path.read_text()
    # self-contained: nothing fetched (namespace URIs inside the SVGs are names, not requests); scripts inline
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)|url\(\s*["']?(https?:|//)|<link\b|<script[^>]*\bsrc=""",
                         html)
    errors = []
    page = _open(browser, path, errors)
    grids = page.locator("table.hits-grid")
    assert grids.count() == 2  # one per target
    for g in range(2):
        rows = grids.nth(g).locator("tbody tr")
        assert rows.count() == 10  # a page of the grid
        drawings = rows.locator("td.mol svg")
        assert drawings.count() == 10
        for i in range(3):
            box = drawings.nth(i).bounding_box()
            assert box and box["width"] > 100 and box["height"] > 80, box  # the drawing has a size
            assert drawings.nth(i).locator("path").count() >= 1  # and bonds drawn in it
    imgs = page.locator("figure img")
    assert imgs.count() >= 2
    for i in range(imgs.count()):  # inline PNGs decoded (histograms, uncertainty plot)
        assert page.evaluate("(img) => img.complete && img.naturalWidth > 0", imgs.nth(i).element_handle())
    maps = page.locator(".attributions figure img")  # atom attributions of the top 5 of each target
    assert maps.count() == 10, maps.count()
    coverage = page.locator("figure img[alt='coverage plot']")  # calibrated spread, fitted on validation
    assert coverage.count() == 1
    assert page.evaluate("(img) => img.complete && img.naturalWidth >= 400", coverage.element_handle())
    assert page.locator("table.hits-grid th", has_text="80 % interval").count() == 2
    for name in ("Run summary", "Targets", "Model", "Score distributions", "Top-ranked molecules",
                 "Why these scores: atom attributions", "How far to trust a score: calibrated uncertainty",
                 "Uncertainty and applicability domain", "Rejected records", "Provenance"):
        assert page.get_by_role("heading", name=name, exact=True).count() == 1, name
    bad = page.locator("tr", has_text="unclosed")  # the rejects table shows the bad record and why
    assert bad.count() == 1 and "unparsable SMILES" in bad.inner_text()
    sentence = page.locator(".rejects-sentence").first.inner_text()  # every rejection counted, by its kind
    assert "rejected; by reason:" in sentence and "unparsable SMILES 1" in sentence, sentence
    targets = page.locator("table.targets tbody tr")
    assert targets.count() == 2 and "known" in targets.first.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 1300  # nothing wider than the window
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < 9000, height  # paged grids: not one long flat table per target
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    page.close()
    assert shot.stat().st_size > 50_000
    assert not errors, errors


def _column(page, grid, name):
    heads = [h.strip() for h in grid.locator("thead th").all_inner_texts()]
    i = heads.index(name)
    return [c.strip() for c in grid.locator(f"tbody tr td:nth-child({i + 1})").all_inner_texts()]


def _sort(head, direction):
    """Click a column header and wait until the grid says it is ordered that way (DataTables redraws after
    the click's event, not in it)."""
    from playwright.sync_api import expect

    head.click()
    expect(head).to_have_attribute("aria-sort", direction)


def test_grid_filters_sorts_and_downloads(report, browser, tmp_path):
    path, _ = report
    errors = []
    page = _open(browser, path, errors)
    grid = page.locator("table.hits-grid").first
    container = page.locator(".dt-container").first
    ranks = [int(x) for x in _column(page, grid, "rank")]
    assert ranks == sorted(ranks)  # in rank order to begin with

    # sort: a click on the domain header orders by similarity (ascending), a second click descending
    head = grid.locator("thead th", has_text="domain")
    _sort(head, "ascending")
    up = [float(x.split()[0]) for x in _column(page, grid, "domain")]
    assert up == sorted(up) and [int(x) for x in _column(page, grid, "rank")] != ranks
    _sort(head, "descending")
    down = [float(x.split()[0]) for x in _column(page, grid, "domain")]
    assert down == sorted(down, reverse=True) and down[0] > up[0]
    # the score header: best first, then worst first (rank follows the score)
    head = grid.locator("thead th", has_text="score")
    _sort(head, "descending")
    assert [int(x) for x in _column(page, grid, "rank")] == ranks
    _sort(head, "ascending")
    worst = [int(x) for x in _column(page, grid, "rank")]
    assert worst == sorted(worst, reverse=True) and worst[0] > max(ranks), worst

    # filter: an id typed in the search box leaves the rows that hold it
    target_id = _column(page, grid, "id")[3]
    box = container.locator("input[type=search]")
    box.fill(target_id)
    ids = _column(page, grid, "id")
    texts = grid.locator("tbody tr").all_inner_texts()
    assert target_id in ids and len(ids) < 10 and all(target_id in t for t in texts), (target_id, ids)
    box.fill("no such molecule")
    assert grid.locator("tbody td.dt-empty").count() == 1  # nothing matches
    box.fill("")
    assert grid.locator("tbody tr").count() == 10

    # the domain filter: only rows inside the applicability domain remain
    info_all = container.locator(".dt-info").inner_text()
    page.locator("input[type=checkbox][id$='-inside']").first.check()
    domains = _column(page, grid, "domain")
    assert domains and not any("outside" in d for d in domains)
    inside_total = int(re.search(r"of ([\d,]+)", container.locator(".dt-info").inner_text()).group(1).replace(",", ""))
    assert inside_total < int(re.search(r"of ([\d,]+)", info_all).group(1).replace(",", ""))

    # CSV download: the rows that pass the filter (every page), raw numbers, no drawings
    with page.expect_download() as dl:
        container.locator("button", has_text="Download CSV").click()
    out = tmp_path / "hits.csv"
    dl.value.save_as(out)
    assert dl.value.suggested_filename.startswith("hits_") and dl.value.suggested_filename.endswith(".csv")
    rows = list(csv.DictReader(out.open(encoding="utf-8-sig")))
    assert len(rows) == inside_total
    assert {"rank", "id", "score", "±", "80 % interval low", "80 % interval high", "domain", "in domain", "SMILES",
            "target"} <= set(rows[0]), rows[0].keys()
    assert "structure" not in rows[0] and "<svg" not in out.read_text()
    assert all(r["in domain"] == "yes" for r in rows)
    assert all(float(r["80 % interval low"]) <= float(r["score"]) <= float(r["80 % interval high"]) for r in rows)
    page.close()
    assert not errors, errors


def test_section_links_land_on_rendered_sections(report, browser):
    path, _ = report
    errors = []
    page = _open(browser, path, errors)
    links = page.locator("nav#toc a")
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    assert "#hits-MET" in hrefs and len(hrefs) >= 12
    for href in hrefs:
        page.locator(f"nav#toc a[href='{href}']").click()
        page.wait_for_function("h => location.hash === h", arg=href)
        target = page.locator(href)
        box = target.bounding_box()
        nav = page.locator("nav#toc").bounding_box()
        # scrolled to: the section's top just below the sticky nav (or the page ends before it can be)
        at_end = page.evaluate("Math.ceil(scrollY + innerHeight) >= document.documentElement.scrollHeight")
        assert box and (nav["height"] - 2 <= box["y"] <= nav["height"] + 40 or (at_end and 0 <= box["y"] < 900)), \
            (href, box)
        assert target.is_visible()
        assert _ink(page.screenshot()) > 0.01, href  # rendered, not a blank window
    page.close()
    # and a link opened from outside (the fragment in the address)
    page = _open(browser, path, errors, fragment="#hits-MET")
    box = page.locator("#hits-MET").bounding_box()
    assert box and 0 <= box["y"] < 900 and _ink(page.screenshot()) > 0.01
    page.close()
    assert not errors, errors


def test_report_content(report):
    path, tmp = report
    html = path.read_text()
    summary = pd.read_json(tmp / "out" / "summary.json", typ="series")
    assert f"{summary['records']:,}" in html
    assert "weights sha256" in html and "Config sha256" in html
    assert html.count("<svg") >= 20  # the first rows of each grid, without scripts
    assert "ranked/MET.parquet" in html  # where the full ranking is
