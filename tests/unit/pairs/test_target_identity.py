"""A target's identity is its sequence, its name a label (issue 21): a model scores a sequence it trained on the
same whatever the target is called, says which targets it never saw (per target, in the screen's summary), and
bundles written when targets were keyed by name still load and score by id."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pandas as pd
import pytest

from theraflow.pairs.entity import sequence_hash

from .helpers import SEQ_SMILES, SEQUENCES, molecules_of, seq_pairs, small_dti

# reads the sequence (composition) and knows each training target by its row (id embedding): a target the
# model does not recognize gets the "unknown" vector, so recognizing a renamed target changes its scores
CFG = small_dti(max_epochs=3, batch_size=8)
CFG["target_encoder"] = {"type": "composition+id", "composition": {"hidden": 16}, "id": {"dim": 8}}
NAMES = ["EGFR", "ABL1", "SRC", "KIT", "BRAF"]  # the training targets t0..t4 under readable names
MUTANT = SEQUENCES[1][:5] + ("A" if SEQUENCES[1][5] != "A" else "G") + SEQUENCES[1][6:]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from theraflow.pairs.data import build_pair_data
    from theraflow.pairs.task import task_spec
    from theraflow.pairs.train import train_model

    pairs = seq_pairs()
    mols = molecules_of([f"d{i}" for i in range(len(SEQ_SMILES))], SEQ_SMILES)
    data = build_pair_data(task_spec("dti", "regression"), pairs, mols)
    parts = np.where(pairs["drug_id"] == "d5", "valid", "train")
    out = tmp_path_factory.mktemp("identity") / "seed0"
    train_model(data, parts, CFG, out, seed=0, progress=False)
    return out


def _molecules() -> pd.DataFrame:
    return pd.DataFrame({"id": [f"m{i}" for i in range(len(SEQ_SMILES))], "smiles": SEQ_SMILES})


def _fasta(path, records) -> str:
    """FASTA of (id, description, sequence); sequences in lower case over lines of 7 (normalized when read)."""
    lines = []
    for pid, desc, seq in records:
        lines.append(f">{pid} {desc}".rstrip())
        lines += [seq.lower()[i : i + 7] for i in range(0, len(seq), 7)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _by_partner(scores: pd.DataFrame, rename: dict[str, str] | None = None) -> pd.DataFrame:
    s = scores.assign(partner=scores["partner"].map(rename) if rename else scores["partner"])
    return s.set_index(["molecule", "partner"])["score"].sort_index()


def test_a_bundle_keys_targets_by_sequence(model_dir):
    meta = json.loads((model_dir / "model.json").read_text())
    assert meta["vocab_keys"] == {"molecule": "smiles", "protein": "sequence_hash"}
    assert meta["vocab"]["protein"] == [sequence_hash(s) for s in SEQUENCES]
    assert sequence_hash(" mktay\nIAKQR ") == sequence_hash("MKTAYIAKQR")  # case and white space do not matter
    assert meta["partners"]["ids"] == ["t0", "t1", "t2", "t3", "t4"]  # the names it trained under, kept as labels


def test_renamed_fasta_targets_give_identical_scores(tmp_path, model_dir, caplog):
    from theraflow.pairs.scoring import read_partners, score_pairs

    trained, _ = score_pairs(_molecules(), [model_dir])  # default: the training targets under their ids
    fasta = _fasta(tmp_path / "renamed.fasta", [(n, f"{n} kinase, human", s) for n, s in zip(NAMES, SEQUENCES)])
    with caplog.at_level(logging.WARNING):
        renamed, _ = score_pairs(_molecules(), [model_dir], partners=read_partners(fasta, "dti"))
    assert set(renamed["partner"]) == set(NAMES)
    a = _by_partner(trained, {f"t{i}": n for i, n in enumerate(NAMES)})
    b = _by_partner(renamed)
    assert a.index.equals(b.index)
    np.testing.assert_allclose(b.to_numpy(), a.to_numpy(), rtol=0, atol=1e-6)
    ident = renamed.attrs["partners"]
    assert [(p["id"], p["known"], p["models_known"], p["models"]) for p in ident] == [(n, True, 1, 1) for n in NAMES]
    assert ident[0]["name"] == "EGFR kinase, human" and ident[0]["length"] == len(SEQUENCES[0])
    assert ident[0]["trained_as"] == ["t0"]
    assert "unseen" not in caplog.text


def test_an_unseen_sequence_is_scored_from_its_sequence_and_said_to_be_unseen(tmp_path, model_dir, caplog):
    from theraflow.pairs.scoring import read_partners, score_pairs

    # the training id t1, but one residue changed: not the target the model trained on
    fasta = _fasta(tmp_path / "mut.fasta", [("EGFR", "", SEQUENCES[0]), ("t1", "mutant", MUTANT),
                                            ("other", "", "MKVLAAGIVGLLLAAQWSEG")])
    with caplog.at_level(logging.WARNING):
        scores, _ = score_pairs(_molecules(), [model_dir], partners=read_partners(fasta, "dti"))
    ident = {p["id"]: p for p in scores.attrs["partners"]}
    assert ident["EGFR"]["known"] and not ident["t1"]["known"] and not ident["other"]["known"]
    assert ident["t1"]["models_known"] == 0 and ident["t1"]["trained_as"] == []
    assert "target t1 (mutant) is unseen by every model" in caplog.text
    assert f"its sequence ({len(MUTANT)} residues)" in caplog.text and "target other is unseen" in caplog.text
    assert "EGFR is unseen" not in caplog.text
    s = _by_partner(scores)
    trained, _ = score_pairs(_molecules(), [model_dir])
    t = _by_partner(trained)
    # the mutant is not scored as t1 (its id no longer decides), and two unseen sequences differ: read, not named
    assert not np.allclose(s.xs("t1", level="partner").to_numpy(), t.xs("t1", level="partner").to_numpy())
    assert not np.allclose(s.xs("t1", level="partner").to_numpy(), s.xs("other", level="partner").to_numpy())


def test_the_screen_summary_lists_each_target_known_or_unseen(tmp_path, model_dir):
    from theraflow.pairs.screen import score_library

    lib = tmp_path / "lib.smi"
    lib.write_text("".join(f"{s} m{i}\n" for i, s in enumerate(SEQ_SMILES)))
    fasta = _fasta(tmp_path / "t.fasta", [("EGFR", "EGFR kinase", SEQUENCES[0]), ("ABL1", "", SEQUENCES[1]),
                                          ("mutant", "", MUTANT)])
    summary = score_library(lib, [model_dir], tmp_path / "screen", targets=fasta, chunk_size=4)
    on_disk = json.loads((tmp_path / "screen" / "summary.json").read_text())
    assert on_disk["targets"] == summary["targets"]
    got = {t["id"]: t for t in on_disk["targets"]}
    assert set(got) == {"EGFR", "ABL1", "mutant"}
    assert got["EGFR"] | {"file": None, "outside_domain": None} == {
        "id": "EGFR", "name": "EGFR kinase", "length": len(SEQUENCES[0]), "known": True, "models_known": 1,
        "models": 1, "trained_as": ["t0"], "molecules": len(SEQ_SMILES), "outside_domain": None, "file": None}
    assert got["ABL1"]["known"] and got["ABL1"]["name"] == "ABL1"
    assert got["mutant"]["known"] is False and got["mutant"]["models_known"] == 0 and got["mutant"]["models"] == 1
    assert (tmp_path / "screen" / got["mutant"]["file"]).exists()
    for key in ("records", "kept", "rejected", "pairs", "shards", "top_k", "seconds_by_step"):  # the earlier keys
        assert key in on_disk
    # the screen's numbers are the API's, whatever the targets are called
    from theraflow.pairs.scoring import score_pairs

    api, _ = score_pairs(_molecules(), [model_dir])
    ranked = pd.read_parquet(tmp_path / "screen" / got["EGFR"]["file"]).set_index("id")["score_mean"].sort_index()
    np.testing.assert_allclose(ranked.to_numpy(), _by_partner(api).xs("t0", level="partner").to_numpy(),
                               rtol=0, atol=1e-6)


def _legacy(model_dir, out, *, sequences: bool):
    """A copy of the bundle as written when targets were keyed by id: vocab of ids, no vocab_keys."""
    shutil.copytree(model_dir, out)
    meta = json.loads((out / "model.json").read_text())
    by_key = dict(zip([sequence_hash(v) for v in meta["partners"]["values"]], meta["partners"]["ids"]))
    meta["vocab"]["protein"] = [by_key[k] for k in meta["vocab"]["protein"]]  # the same rows, named by id
    del meta["vocab_keys"]
    if not sequences:
        meta["partners"]["values"] = [""] * len(meta["partners"]["ids"])
    (out / "model.json").write_text(json.dumps(meta))
    return out


def test_an_id_keyed_bundle_still_scores_by_id_with_a_warning(tmp_path, model_dir, caplog):
    from theraflow.pairs.scoring import read_partners, score_pairs

    new, _ = score_pairs(_molecules(), [model_dir])
    by_id = pd.DataFrame({"target_id": [f"t{i}" for i in range(5)], "sequence": SEQUENCES})
    renamed = _fasta(tmp_path / "renamed.fasta", [(n, "", s) for n, s in zip(NAMES, SEQUENCES)])

    # no sequences stored: known by id only (as before), and said once when it loads
    bare = _legacy(model_dir, tmp_path / "bare", sequences=False)
    with caplog.at_level(logging.WARNING):
        old, _ = score_pairs(_molecules(), [bare], partners=by_id.rename(columns={"target_id": "id"}))
    assert caplog.text.count("written before targets were keyed by sequence") == 1
    assert "the bundle stored none" in caplog.text
    np.testing.assert_allclose(_by_partner(old).to_numpy(), _by_partner(new).to_numpy(), rtol=0, atol=1e-6)
    assert all(p["known"] for p in old.attrs["partners"])
    unseen, _ = score_pairs(_molecules(), [bare], partners=read_partners(renamed, "dti"))
    assert not any(p["known"] for p in unseen.attrs["partners"])  # no sequence to recognize them by

    # sequences stored: a renamed target is recognized by the sequence its training id stood for
    stored = _legacy(model_dir, tmp_path / "stored", sequences=True)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        again, _ = score_pairs(_molecules(), [stored], partners=read_partners(renamed, "dti"))
    assert "by the 5 sequence(s) the bundle stored" in caplog.text
    assert all(p["known"] for p in again.attrs["partners"])
    np.testing.assert_allclose(_by_partner(again).to_numpy(),
                               _by_partner(new, {f"t{i}": n for i, n in enumerate(NAMES)}).to_numpy(),
                               rtol=0, atol=1e-6)


def test_keys_of_targets_with_and_without_sequences():
    """Sequence keys whatever the id; a target without a sequence keeps its id (trained that way: known by it)."""
    from theraflow.pairs.data import EntityTable, Vocabulary
    from theraflow.registry import TASKS

    kind = TASKS.get("dti").entity(TASKS.get("dti").roles[1])
    trained = EntityTable(kind, ["t0", "P1", "t2"], [SEQUENCES[0], "", SEQUENCES[2]])
    vocab = trained.keys()
    assert vocab == [sequence_hash(SEQUENCES[0]), "P1", sequence_hash(SEQUENCES[2])]
    asked = EntityTable(kind, ["EGFR", "P1", "P1x", "t2", "seq_x"], [SEQUENCES[0].lower(), SEQUENCES[3], "", MUTANT, ""])
    assert asked.with_vocabulary(vocab).vocab_index.tolist() == [0, 1, -1, -1, -1]
    # an id-keyed vocabulary (an earlier bundle): by id, else by a sequence it stored under that id
    old = Vocabulary(["t0", "P1", "t2"], "id", {sequence_hash(SEQUENCES[2]): 2})
    asked = EntityTable(kind, ["t0", "X", "Y", "P1"], [MUTANT, SEQUENCES[2], SEQUENCES[0], ""])
    assert asked.with_vocabulary(old).vocab_index.tolist() == [0, 2, -1, 1]


def test_ids_a_table_gives_one_sequence_stay_apart():
    """Two ids with one sequence in one table (Davis lists kinase variants with the wild-type sequence) are
    two entities, keyed by sequence and id; under a third name that sequence is unseen, and which ids it
    was trained under is said."""
    from theraflow.pairs.data import EntityTable, Vocabulary, variants_of
    from theraflow.pairs.entity import variant_key
    from theraflow.registry import TASKS

    kind = TASKS.get("dti").entity(TASKS.get("dti").roles[1])
    h0 = sequence_hash(SEQUENCES[0])
    keys = EntityTable(kind, ["EGFR", "EGFR(L858R)", "ABL1"], [SEQUENCES[0], SEQUENCES[0].lower(), SEQUENCES[1]]).keys()
    assert keys == [variant_key(h0, "EGFR"), variant_key(h0, "EGFR(L858R)"), sequence_hash(SEQUENCES[1])]
    vocab = Vocabulary(keys, "sequence_hash")
    asked = EntityTable(kind, ["EGFR(L858R)", "EGFR", "egfr_human", "abl", "EGFR"],
                        [SEQUENCES[0], SEQUENCES[0], SEQUENCES[0], SEQUENCES[1], MUTANT])
    assert asked.with_vocabulary(vocab).vocab_index.tolist() == [1, 0, -1, 2, -1]
    assert variants_of(vocab, SEQUENCES[0]) == ["EGFR", "EGFR(L858R)"]
    assert variants_of(vocab, SEQUENCES[1]) == [] and variants_of(vocab, MUTANT) == []
    # one id given twice is one entity: a plain sequence key
    assert EntityTable(kind, ["EGFR", "EGFR"], [SEQUENCES[0]] * 2).keys() == [h0, h0]


@pytest.fixture(scope="module")
def variant_model(tmp_path_factory):
    """Trained on t0..t4 and t1v: t1's sequence under a second id whose labels differ by 2 units."""
    from theraflow.pairs.data import build_pair_data
    from theraflow.pairs.task import task_spec
    from theraflow.pairs.train import train_model

    pairs = seq_pairs()
    v = pairs[pairs["target_id"] == "t1"].assign(target_id="t1v", label=lambda d: d["label"] + 2.0)
    pairs = pd.concat([pairs, v], ignore_index=True)
    mols = molecules_of([f"d{i}" for i in range(len(SEQ_SMILES))], SEQ_SMILES)
    data = build_pair_data(task_spec("dti", "regression"), pairs, mols)
    parts = np.where(pairs["drug_id"] == "d5", "valid", "train")
    out = tmp_path_factory.mktemp("variants") / "seed0"
    train_model(data, parts, small_dti(max_epochs=60, patience=60, batch_size=8) | {"target_encoder": CFG["target_encoder"]},
                out, seed=0, progress=False)
    return out, pairs


