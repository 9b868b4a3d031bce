"""Scoring: the API and the workflow's shard paths give the same numbers (regression and multiclass), ensemble
statistics, partners (targets, panel drugs) and their errors, both orders of a drug–drug pair, gather and merge."""

import numpy as np
import pandas as pd
import pytest

from theraflow.errors import InputError
from theraflow.pairs.scoring import load_ensemble, read_partners, read_targets, score_pairs
from theraflow.pairs.screen import score_library, score_shard
from theraflow.pairs.sources.demo import RULES, SYNTHETIC


@pytest.fixture(scope="module")
def library(tmp_path_factory, nci_smi):
    lines = [line for line in nci_smi.read_text().splitlines() if line.strip()][:300]
    p = tmp_path_factory.mktemp("lib") / "lib.smi"
    p.write_text("\n".join(lines) + "\nnot_a_smiles bad1\n\n")
    return p


def _raw(library):
    from theraflow.chem import read_molecules

    records, _ = read_molecules(library)
    return pd.DataFrame({"id": records["id"], "smiles": records["input"]})


def test_api_equals_shard_paths(tmp_path, library, demo_ensemble):
    from theraflow.chem import standardize_file
    from theraflow.chem.standardize import StandardizeOptions

    store = tmp_path / "store"
    api, rejects = score_pairs(_raw(library), demo_ensemble, store=store)
    assert rejects.set_index("id").loc["bad1", "stage"] == "parse"  # and what standardization refuses
    n_kept = 301 - len(rejects)
    assert set(api["order"]) == {"molecule → partner"} and (api["rank"] == 1).all()

    # the CLI/run path: raw library shards (read + standardize inside the job), two shards
    for shard in (0, 1):
        score_shard(demo_ensemble, library=library, shard=shard, chunk_size=200, store=store,
                    out_scores=tmp_path / f"{shard}.arrow", out_rejects=tmp_path / f"{shard}.rej.parquet",
                    out_stats=tmp_path / f"{shard}.json")
    raw = pd.concat([pd.read_feather(tmp_path / f"{s}.arrow") for s in (0, 1)])
    # the workflow path: a standardized shard table from the chemistry stage
    standardize_file(library, tmp_path / "std.parquet", tmp_path / "std.rej.parquet",
                     options=StandardizeOptions(inchikey=False))
    score_shard(demo_ensemble, standardized=tmp_path / "std.parquet", store=store,
                out_scores=tmp_path / "c.arrow", out_rejects=tmp_path / "c.rej.parquet", out_stats=tmp_path / "c.json")
    wf = pd.read_feather(tmp_path / "c.arrow")
    a = api.rename(columns={"molecule": "id", "partner": "target_id", "score": "score_mean",
                            "score_sd": "score_std"}).sort_values(["target_id", "id"]).reset_index(drop=True)
    b, c = (x.sort_values(["target_id", "id"]).reset_index(drop=True) for x in (raw, wf))
    assert len(a) == len(b) == len(c) == 2 * n_kept
    for col in ("id", "target_id", "ad_flag"):
        assert a[col].tolist() == b[col].tolist() == c[col].tolist(), col
    assert b["smiles"].tolist() == c["smiles"].tolist()
    for col in ("score_mean", "score_std", "ad_similarity"):
        assert np.array_equal(a[col].to_numpy(np.float32), b[col].to_numpy(np.float32)), col
        assert np.array_equal(a[col].to_numpy(np.float32), c[col].to_numpy(np.float32)), col


def test_ensemble_mean_and_std(demo_ensemble):
    mols = pd.DataFrame({"id": ["a", "b"], "smiles": ["CCOc1ccccc1S(N)(=O)=O", "c1ccccc1"]})
    both, _ = score_pairs(mols, demo_ensemble)
    per = [score_pairs(mols, [d])[0] for d in demo_ensemble]
    key = ["molecule", "partner"]
    both = both.sort_values(key).reset_index(drop=True)
    per = np.stack([p.sort_values(key)["score"].to_numpy() for p in per], 1)
    assert np.allclose(both["score"], per.mean(1), atol=1e-5)
    assert np.allclose(both["score_sd"], per.std(1, ddof=1), atol=1e-5)
    single, _ = score_pairs(mols, demo_ensemble[:1])
    assert single["score_sd"].isna().all()  # one model: no spread to speak of
    assert single["ad_similarity"].between(0, 1).all() and "low" not in single  # values, not probabilities


