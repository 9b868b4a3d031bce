"""The screening report's weight does not grow with the library: 10,000 and 100,000 molecules give pages of
about the same size, under 1.5 MB, with the same grids; and the pieces that keep it small."""

import json
import re

import pytest


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from tests.report.fabricate import tiny_models

    return tiny_models(tmp_path_factory.mktemp("models"))


def _build(tmp_path_factory, models, n):
    from tests.report.fabricate import fabricate_screen, model_targets
    from theraflow.report.scoring import build_scoring_report

    root = tmp_path_factory.mktemp(f"screen{n}")
    fabricate_screen(root, n, model_targets(models))
    return build_scoring_report(root, models, root / "report.html", explain_top=2)


def test_page_weight_independent_of_library_size(tmp_path_factory, models):
    small = _build(tmp_path_factory, models, 10_000)
    large = _build(tmp_path_factory, models, 100_000)
    a, b = small.stat().st_size, large.stat().st_size
    assert a < 1_500_000 and b < 1_500_000, (a, b)
    assert abs(a - b) / b < 0.15, (a, b)  # ten times the molecules, about the same page
    for path, n in ((small, 10_000), (large, 100_000)):
        html = path.read_text()
        grids = re.findall(r'<script type="application/json" id="hits-[^"]+-data">(.*?)</script>', html)
        assert len(grids) == 2
        for g in grids:
            data = json.loads(g)
            rows = data["rows"]
            ranks = [r[data["columns"]["rank"]] for r in rows]
            inside = [r for r in rows if r[data["columns"]["inside"]]]
            assert ranks[:200] == list(range(1, 201))  # the top 200 by score ...
            assert len(inside) == 200 and len(rows) < 400  # ... and the top 200 inside the domain
            assert ranks == sorted(ranks) and max(ranks) < n
        assert f"{n:,} molecules scored" in html
        assert "ranked/MET.parquet" in html


def test_drawings_are_compact():
    from tests.report.fabricate import nci_smiles
    from theraflow.report.html import mol_svg

    svgs = [mol_svg(s) for s in nci_smiles(100)]
    assert all(s.startswith("<svg") and "<path" in s for s in svgs)
    assert sum(map(len, svgs)) / len(svgs) < 2000  # RDKit's own SVG: ~9 kB a molecule
    assert mol_svg("C1CC(") == ""
    with_label = mol_svg("c1ccccc1O")
    assert ">O</text>" in with_label and "aria-label='c1ccccc1O'" in with_label


def test_targets_and_rejects_from_older_summaries(models, tmp_path):
    """A screen gathered before the summary described its targets: the report falls back to the models'
    partner table (known by id) and still states the rejections in a sentence."""
    import pandas as pd

    from theraflow.report.scoring import _rejects_sentence, _target_entries, _targets

    old = {"targets": {"MET": {"molecules": 10, "outside_domain": 3, "file": "ranked/MET.parquet"},
                       "NEW": {"molecules": 10, "outside_domain": 9}}}
    assert [e["id"] for e in _target_entries(old)] == ["MET", "NEW"]
    spec = type("S", (), {"task": "dti"})()
    rows = {t["id"]: t for t in _targets(old, models, None, spec)}
    assert rows["MET"]["known"] is True and rows["MET"]["known_text"].startswith("known: all 2 models")
    assert rows["NEW"]["known"] is False and rows["NEW"]["known_text"].startswith("unseen")
    assert rows["NEW"]["length"] == "unknown" and rows["NEW"]["file"].startswith("ranked/")
    new = {"targets": [{"id": "MET", "name": "MET kinase", "length": 1390, "known": False, "models_known": 1,
                        "models": 2, "molecules": 5, "outside_domain": 1}]}
    (row,) = _targets(new, models, None, spec)
    assert (row["name"], row["length"], row["known_text"]) == ("MET kinase", "1,390",
                                                                "partly unseen: 1 of 2 models trained on it")
    rejects = pd.DataFrame({"reason": ["unparsable SMILES: x", "unparsable SMILES: y", "over 150 heavy atoms"]})
    text = _rejects_sentence({"rejected": 3, "rejected_by_stage": {"read": 2, "standardize": 1}}, rejects, None)
    assert text.startswith("3 record(s) were rejected") and "unparsable SMILES 2" in text
    assert "by stage: read 2, standardize 1" in text
    assert _rejects_sentence({"rejected": 0}, pd.DataFrame(), None) == "No record was rejected."