def test_variants_are_scored_apart_and_a_third_name_is_unseen_with_the_ids_said(tmp_path, variant_model, caplog):
    from theraflow.pairs.entity import variant_key
    from theraflow.pairs.scoring import read_partners, score_pairs
    from theraflow.pairs.stages import shared_sequence_facts
    from theraflow.registry import TASKS

    model_dir, pairs = variant_model
    meta = json.loads((model_dir / "model.json").read_text())
    h1 = sequence_hash(SEQUENCES[1])
    assert variant_key(h1, "t1") in meta["vocab"]["protein"] and variant_key(h1, "t1v") in meta["vocab"]["protein"]
    assert h1 not in meta["vocab"]["protein"]
    trained, _ = score_pairs(_molecules(), [model_dir])  # the training targets by id
    s = _by_partner(trained)
    # told apart: t1v's learned row carries its higher labels
    assert (s.xs("t1v", level="partner").to_numpy() - s.xs("t1", level="partner").to_numpy()).mean() > 0.1
    fasta = _fasta(tmp_path / "v.fasta", [("t1v", "variant", SEQUENCES[1]), ("ABL1", "", SEQUENCES[1]),
                                         ("EGFR", "", SEQUENCES[0])])
    with caplog.at_level(logging.WARNING):
        named, _ = score_pairs(_molecules(), [model_dir], partners=read_partners(fasta, "dti"))
    ident = {p["id"]: p for p in named.attrs["partners"]}
    assert ident["t1v"]["known"] and ident["t1v"]["trained_as"] == ["t1v"] and ident["EGFR"]["known"]
    assert not ident["ABL1"]["known"] and ident["ABL1"]["shares_sequence_with"] == ["t1", "t1v"]
    assert "shares_sequence_with" not in ident["EGFR"]
    assert "training gave its sequence under 2 ids the data set told apart (t1, t1v)" in caplog.text
    n = _by_partner(named)
    np.testing.assert_allclose(n.xs("t1v", level="partner").to_numpy(), s.xs("t1v", level="partner").to_numpy(),
                               rtol=0, atol=1e-6)
    # the dataset stage's facts and the report's wording
    assert shared_sequence_facts(TASKS.get("dti"), pairs) == {"target": {"ids": 2, "sequences": 1,
                                                                         "example": ["t1", "t1v"]}}
    from theraflow.report.scoring import _known_text

    assert _known_text(ident["ABL1"]).startswith("unseen under this name: the models trained on its sequence as 2")
    assert _known_text(ident["t1v"]) == "known: the model trained on it"


def test_the_summary_says_which_ids_share_a_sequence(tmp_path):
    from theraflow.cli.summary import count_lines

    info = {"shared_sequences": {"target": {"ids": 81, "sequences": 18, "example": ["ABL1(E255K)", "ABL1(F317I)"]}}}
    assert count_lines(tmp_path / "metrics.tsv", info) == [
        "  81 target ids share 18 sequence(s) (e.g. ABL1(E255K), ABL1(F317I)): kept apart as the table names them"]