def test_targets_and_errors(tmp_path, demo_model):
    ens = load_ensemble([demo_model])
    fasta = tmp_path / "t.fasta"
    fasta.write_text(">MET c-Met kinase\nMKAPAVLAPG\nILVLLFTLVQ\n>CHEMBL2321810\nMSEQ\n")
    t = read_targets(fasta)
    assert t["target_id"].tolist() == ["MET", "CHEMBL2321810"] and t["sequence"].iloc[0] == "MKAPAVLAPGILVLLFTLVQ"
    assert ens.partner_table(read_partners(fasta, "dti"))["id"].tolist() == ["MET", "CHEMBL2321810"]
    assert ens.partner_table(None)["id"].tolist() == ["CHEMBL2321810", "MET"]  # default: those trained on
    with pytest.raises(InputError, match=r"knows targets by id only .*it cannot score \['EGFR'\]"):
        ens.partner_table(pd.DataFrame({"target_id": ["EGFR"]}))
    bad = tmp_path / "bad.fasta"
    bad.write_text("MKV\n>x\nMK\n")
    with pytest.raises(InputError, match="line 1: sequence before the first"):
        read_targets(bad)
    dup = tmp_path / "dup.tsv"
    dup.write_text("target_id\nA\nA\n")
    with pytest.raises(InputError, match="appears twice"):
        read_targets(dup)
    with pytest.raises(InputError, match="no molecule could be standardized"):
        score_pairs(pd.DataFrame({"id": ["x"], "smiles": ["C1CC"]}), [demo_model])


def test_models_of_different_tasks_are_not_one_ensemble(demo_model, ddi_demo_model):
    with pytest.raises(InputError, match="cannot form one ensemble"):
        load_ensemble([demo_model, ddi_demo_model])


@pytest.fixture(scope="module")
def panel(ddi_demo):
    """Two panel drugs of the drug–drug demo set, and three molecules to score against them."""
    mols = pd.read_csv(ddi_demo.dir / "molecules.csv")
    return (mols.iloc[:2].rename(columns={"smiles": "value"}).assign(name=["Alpha", "Beta"]),
            mols.iloc[2:5].assign(name=["m1", "m2", "m3"]))


def test_drug_drug_scores_come_both_ways_round(ddi_demo_model, panel):
    """Ordered pairs of two molecules: each molecule is scored as the first drug and as the second; the second
    order gives what scoring the panel against the molecules gives; the top classes with their sentences."""
    partners, mols = panel
    scores, rejects = score_pairs(mols, [ddi_demo_model], partners=partners, top_k=2)
    assert rejects.empty and len(scores) == 3 * 2 * 2 * 2  # molecules x partners x orders x classes
    assert set(scores["order"]) == {"molecule → partner", "partner → molecule"}
    assert scores["score"].between(0, 1).all() and scores["low"].le(scores["score"]).all()
    for _, g in scores.groupby(["molecule", "partner", "order"]):
        assert g.sort_values("rank")["score"].is_monotonic_decreasing and sorted(g["rank"]) == [1, 2]
    assert not scores["description"].str.contains("#Drug").any()
    sentence = {r[0]: SYNTHETIC + r[3] for r in RULES}  # the demo's sentences say they are synthetic
    names = {**dict(zip(partners["id"], partners["name"])), **dict(zip(mols["id"], mols["name"]))}
    for _, row in scores.iterrows():  # '#Drug1' is the first drug of the order, '#Drug2' the second
        first, second = (row["molecule"], row["partner"])[:: 1 if row["order"] == "molecule → partner" else -1]
        assert row["description"] == sentence[row["class"]].replace("#Drug1", names[first]).replace(
            "#Drug2", names[second])
    swapped, _ = score_pairs(partners.rename(columns={"value": "smiles"}), [ddi_demo_model],
                             partners=mols.rename(columns={"smiles": "value"}), top_k=2)
    back = scores[scores["order"] == "partner → molecule"].set_index(["partner", "molecule", "rank"])
    fwd = swapped[swapped["order"] == "molecule → partner"].set_index(["molecule", "partner", "rank"])
    back.index.names = fwd.index.names
    fwd = fwd.loc[back.index]
    assert back["class"].tolist() == fwd["class"].tolist()
    assert np.allclose(back["score"].to_numpy(), fwd["score"].to_numpy(), atol=1e-6)


