"""Time and estimated energy per stage (theraflow.energy): Snakemake benchmark files summed per stage, the
energy estimate from codecarbon's CPU table, the totals, and codecarbon's tracker around a training run."""

import math
import sys

import pytest

from theraflow import energy

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _bench(path, seconds, cpu):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{seconds}\t0:00:01\t100.0\t200.0\t90.0\t95.0\t1.0\t2.0\t50.0\t{cpu}\n")


@pytest.fixture
def no_counter(monkeypatch):
    """A machine with no power counter (RAPL unreadable, no NVML), like this VM."""
    import codecarbon.core.cpu as cc_cpu

    monkeypatch.setattr(cc_cpu, "is_rapl_available", lambda *a, **k: False)
    monkeypatch.setattr(energy, "_nvml_readable", lambda: False)
    energy.power_model.cache_clear()
    yield
    energy.power_model.cache_clear()


def test_power_model_without_a_counter_is_positive_and_names_its_method(no_counter):
    m = energy.power_model()
    assert m.counters == ()
    assert m.machine_watts > 0 and m.logical_cpus >= 1 and m.watts_per_cpu > 0
    text = m.method()
    assert "codecarbon" in text and "estimate" in text and "no power counter" in text
    assert m.cpu_model in text


def test_an_unknown_cpu_gets_codecarbons_default_per_cpu(no_counter, monkeypatch):
    import codecarbon.core.util as cc_util
    from codecarbon.core.cpu import DEFAULT_POWER_PER_CORE

    monkeypatch.setattr(cc_util, "detect_cpu_model", lambda: "Imaginary CPU 9000 that no table lists")
    m = energy.power_model()
    assert m.cpu_model.startswith("Imaginary") and "not in its table" in m.source
    assert m.watts_per_cpu == pytest.approx(DEFAULT_POWER_PER_CORE)


def test_stages_sum_their_jobs_and_the_total_sums_the_stages(tmp_path, no_counter):
    root = tmp_path / "logs" / "benchmarks"
    _bench(root / "chem" / "lib" / "standardize.0000.tsv", 10.0, 8.0)
    _bench(root / "chem" / "lib" / "standardize.0001.tsv", 12.0, 11.0)
    _bench(root / "score" / "lib" / "shard.0000.tsv", 30.0, 55.5)
    _bench(root / "score" / "lib" / "gather.tsv", 0.4, "NA")  # ended before Snakemake's first sample
    _bench(root / "score" / "lib" / "report.tsv", 5.0, 4.0)
    (root / "score" / "lib" / "broken.tsv").write_text("not\ta benchmark\n")
    costs = energy.run_costs(root, root=root)
    st = costs["stages"].set_index("stage")
    assert st.loc["chem/lib standardize", "jobs"] == 2
    assert st.loc["chem/lib standardize", "job_seconds"] == pytest.approx(22.0)
    assert st.loc["chem/lib standardize", "cpu_seconds"] == pytest.approx(19.0)
    assert st.loc["score/lib gather", "cpu_seconds"] == pytest.approx(0.4)  # wall time as one CPU's
    assert costs["unsampled_jobs"] == 1
    assert len(costs["unread"]) == 1 and "broken.tsv" in costs["unread"][0]
    w = energy.power_model().watts_per_cpu
    assert (costs["stages"]["energy_wh"] >= 0).all()
    assert st.loc["score/lib shard", "energy_wh"] == pytest.approx(55.5 * w / 3600)
    tot = costs["totals"]
    assert tot["jobs"] == 5
    for col in ("job_seconds", "cpu_seconds", "energy_wh"):
        assert tot[col] == pytest.approx(costs["stages"][col].sum())
    assert tot["cpu_seconds"] == pytest.approx(8 + 11 + 55.5 + 0.4 + 4)

    # a report leaves out its own stage (a file from the report's previous run)
    without = energy.run_costs([root / "chem" / "lib", root / "score" / "lib"], exclude_stages=("report",))
    assert "score/lib report" not in set(without["stages"]["stage"])
    assert "chem/lib standardize" in set(without["stages"]["stage"])  # named from the folders' common parent

    text = energy.format_costs(costs, "cost")
    total_line = next(line for line in text.splitlines() if line.strip().startswith("total"))
    assert f"{tot['cpu_seconds']:.1f}" in total_line and "codecarbon" in text and "unreadable" in text
    html = energy.costs_html(costs, training=[{"model": "seed0", "seconds": 12.0, "energy_wh": 0.01,
                                               "method": "codecarbon tracker"}])
    assert "class='total'" in html and "Training of the models used" in html and "codecarbon" in html


def test_no_benchmark_files_say_so(tmp_path, no_counter):
    costs = energy.run_costs(tmp_path / "absent")
    assert costs["totals"] == {"jobs": 0, "job_seconds": 0.0, "cpu_seconds": 0.0, "energy_wh": 0.0}
    assert "nothing to show" in energy.costs_html(costs)


def test_the_training_tracker_records_energy_without_a_counter(no_counter):
    with energy.EnergyTracker() as tracker:
        x = 0
        for i in range(2_000_000):
            x += i * i
    r = tracker.result
    assert r["energy_wh"] is not None and r["energy_wh"] >= 0 and not math.isnan(r["energy_wh"])
    assert r["cpu_wh"] >= 0 and r["seconds"] >= 0
    assert "codecarbon" in r["method"] and "CPU" in r["method"]


def test_the_tracker_never_fails_the_run_it_measures(monkeypatch):
    monkeypatch.setitem(sys.modules, "codecarbon", None)  # not installed
    with energy.EnergyTracker() as tracker:
        pass
    assert tracker.result["energy_wh"] is None and "not measured" in tracker.result["method"]
