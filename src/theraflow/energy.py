"""What a run cost: time and estimated energy per workflow stage, and the energy of a training run.

**Stages.** Every rule has a ``benchmark:`` file, one per job, under the run's
``logs/benchmarks/<folder>/<stage>[.<wildcards>].tsv``: Snakemake writes the job's wall seconds (``s``) and
``cpu_time``, the CPU seconds of the job's processes. :func:`read_benchmarks` reads them and
:func:`stage_costs` sums them per stage, with an energy estimate per job.

A job's energy is estimated as codecarbon estimates a process on a machine without a power counter (its
CPU-load method, "process" tracking mode): the CPU model's thermal design power from codecarbon's table of CPU
models (× sockets), shared evenly between the machine's logical CPUs, times the job's CPU seconds:
``Wh = TDP × sockets / logical CPUs × cpu_time / 3600``. A CPU model missing from the table gets codecarbon's
default of 4 W per logical CPU. How far to trust it (:data:`CAVEATS`, printed with every figure):

- TDP is a design figure, not a measurement, and a CPU's power is not proportional to its load: read the
  figures as an order of magnitude, good for comparing stages and runs on the same machine;
- RAM, disks, GPUs, idle power and cooling are not counted;
- Snakemake samples CPU time (every 0.5 s for a job's first 30 s, then every 30 s): the last interval of a long
  job is missed, so CPU seconds and energy are lower bounds; a job that ended before its first sample (``NA``)
  counts its wall time as one CPU's;
- the CPU is that of the machine that reads the files (on a cluster, the login node, not the compute nodes).

Power counters (RAPL, NVML) measure a whole machine while jobs run side by side, so they cannot be split
between jobs afterwards: the stages use the TDP estimate even where a counter is readable.

**Training.** A training run is one long process: :class:`EnergyTracker` runs codecarbon's tracker beside it
(offline, process mode), which reads RAPL and NVML where they are readable and falls back to TDP × load; the
figure and the method go into the model card.
"""

from __future__ import annotations

import functools
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)

CAVEATS = ("an estimate, not a measurement: TDP × CPU time (read it as an order of magnitude); RAM, GPU, idle "
           "power and cooling not counted; Snakemake samples CPU time, so CPU s and Wh are lower bounds")
COLUMNS = ["stage", "jobs", "job_seconds", "cpu_seconds", "energy_wh"]


@dataclass(frozen=True)
class PowerModel:
    """Watts per busy logical CPU, and where the figure comes from."""

    cpu_model: str
    machine_watts: float  # TDP × sockets, or codecarbon's default per logical CPU × logical CPUs
    logical_cpus: int
    source: str
    counters: tuple[str, ...] = ()  # power counters readable here (not used for stages: see the module docstring)
    estimator: str = "codecarbon"

    @property
    def watts_per_cpu(self) -> float:
        return self.machine_watts / max(1, self.logical_cpus)

    def method(self) -> str:
        counters = (f"; {', '.join(self.counters)} readable here but machine-wide, not used per job" if self.counters
                    else "; no power counter readable here")
        return (f"energy {CAVEATS}. CPU power from {self.estimator}'s CPU-load method: {self.cpu_model}, "
                f"{self.machine_watts:g} W ({self.source}) over {self.logical_cpus} logical CPU(s) = "
                f"{self.watts_per_cpu:.3g} W per busy CPU{counters}")

    def as_dict(self) -> dict:
        return {"cpu_model": self.cpu_model, "machine_watts": self.machine_watts, "logical_cpus": self.logical_cpus,
                "watts_per_cpu": round(self.watts_per_cpu, 4), "source": self.source, "counters": list(self.counters),
                "estimator": self.estimator, "method": self.method()}


@functools.cache
def power_model() -> PowerModel:
    """This machine's power model from codecarbon's tables (detected once per process; its warnings silenced)."""
    from importlib import metadata

    import psutil

    cc_log = logging.getLogger("codecarbon")
    level = cc_log.level
    cc_log.setLevel(logging.ERROR)
    try:
        from codecarbon.core.cpu import DEFAULT_POWER_PER_CORE, TDP, is_rapl_available
        from codecarbon.core.util import count_physical_cpus, detect_cpu_model

        logical = int(psutil.cpu_count(logical=True) or 1)
        try:
            model = detect_cpu_model() or "unknown CPU"
        except Exception:  # cpuinfo cannot read this machine
            model = "unknown CPU"
        tdp = TDP.__new__(TDP)._get_cpu_power_from_registry(model) if model != "unknown CPU" else None
        if tdp:
            sockets = max(1, int(count_physical_cpus() or 1))
            watts = float(tdp) * sockets
            source = f"TDP {float(tdp):g} W × {sockets} socket(s), codecarbon's table"
        else:
            watts = float(DEFAULT_POWER_PER_CORE) * logical
            source = f"codecarbon's default of {DEFAULT_POWER_PER_CORE} W per logical CPU: this model is not in its table"
        counters = []
        try:
            if is_rapl_available():
                counters.append("RAPL")
        except Exception:
            pass
        if _nvml_readable():
            counters.append("NVML")
        version = metadata.version("codecarbon")
    finally:
        cc_log.setLevel(level)
    return PowerModel(model, watts, logical, source, tuple(counters), f"codecarbon {version}")