def test_a_multiclass_shard_scores_the_most_likely_class(tmp_path, ddi_demo_model, panel):
    partners, mols = panel
    lib = tmp_path / "lib.smi"
    lib.write_text("".join(f"{s} {i}\n" for i, s in zip(mols["id"], mols["smiles"])))
    stats = score_shard([ddi_demo_model], library=lib, targets=partners[["id", "value"]],
                        out_scores=tmp_path / "s.arrow", out_rejects=tmp_path / "r.parquet",
                        out_stats=tmp_path / "s.json")
    assert stats["task"]["label"] == "multiclass" and stats["pairs"] == 6
    shard = pd.read_feather(tmp_path / "s.arrow").sort_values(["target_id", "id"]).reset_index(drop=True)
    api, _ = score_pairs(mols, [ddi_demo_model], partners=partners, top_k=1)
    api = api[api["order"] == "molecule → partner"].sort_values(["partner", "molecule"]).reset_index(drop=True)
    assert shard["class"].tolist() == api["class"].tolist()
    assert np.array_equal(shard["score_mean"].to_numpy(np.float32), api["score"].to_numpy(np.float32))


def test_gather_ranks_like_a_global_sort(tmp_path, library, demo_model):
    summary = score_library(library, [demo_model], tmp_path / "screen", chunk_size=70, workers=1, top_k=10,
                            store=tmp_path / "store")
    assert summary["shards"] == 5 and summary["task"]["task"] == "dti"
    assert summary["records"] == 301 and summary["kept"] + summary["rejected"] == 301
    allrows = pd.concat([pd.read_feather(p) for p in sorted((tmp_path / "screen" / "shards").glob("*.scores.arrow"))])
    for t, g in allrows.groupby("target_id"):
        ranked = pd.read_parquet(tmp_path / "screen" / "ranked" / f"{t}.parquet")
        assert ranked["rank"].tolist() == list(range(1, len(g) + 1))
        assert np.array_equal(ranked["score_mean"].to_numpy(), np.sort(g["score_mean"].to_numpy())[::-1])
    topk = pd.read_csv(tmp_path / "screen" / "topk.tsv", sep="\t")
    assert topk.groupby("target_id").size().tolist() == [10, 10]
    inside = pd.read_csv(tmp_path / "screen" / "topk_in_domain.tsv", sep="\t")
    assert not inside["ad_flag"].any()
    rej = pd.read_csv(tmp_path / "screen" / "rejects.tsv", sep="\t")
    assert "bad1" in set(rej["id"]) and rej.loc[rej["id"] == "bad1", "stage"].item() == "parse"


def test_parallel_workers_give_the_same_ranking(tmp_path, library, demo_model):
    one = score_library(library, [demo_model], tmp_path / "one", chunk_size=100, workers=1)
    two = score_library(library, [demo_model], tmp_path / "two", chunk_size=100, workers=2)
    assert one["pairs"] == two["pairs"]
    for t in (x["id"] for x in one["targets"]):
        a = pd.read_parquet(tmp_path / "one" / "ranked" / f"{t}.parquet")
        b = pd.read_parquet(tmp_path / "two" / "ranked" / f"{t}.parquet")
        assert a.equals(b)


