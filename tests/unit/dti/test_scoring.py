"""Scoring: API == workflow shard path; ensemble statistics; gather; target handling."""

import numpy as np
import pandas as pd
import pytest

from theraflow.dti.scoring import load_ensemble, read_targets, score_smiles
from theraflow.dti.screen import score_library, score_shard
from theraflow.errors import InputError


@pytest.fixture(scope="module")
def library(tmp_path_factory, nci_smi):
    lines = [line for line in nci_smi.read_text().splitlines() if line.strip()][:300]
    p = tmp_path_factory.mktemp("lib") / "lib.smi"
    p.write_text("\n".join(lines) + "\nnot_a_smiles bad1\n\n")
    return p


def _key(df):
    return df.sort_values(["target_id", "id"]).reset_index(drop=True)


def test_api_equals_shard_paths(tmp_path, library, demo_ensemble):
    from theraflow.chem import read_molecules, standardize, standardize_file
    from theraflow.chem.standardize import StandardizeOptions

    records, _ = read_molecules(library)
    kept, _ = standardize(records, StandardizeOptions(inchikey=False))
    api, _ = score_smiles(kept[["id", "smiles"]], demo_ensemble, store=tmp_path / "store")

    # the CLI/run path: raw library shards (read + standardize inside the job), two shards
    score_shard(demo_ensemble, library=library, shard=0, chunk_size=200, store=tmp_path / "store",
                out_scores=tmp_path / "a.parquet", out_rejects=tmp_path / "a.rej.parquet", out_stats=tmp_path / "a.json")
    score_shard(demo_ensemble, library=library, shard=1, chunk_size=200, store=tmp_path / "store",
                out_scores=tmp_path / "b.parquet", out_rejects=tmp_path / "b.rej.parquet", out_stats=tmp_path / "b.json")
    raw = pd.concat([pd.read_parquet(tmp_path / "a.parquet"), pd.read_parquet(tmp_path / "b.parquet")])
    # the workflow path: a standardized shard table from the chemistry stage
    standardize_file(library, tmp_path / "std.parquet", tmp_path / "std.rej.parquet",
                     options=StandardizeOptions(inchikey=False))
    score_shard(demo_ensemble, standardized=tmp_path / "std.parquet", store=tmp_path / "store",
                out_scores=tmp_path / "c.parquet", out_rejects=tmp_path / "c.rej.parquet", out_stats=tmp_path / "c.json")
    wf = pd.read_parquet(tmp_path / "c.parquet")
    a, b, c = _key(api), _key(raw), _key(wf)
    assert len(a) == len(b) == len(c) == 2 * len(kept)
    for col in ("id", "smiles", "target_id", "ad_flag"):
        assert a[col].tolist() == b[col].tolist() == c[col].tolist()
    for col in ("score_mean", "score_std", "ad_similarity"):
        assert np.array_equal(a[col].to_numpy(np.float32), b[col].to_numpy(np.float32)), col
        assert np.array_equal(a[col].to_numpy(np.float32), c[col].to_numpy(np.float32)), col


def test_ensemble_mean_and_std(tmp_path, demo_ensemble):
    mols = pd.DataFrame({"id": ["a", "b"], "smiles": ["CCOc1ccccc1S(N)(=O)=O", "c1ccccc1"]})
    both, _ = score_smiles(mols, demo_ensemble, per_model=True)
    cols = [c for c in both if c.startswith("score[")]
    assert len(cols) == 2
    per = both[cols].to_numpy()
    assert np.allclose(both["score_mean"], per.mean(1), atol=1e-5)
    assert np.allclose(both["score_std"], per.std(1, ddof=1), atol=1e-5)
    single, _ = score_smiles(mols, demo_ensemble[:1])
    assert (single["score_std"] == 0).all()
    assert single["ad_similarity"].between(0, 1).all()


def test_targets_and_errors(tmp_path, demo_model):
    ens = load_ensemble([demo_model])
    fasta = tmp_path / "t.fasta"
    fasta.write_text(">MET c-Met kinase\nMKAPAVLAPG\nILVLLFTLVQ\n>CHEMBL2321810\nMSEQ\n")
    t = read_targets(fasta)
    assert t["target_id"].tolist() == ["MET", "CHEMBL2321810"] and t["sequence"].iloc[0] == "MKAPAVLAPGILVLLFTLVQ"
    assert ens.target_table(t)["target_id"].tolist() == ["MET", "CHEMBL2321810"]
    with pytest.raises(InputError, match="knows targets by id only"):
        ens.target_table(pd.DataFrame({"target_id": ["EGFR"]}))
    bad = tmp_path / "bad.fasta"
    bad.write_text("MKV\n>x\nMK\n")
    with pytest.raises(InputError, match="line 1: sequence before the first"):
        read_targets(bad)
    dup = tmp_path / "dup.tsv"
    dup.write_text("target_id\nA\nA\n")
    with pytest.raises(InputError, match="appears twice"):
        read_targets(dup)


def test_gather_ranks_like_a_global_sort(tmp_path, library, demo_model):
    summary = score_library(library, [demo_model], tmp_path / "screen", chunk_size=70, workers=1, top_k=10,
                            store=tmp_path / "store")
    assert summary["shards"] == 5
    assert summary["records"] == 301 and summary["kept"] + summary["rejected"] == 301
    allrows = pd.concat([pd.read_parquet(p) for p in sorted((tmp_path / "screen" / "shards").glob("*.scores.parquet"))])
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
    for t in one["targets"]:
        a = pd.read_parquet(tmp_path / "one" / "ranked" / f"{t}.parquet")
        b = pd.read_parquet(tmp_path / "two" / "ranked" / f"{t}.parquet")
        assert a.equals(b)


def test_merge_sorted_batches_matches_a_row_by_row_merge():
    """The vectorized k-way merge gives heapq.merge's order, ties included, whatever the batching."""
    import heapq

    import pyarrow as pa

    from theraflow.dti.screen import merge_sorted_batches

    rng = np.random.default_rng(3)
    for trial in range(30):
        shards = []
        for s in range(int(rng.integers(1, 6))):
            n = int(rng.integers(0, 40))
            # few distinct values: long runs of ties inside and across shards
            keys = np.sort(rng.integers(0, 4 if trial % 2 else 1000, n).astype(np.float32))[::-1]
            shards.append(pa.table({"id": [f"s{s}r{i}" for i in range(n)], "score_mean": keys}))

        def batches(table, size):
            return iter([table.slice(a, size) for a in range(0, table.num_rows, size)])

        size = int(rng.integers(1, 7))
        got = pa.concat_tables(list(merge_sorted_batches([batches(t, size) for t in shards])) or
                               [shards[0].slice(0, 0)])
        want = list(heapq.merge(*[zip(t["score_mean"].to_pylist(), t["id"].to_pylist()) for t in shards],
                                key=lambda r: -r[0]))
        assert got["id"].to_pylist() == [r[1] for r in want], trial