def _nvml_readable() -> bool:
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            return pynvml.nvmlDeviceGetCount() > 0
        finally:
            pynvml.nvmlShutdown()
    except Exception:
        return False


# ------------------------------------------------------------------------------------------------ stages
def read_benchmarks(folders: str | Path | Sequence[str | Path], *, root: str | Path | None = None,
                    exclude_stages: Sequence[str] = ()) -> tuple[pd.DataFrame, list[str]]:
    """One row per benchmark file under ``folders`` (searched recursively): ``where`` (its folder relative to
    ``root``, or the folder's name), ``stage`` (the file name up to its first dot), ``file``, ``wall_s``,
    ``cpu_s`` and ``cpu_sampled`` (False: the job ended before Snakemake's first sample; its wall time counts as
    one CPU's). Also the files that could not be read, each with the reason (they are not counted)."""
    folders = [Path(folders)] if isinstance(folders, (str, Path)) else [Path(f) for f in folders]
    rows, unread = [], []
    if root is None and folders:  # the folders' common parent: "score/demo", "chem/score_demo"
        root = os.path.commonpath([str(f.resolve().parent) for f in folders])
    base = Path(root).resolve() if root is not None else None
    for folder in folders:
        if not folder.is_dir():
            continue
        folder = folder.resolve()
        for f in sorted(folder.rglob("*.tsv")):
            stage = f.name.split(".", 1)[0]
            if stage in exclude_stages:
                continue
            try:
                df = pd.read_csv(f, sep="\t")
                if "s" not in df.columns or not len(df):
                    raise ValueError("no 's' column or no row: not a Snakemake benchmark file")
                wall = float(pd.to_numeric(df["s"], errors="raise").iloc[-1])  # the last repeat, if several
                cpu = pd.to_numeric(df["cpu_time"], errors="coerce").iloc[-1] if "cpu_time" in df else math.nan
            except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
                unread.append(f"{f}: {exc}")
                continue
            sampled = bool(pd.notna(cpu))
            try:
                where = f.parent.relative_to(base).as_posix()
            except ValueError:
                where = f.parent.name
            rows.append({"where": where, "stage": stage, "file": str(f), "wall_s": max(0.0, wall),
                         "cpu_s": max(0.0, float(cpu)) if sampled else max(0.0, wall), "cpu_sampled": sampled})
    cols = ["where", "stage", "file", "wall_s", "cpu_s", "cpu_sampled"]
    return pd.DataFrame(rows, columns=cols), unread


def stage_costs(jobs: pd.DataFrame, model: PowerModel | None = None) -> pd.DataFrame:
    """Jobs summed per stage (``where`` and stage, in the order first met): jobs, job seconds (wall time
    summed over jobs, not the run's elapsed time), CPU seconds and the energy estimate in Wh."""
    model = model or power_model()
    if not len(jobs):
        return pd.DataFrame(columns=COLUMNS)
    df = jobs.assign(label=jobs["where"] + " " + jobs["stage"])
    g = df.groupby("label", sort=False)
    out = pd.DataFrame({"stage": list(g.groups), "jobs": g.size().to_numpy(),
                        "job_seconds": g["wall_s"].sum().to_numpy(), "cpu_seconds": g["cpu_s"].sum().to_numpy()})
    out["energy_wh"] = out["cpu_seconds"] * model.watts_per_cpu / 3600.0
    return out


def totals(costs: pd.DataFrame) -> dict:
    """The run's totals: the sums of the per-stage figures."""
    return {"jobs": int(costs["jobs"].sum()) if len(costs) else 0,
            **{c: float(costs[c].sum()) if len(costs) else 0.0 for c in ("job_seconds", "cpu_seconds", "energy_wh")}}


def run_costs(folders: str | Path | Sequence[str | Path], *, root: str | Path | None = None,
              exclude_stages: Sequence[str] = ()) -> dict:
    """Everything a summary or a report shows: per-stage rows, totals, the method and any unreadable files."""
    jobs, unread = read_benchmarks(folders, root=root, exclude_stages=exclude_stages)
    model = power_model()
    costs = stage_costs(jobs, model)
    return {"stages": costs, "totals": totals(costs), "power": model, "unread": unread,
            "unsampled_jobs": int((~jobs["cpu_sampled"]).sum()) if len(jobs) else 0}


def _wh(x: float) -> str:
    return f"{x:.3g}" if x < 100 else f"{x:,.0f}"