def test_merge_sorted_batches_matches_a_row_by_row_merge():
    """The vectorized k-way merge gives heapq.merge's order, ties included, whatever the batching, the rows
    kept pending per source and the cap on a round's rows."""
    import heapq

    import pyarrow as pa

    from theraflow.pairs.screen import merge_sorted_batches

    rng = np.random.default_rng(3)
    for trial in range(60):
        shards = []
        for s in range(int(rng.integers(1, 6))):
            n = int(rng.integers(0, 40))
            # few distinct values: long runs of ties inside and across shards
            keys = np.sort(rng.integers(0, 4 if trial % 2 else 1000, n).astype(np.float32))[::-1]
            shards.append(pa.table({"id": [f"s{s}r{i}" for i in range(n)], "score_mean": keys}))

        def batches(table, size):
            return iter([table.slice(a, size) for a in range(0, table.num_rows, size)])

        size = int(rng.integers(1, 7))
        low, cap = int(rng.integers(1, 9)), int(rng.integers(1, 12))
        got = pa.concat_tables(list(merge_sorted_batches([batches(t, size) for t in shards], low_rows=low,
                                                         max_rows=cap)) or
                               [shards[0].slice(0, 0)])
        want = list(heapq.merge(*[zip(t["score_mean"].to_pylist(), t["id"].to_pylist()) for t in shards],
                                key=lambda r: -r[0]))
        assert got["id"].to_pylist() == [r[1] for r in want], trial


def test_peak_rss_is_the_process_own_not_its_parent():
    """A worker started by fork and exec inherits its parent's RSS in ru_maxrss; the reported peak is its own."""
    import subprocess
    import sys

    ballast = bytearray(800 << 20)  # the parent holds 800 MB when it starts the child
    ballast[::4096] = b"x" * len(ballast[::4096])
    code = "from theraflow.pairs.screen import peak_rss_mb; print(peak_rss_mb())"
    child = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True).stdout)
    del ballast
    assert 0 < child < 800, child


def test_gather_reads_shards_as_streams_or_by_footer_alike(tmp_path, monkeypatch):
    """Gather reads each shard front to back through one open stream; a shard past the open-files limit, or
    whose targets were written in another order, is read through its footer: the ranked tables are the same."""
    import builtins

    from theraflow.pairs import screen

    rng = np.random.default_rng(0)
    targets = ["T1", "T2", "T3"]
    files = []
    for s in range(4):
        m = int(rng.integers(300, 900))  # several record batches per target
        frames = [pd.DataFrame({"id": [f"s{s}m{i}" for i in range(m)], "smiles": "C", "target_id": t, "class": None,
                                "score_mean": rng.normal(size=m).astype(np.float32),
                                "score_std": np.float32(0.1), "ad_similarity": np.float32(0.5), "ad_flag": False})
                  for t in targets if not (s == 1 and t == "T2")]  # shard 1 has no row of T2
        if s == 3:  # targets written in reverse: read through the footer
            monkeypatch.setattr(screen, "sorted", lambda x: builtins.sorted(x, reverse=True), raising=False)
        screen._write_sorted_by_target(pd.concat(frames, ignore_index=True), tmp_path / f"{s}.scores.arrow", targets)
        monkeypatch.delattr(screen, "sorted", raising=False)
        files.append(tmp_path / f"{s}.scores.arrow")
    assert list(screen._shard_index(files[3]).groups) == ["T3", "T2", "T1"]
    allrows = pd.concat([pd.read_feather(p) for p in files])

    def ranked(out, limit=None):
        if limit is not None:
            monkeypatch.setattr(screen, "_open_files_limit", lambda wanted: limit)
        screen.gather_scores(files, tmp_path / out, top_k=5)
        return {t: pd.read_parquet(tmp_path / out / "ranked" / f"{t}.parquet") for t in targets}

    streams, mixed, footers = ranked("streams"), ranked("mixed", 2), ranked("footers", 0)
    for t in targets:
        want = allrows[allrows["target_id"] == t].sort_values("score_mean", ascending=False, kind="stable")
        assert streams[t]["id"].tolist() == want["id"].tolist()  # no ties: the global order
        assert streams[t].equals(mixed[t]) and streams[t].equals(footers[t])


def test_a_shard_shorter_than_its_metadata_is_named(tmp_path):
    import json

    import pyarrow as pa

    from theraflow.errors import InputError
    from theraflow.pairs import screen

    meta = {"format": 1, "targets": {"T1": [0, 3, 300]}, "lo": 0.0, "hi": 1.0}  # 3 batches listed, 1 written
    schema = pa.schema([("id", pa.string()), ("target_id", pa.string()), ("score_mean", pa.float32())],
                       metadata={screen.SHARD_META_KEY: json.dumps(meta).encode()})
    path = tmp_path / "0000.scores.arrow"
    with pa.ipc.new_file(str(path), schema) as w:
        w.write_batch(pa.record_batch([pa.array(["a"]), pa.array(["T1"]), pa.array([0.5], pa.float32())],
                                      schema=schema))
    with pytest.raises(InputError, match="0000.scores.arrow: the shard ends before"):
        screen.gather_scores([path], tmp_path / "out")


