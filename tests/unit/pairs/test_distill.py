"""The distilled first pass: the cut it makes, a student that learns its teacher's ranking, and a two-stage screen
whose ranked tables are the ensemble's scores of exactly the molecules the first pass passed on."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from theraflow.errors import InputError
from theraflow.pairs.distill import agreement, distill, keep_mask, load_first_pass
from theraflow.pairs.screen import score_library


def test_keep_mask_passes_the_best_rank_for_any_partner():
    scores = np.array([[9.0, 0.0], [0.0, 9.0], [5.0, 5.0], [1.0, 1.0], [2.0, 0.5], [0.5, 2.0]])
    # each of the first two is the best for one partner; then the second best of each (rows 2 for both)
    assert keep_mask(scores, 2 / 6).tolist() == [True, True, False, False, False, False]
    assert keep_mask(scores, 0.5).tolist() == [True, True, True, False, False, False]
    assert keep_mask(scores, 1.0).all()
    with_nan = scores.copy()
    with_nan[3] = np.nan  # a molecule the first pass could not score goes on to the ensemble
    assert keep_mask(with_nan, 2 / 6).tolist() == [True, True, False, True, False, False]
    assert keep_mask(np.zeros((0, 2)), 0.1).tolist() == []
    for bad in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="fraction"):
            keep_mask(scores, bad)


def _library(nci_smi, path, lo: int, hi: int, extra: str = ""):
    """Lines ``lo`` ... ``hi`` of RDKit's NCI sample as a .smi library (and ``extra`` lines after them)."""
    lines = [line for line in nci_smi.read_text().splitlines() if line.strip()][lo:hi]
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


@pytest.fixture(scope="module")
def teacher(tmp_path_factory, nci_smi, demo_model):
    """The tiny demo model's screen of 1,500 NCI molecules (2 targets): what a student learns from."""
    work = tmp_path_factory.mktemp("distill")
    lib = _library(nci_smi, work / "corpus.smi", 0, 1500)
    score_library(lib, [demo_model], work / "teacher", chunk_size=500, store=work / "store")
    return work


@pytest.fixture(scope="module")
def student(teacher):
    """(the first-pass model distilled from the teacher's screen, its model.json)."""
    meta = distill(teacher / "teacher", teacher / "student", hidden=(64, 32), max_epochs=60, max_minutes=2,
                   batch_size=64, lr=3e-3, patience=10, progress=False)
    return teacher / "student", meta


def test_a_student_learns_its_teacher_ranking(teacher, student):
    _, meta = student
    v = meta["validation"]
    assert meta["training"]["validation"] == v["molecules"] > 100
    # the demo model's scores follow simple structure: a small MLP over Morgan bits ranks like it on held-out
    # molecules (an untrained one does not: its Spearman is about 0)
    assert v["spearman_min"] > 0.6, v
    loaded = load_first_pass(student[0])
    assert loaded.partners == meta["partners"] and len(loaded.partners) == 2
    assert (student[0] / "card.md").read_text().startswith("# First-pass model")
    with pytest.raises(InputError, match="does not know"):
        loaded.columns_for(["not_a_target"])
    with pytest.raises(InputError, match="no model.json"):
        load_first_pass(teacher / "student_missing")
    # a figure from agreement() is what the card reports: the same call on the same rows gives it back
    assert agreement(np.array([[1.0], [2.0], [3.0]]), np.array([[1.0], [2.0], [3.0]]), keep=0.34)[
        "top1pct_recall_min"] == 1.0


def test_a_model_dir_of_another_kind_is_refused(demo_model):
    with pytest.raises(InputError, match="not a first-pass model"):
        load_first_pass(demo_model)


def test_a_two_stage_screen_scores_what_the_first_pass_passed_on(tmp_path, student, demo_model, nci_smi):
    student_dir, _ = student
    lib = _library(nci_smi, tmp_path / "lib.smi", 2000, 2400, "not_a_smiles bad1\n")
    full = score_library(lib, [demo_model], tmp_path / "full", chunk_size=150, store=tmp_path / "store")
    two = score_library(lib, [demo_model], tmp_path / "two", chunk_size=150, store=tmp_path / "store",
                        first_pass=student_dir, first_pass_keep=0.2)
    first = two["first_pass"]
    fp = pd.read_parquet(tmp_path / "two" / "first_pass.parquet")
    # every record is rejected (with its reason) or scored by the first pass; a fifth of each shard goes on
    assert two["records"] == 401 and two["rejected"] == full["rejected"] >= 1
    assert first["scored"] == len(fp) == full["kept"] == two["records"] - two["rejected"]
    assert first["passed"] == int(fp["passed"].sum()) == two["kept"] < first["scored"] * 0.25
    assert fp["record"].is_monotonic_increasing and fp["first_pass_score"].notna().all()
    passed = set(fp.loc[fp["passed"], "id"])
    for t in (x["id"] for x in two["targets"]):
        a = pd.read_parquet(tmp_path / "full" / "ranked" / f"{t}.parquet").set_index("id")
        b = pd.read_parquet(tmp_path / "two" / "ranked" / f"{t}.parquet").set_index("id")
        assert set(b.index) == passed  # the ensemble scored exactly what was passed on ...
        for col in ("score_mean", "score_std", "ad_similarity"):  # ... as the full screen did
            assert np.array_equal(b[col].to_numpy(), a.loc[b.index, col].to_numpy()), col
        assert b["rank"].tolist() == list(range(1, len(b) + 1))
    # the first pass keeps molecules the ensemble ranks high: better than a random fifth
    t0 = two["targets"][0]["id"]
    a = pd.read_parquet(tmp_path / "full" / "ranked" / f"{t0}.parquet")
    top = a.head(max(1, len(a) // 20))["id"]
    assert top.isin(passed).mean() > 0.2 * 1.5
    rho = spearmanr(a.set_index("id").loc[fp["id"], "score_mean"], fp["first_pass_score"]).statistic
    assert rho > 0


def test_a_first_pass_is_part_of_the_shards_key(tmp_path, student, demo_model, nci_smi):
    """Shards scored without a first pass (or with another cut) are not reused by a two-stage screen."""
    student_dir, _ = student
    lib = _library(nci_smi, tmp_path / "lib.smi", 3000, 3200)
    out = tmp_path / "screen"
    score_library(lib, [demo_model], out, chunk_size=100)
    two = score_library(lib, [demo_model], out, chunk_size=100, first_pass=student_dir, first_pass_keep=0.5)
    assert two["shards_reused"] == 0 and two["first_pass"]["passed"] == two["kept"]
    again = score_library(lib, [demo_model], out, chunk_size=100, first_pass=student_dir, first_pass_keep=0.5)
    assert again["shards_reused"] == 2 and again["first_pass"] == two["first_pass"]
    other = score_library(lib, [demo_model], out, chunk_size=100, first_pass=student_dir, first_pass_keep=0.3)
    assert other["shards_reused"] == 0 and other["kept"] < two["kept"]
    plain = score_library(lib, [demo_model], out, chunk_size=100)  # one stage again: no first-pass table left
    assert "first_pass" not in plain and not (out / "first_pass.parquet").exists()