def format_costs(costs: dict, title: str) -> str:
    """The text block of ``theraflow summary``: a row per stage, the total, the method."""
    stages, tot = costs["stages"], costs["totals"]
    width = max([len("total")] + [len(s) for s in stages["stage"]]) + 2
    lines = [title, f"  {'stage':<{width}}{'jobs':>6}{'job time s':>13}{'CPU s':>11}{'energy Wh':>12}"]
    for _, r in stages.iterrows():
        lines.append(f"  {r['stage']:<{width}}{int(r['jobs']):>6}{r['job_seconds']:>13.1f}{r['cpu_seconds']:>11.1f}"
                     f"{_wh(r['energy_wh']):>12}")
    lines.append(f"  {'total':<{width}}{tot['jobs']:>6}{tot['job_seconds']:>13.1f}{tot['cpu_seconds']:>11.1f}"
                 f"{_wh(tot['energy_wh']):>12}")
    lines.append(f"  {costs['power'].method()}")
    if costs["unsampled_jobs"]:
        lines.append(f"  {costs['unsampled_jobs']} job(s) ended before Snakemake's first CPU sample: their wall time "
                     "counts as one CPU's")
    for u in costs["unread"]:
        lines.append(f"  not counted, unreadable benchmark file: {u}")
    return "\n".join(lines)


def costs_html(costs: dict, *, training: Sequence[dict] = ()) -> str:
    """The report section: the per-stage table with its total, the method, and the training runs of the models
    the report's results come from (their model cards' figures)."""
    from theraflow.report.html import HtmlReport, esc

    stages = costs["stages"]
    if not len(stages) and not training:
        return "<p>No benchmark file of this run's stages was found: nothing to show.</p>"
    tot = costs["totals"]
    body = ""
    if len(stages):
        table = pd.concat([stages, pd.DataFrame([{"stage": "total", **tot}])], ignore_index=True)
        table = table.rename(columns={"job_seconds": "job time s (summed over jobs)", "cpu_seconds": "CPU s",
                                      "energy_wh": "energy Wh (estimated)"})
        table["jobs"] = table["jobs"].astype(int)
        body += HtmlReport.table(table, floatfmt="{:.3g}", row_class=[""] * len(stages) + ["total"])
    if training:
        def shown(v):
            return float(v) if v is not None else "—"

        tr = pd.DataFrame([{"model": t.get("model", ""), "train s": shown(t.get("seconds")),
                            "energy Wh": shown(t.get("energy_wh")), "method": t.get("method", "")} for t in training])
        body += "<h3>Training of the models used</h3>" + HtmlReport.table(tr, floatfmt="{:.3g}")
    body += f"<p class='muted'>{esc(costs['power'].method())}.</p>"
    if costs["unread"]:
        body += "<p>Not counted (unreadable benchmark files): " + esc("; ".join(costs["unread"])) + "</p>"
    return body


# ------------------------------------------------------------------------------------------------ training
class EnergyTracker:
    """codecarbon's tracker around one training run (offline, this process and its children); RAPL and NVML
    are read where readable, TDP × load otherwise. Never fails the run it measures: a tracker that cannot start
    or stop leaves ``result`` saying why."""

    def __init__(self) -> None:
        self.result: dict = {}
        self._tracker = None

    def __enter__(self) -> EnergyTracker:
        try:
            from codecarbon import OfflineEmissionsTracker

            logging.getLogger("codecarbon").setLevel(logging.ERROR)  # after its import, which sets its level
            self._tracker = OfflineEmissionsTracker(
                country_iso_code="USA",  # required offline; only the CO2 figure (not kept) depends on it
                tracking_mode="process", output_methods=[], log_level="error", measure_power_secs=15,
                allow_multiple_runs=True)
            self._tracker.start()
        except Exception as exc:  # no codecarbon, an unreadable machine: the run goes on without a figure
            self.result = {"energy_wh": None, "method": f"not measured: codecarbon could not start ({exc})"}
            self._tracker = None
        return self

    def __exit__(self, *exc) -> None:
        if self._tracker is None:
            return
        try:
            self._tracker.stop()
            data = self._tracker.final_emissions_data
            cpu_mode = _cpu_mode(self._tracker)
            self.result = {
                "energy_wh": round(float(data.energy_consumed) * 1000.0, 6),
                "cpu_wh": round(float(data.cpu_energy) * 1000.0, 6),
                "gpu_wh": round(float(data.gpu_energy) * 1000.0, 6),
                "ram_wh": round(float(data.ram_energy) * 1000.0, 6),
                "seconds": round(float(data.duration), 1),
                "method": f"codecarbon {data.codecarbon_version} tracker (process mode): CPU {cpu_mode}"
                          + (f", GPU {data.gpu_model} via NVML" if float(data.gpu_energy) > 0 else "")
                          + f"; {data.cpu_model}",
            }
        except Exception as exc:
            self.result = {"energy_wh": None, "method": f"not measured: codecarbon could not stop ({exc})"}


def _cpu_mode(tracker) -> str:
    """How codecarbon's tracker read the CPU's power: RAPL (measured), or TDP × load (an estimate)."""
    modes = [str(getattr(h, "_mode", "")) for h in getattr(tracker, "_hardware", []) if type(h).__name__ == "CPU"]
    mode = modes[0] if modes else ""
    if "rapl" in mode.lower():
        return "measured by RAPL"
    if mode == "cpu_load":
        return "estimated from CPU load × TDP"
    return f"estimated ({mode or 'TDP'})"