def test_merged_groups_gather_like_every_shard(tmp_path, monkeypatch):
    """A screen of more shards than one gather merges is merged in consecutive groups first: the ranked
    tables (ties included: they keep shard order, then row order) are those of one gather over every shard."""
    from theraflow.pairs import screen

    rng = np.random.default_rng(1)
    targets = ["T1", "T2"]
    files = []
    for s in range(5):
        m = int(rng.integers(200, 700))
        frames = [pd.DataFrame({"id": [f"s{s}{t}m{i}" for i in range(m)], "smiles": "C", "target_id": t,
                                "class": None, "score_mean": rng.integers(0, 20, size=m).astype(np.float32),
                                "score_std": np.float32(0.1), "ad_similarity": np.float32(0.5), "ad_flag": False})
                  for t in targets if not (s == 2 and t == "T1")]
        screen._write_sorted_by_target(pd.concat(frames, ignore_index=True), tmp_path / f"{s}.scores.arrow", targets)
        files.append(tmp_path / f"{s}.scores.arrow")
    flat = screen.gather_scores(files, tmp_path / "flat", top_k=5)
    assert flat["shards"] == 5 and "merge_groups" not in flat

    groups = screen.gather_groups(len(files), fan_in=2)
    assert groups == [range(0, 2), range(2, 3), range(3, 5)]
    assert sum(len(g) for g in groups) == 5 and screen.gather_groups(5, fan_in=5) == []
    merged, stats = [], []
    for k, g in enumerate(groups):
        st = screen.merge_shards([files[i] for i in g], tmp_path / f"g{k}.arrow", tmp_path / f"g{k}.json")
        assert st["rows"] == sum(len(pd.read_feather(files[i])) for i in g) and st["shards"] == len(g)
        index = screen._shard_index(tmp_path / f"g{k}.arrow")
        for t, (_, count) in index.groups.items():  # full batches but the last, as a shard is written
            assert count == -(-index.rows[t] // screen.SHARD_BATCH_ROWS)
        merged.append(tmp_path / f"g{k}.arrow")
        stats.append(tmp_path / f"g{k}.json")
    two = screen.gather_scores(merged, tmp_path / "two", top_k=5, merge_stats_files=stats)
    assert two["merge_groups"] == len(groups) and two["pairs"] == flat["pairs"] and len(two["merge_peak_rss_mb"]) == len(groups)
    for t in targets:
        a = pd.read_parquet(tmp_path / "flat" / "ranked" / f"{t}.parquet")
        b = pd.read_parquet(tmp_path / "two" / "ranked" / f"{t}.parquet")
        assert a.equals(b) and a["score_mean"].duplicated().any()  # ties, in the same order
    assert pd.read_csv(tmp_path / "flat" / "topk.tsv", sep="\t").equals(pd.read_csv(tmp_path / "two" / "topk.tsv", sep="\t"))
    with pytest.raises(InputError, match="no shard files"):
        screen.merge_shards([], tmp_path / "none.arrow")


def test_a_screen_of_many_shards_merges_groups_first(tmp_path, library, demo_model, monkeypatch):
    from theraflow.pairs import screen

    flat = score_library(library, [demo_model], tmp_path / "flat", chunk_size=70, store=tmp_path / "store")
    monkeypatch.setattr(screen, "GATHER_FAN_IN", 2)  # 5 shards: 3 groups
    tree = score_library(library, [demo_model], tmp_path / "tree", chunk_size=70, store=tmp_path / "store")
    assert tree["shards"] == flat["shards"] == 5 and tree["merge_groups"] == 3 and "merge_groups" not in flat
    assert not (tmp_path / "tree" / "merged").exists()  # the merged copies go once gathered
    for t in (x["id"] for x in flat["targets"]):
        assert pd.read_parquet(tmp_path / "flat" / "ranked" / f"{t}.parquet").equals(
            pd.read_parquet(tmp_path / "tree" / "ranked" / f"{t}.parquet"))
