"""The workflow's plan, as tested library code: what ``pipelines/rules/*.smk`` need beyond rules.

:func:`validate_config` loads the config's plugins, validates the config against the schema (names from
the registries, defaults filled in) and checks what a schema cannot say — a data set name used by two
tasks, a source or split kind that does not serve its task, a table missing a column (only its header is
read) — each error naming the config file and the key.

:class:`Plan` turns the validated config into the targets of ``rule all`` and the arguments of each rule,
without changing the config and without reading any library or data file: a library's record count
comes from the ``score_count`` checkpoint (``results/score/<lib>/library.json``) once it has run.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

from theraflow.errors import InputError

DATASET_OUTPUTS = ("pairs.parquet", "molecules.csv", "classes.tsv", "folds.json", "rejects.tsv", "dataset.json")


def put_environment_first() -> str:
    """Put the bin directory of the Python running Snakemake first on PATH; returns it.

    Rules call the ``theraflow`` CLI by name. Started as ``.venv/bin/snakemake`` from a shell
    whose PATH lacks ``.venv/bin`` (or as a SLURM job's ``python -m snakemake``), the jobs
    must still find the theraflow of that environment, not another one or none.
    """
    bindir = os.path.dirname(sys.executable)
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if not parts or parts[0] != bindir:
        os.environ["PATH"] = os.pathsep.join([bindir, *(p for p in parts if p and p != bindir)])
    return bindir


def _q(args) -> str:
    return " ".join(shlex.quote(str(a)) for a in args)


# ------------------------------------------------------------------------------------------------ validation
def validate_config(config: dict, schema_path: str | Path, sources: list[str] | tuple[str, ...] = ()) -> dict:
    """The config validated (a copy with defaults filled in); see the module docstring."""
    from theraflow.registry import load_plugins
    from theraflow.schemas import load_schema, validate

    where = ", ".join(map(str, sources)) or "--config values"
    try:
        load_plugins(list(config.get("plugins") or []))
    except Exception as exc:
        raise InputError(f"invalid config ({where}): plugins: {exc}") from None
    try:
        cfg = validate(config, load_schema(schema_path), where=f"invalid config ({where})")
    except InputError:
        raise
    check_config(cfg, where)
    return cfg


def check_config(cfg: dict, where: str) -> None:
    """What the schema cannot say (see the module docstring)."""
    from theraflow.pairs.split_kinds import not_applicable
    from theraflow.registry import SOURCES, TASKS

    seen: dict[str, str] = {}
    for task_name in TASKS.names():
        section = cfg.get(task_name) or {}
        task = TASKS.get(task_name)
        for ds, d in (section.get("datasets") or {}).items():
            key = f"{task_name}.datasets.{ds}"
            if ds in seen:
                raise InputError(f"invalid config ({where}): {key}: the name {ds!r} is used by {seen[ds]} too; "
                                 "name them apart (their files share results/ and data/raw/)")
            seen[ds] = task_name
            source = SOURCES.get(d["source"])
            if not source.serves(task_name):
                raise InputError(f"invalid config ({where}): {key}.source: {d['source']} reads "
                                 f"{', '.join(source.tasks)} data, not {task_name}")
            if d.get("label") and d["label"] not in task.labels:
                raise InputError(f"invalid config ({where}): {key}.label: task {task_name} takes "
                                 f"{', '.join(task.labels)} labels")
            if source.needs_path and not d.get("path") and not d.get("download"):
                raise InputError(f"invalid config ({where}): {key}.path: source {d['source']} needs a path "
                                 "(or a download)")
            if d["source"] == "table":
                _check_table(task, d, f"invalid config ({where}): {key}")
            for sp in section.get("splits") or []:
                why = not_applicable(task, sp["kind"], has_given=bool(d.get("parts") or d.get("split_column"))
                                     if sp["kind"] == "given" else None)
                if why:
                    raise InputError(f"invalid config ({where}): {task_name}.splits: {why} (data set {ds})")
    imaging_sets = sorted((cfg.get("imaging") or {}).get("datasets") or {})
    for name, f in (cfg.get("federated") or {}).items():
        if f["dataset"] not in imaging_sets:
            raise InputError(f"invalid config ({where}): federated.{name}.dataset: {f['dataset']!r} is not an imaging "
                             f"dataset of this config (imaging.datasets: {', '.join(imaging_sets) or 'none'})")


def _check_table(task, d: dict, where: str) -> None:
    """A table's header names every column the task needs (only the header is read)."""
    from theraflow.pairs.sources.table import columns_needed
    from theraflow.pairs.tables import read_header

    files = list((d.get("parts") or {}).values()) or ([d["path"]] if d.get("path") else [])
    if not files:
        raise InputError(f"{where}: source table needs path or parts")
    for f in files:
        path = Path(expand_path(f))
        if not path.exists():
            raise InputError(f"{where}: {path}: file not found")
        try:
            columns_needed(task, d, read_header(path), path)
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None


def expand_path(path: str) -> str:
    """Config paths may start with {rdkit_data} or {rdkit_contrib} (RDKit's bundled files)."""
    if "{rdkit_" not in path:
        return path
    from rdkit import RDConfig

    return path.replace("{rdkit_data}", RDConfig.RDDataDir).replace("{rdkit_contrib}", RDConfig.RDContribDir)


# ------------------------------------------------------------------------------------------------ the plan
class Plan:
    """Targets and rule arguments of a validated config (see the module docstring)."""

    def __init__(self, config: dict, basedir: str | Path = ".", configfiles=()) -> None:
        from theraflow.registry import TASKS

        self.config = config
        self.basedir = str(basedir)
        self.configfiles = [str(c) for c in configfiles]
        self.results = config["results"]
        self.store = config["store"]
        # a run's logs and per-rule timings live with its results, so two configs with their own results
        # folders never overwrite each other's logs
        self.logs = f"{self.results}/logs"
        self.bench = f"{self.logs}/benchmarks"
        self.tasks = {t: config.get(t) or {} for t in TASKS.names()}
        self.datasets: dict[str, str] = {ds: t for t, sec in self.tasks.items() for ds in (sec.get("datasets") or {})}
        self.score = config["score"]
        self.pretrain = config.get("pretrain") or {}
        self.federated = config.get("federated") or {}
        self._pretrained: dict[str, list[str]] = {}  # model name -> the bundle files its config starts from
        self.molecule_sets = self._molecule_sets()

    # ---------------------------------------------------------------- the CLI
    @property
    def cli(self) -> str:
        """How rules call theraflow: no progress bars, the config's plugins loaded first."""
        plugins = " ".join(f"--plugin {shlex.quote(str(Path(p).resolve()))}" for p in self.config.get("plugins") or [])
        return f"theraflow --no-progress {plugins}".rstrip()

    # ---------------------------------------------------------------- molecule sets
    def _molecule_sets(self) -> dict[str, dict]:
        sets = {name: dict(m) for name, m in (self.config.get("molecules") or {}).items()}
        for ds, task in self.datasets.items():  # each pair data set's molecules, as a set of their own
            sets.setdefault(f"{task}_{ds}", {"path": f"{self.results}/{task}/{ds}/molecules.csv", "format": "csv",
                                            "shards": 1, "smiles_column": "smiles", "id_column": "id",
                                            "sdf_id_property": None})
        for lib, c in (self.score.get("libraries") or {}).items():  # shards from the score_count checkpoint
            sets.setdefault(f"score_{lib}", {"path": c["path"], "format": c.get("format"), "shards": None,
                                             "smiles_column": c["smiles_column"], "id_column": c["id_column"],
                                             "sdf_id_property": c["sdf_id_property"], "library": lib})
        return sets

    def molecule_set(self, name: str) -> dict:
        return self.molecule_sets[name]

    def molecule_path(self, name: str) -> str:
        return expand_path(self.molecule_set(name)["path"])

    def count_file(self, lib: str) -> str:
        return f"{self.results}/score/{lib}/library.json"

    def molecule_inputs(self, name: str) -> list[str]:
        m = self.molecule_set(name)
        return [self.molecule_path(name)] + ([self.count_file(m["library"])] if m.get("library") else [])

    def n_shards(self, name: str) -> int:
        """Shards of a molecule set: fixed in the config, or (a scored library) from its count file."""
        m = self.molecule_set(name)
        if m.get("shards"):
            return int(m["shards"])
        return int(json.loads(Path(self.count_file(m["library"])).read_text())["shards"])

    def shard_ids(self, name: str) -> list[str]:
        return [f"{i:04d}" for i in range(self.n_shards(name))]

    def merge_groups(self, name: str) -> dict[str, list[str]]:
        """{group id: its shard ids} where a screen has more shards than one gather merges
        (theraflow.pairs.screen.gather_groups); empty otherwise."""
        from theraflow.pairs.screen import gather_groups

        ids = self.shard_ids(name)
        fan_in = self.score_library(name.removeprefix("score_")).get("gather_fan_in")  # None: gather's default
        return {f"{k:03d}": [ids[i] for i in g] for k, g in enumerate(gather_groups(len(ids), fan_in))}

    def index_dir(self, name: str) -> str:
        """Where a molecule set's library index is kept (theraflow.chem.library_index): made once per version of
        the file (by the score_count checkpoint for a scored library, else by the first shard job), read by every
        shard job so that each reads only its own records."""
        return f"{self.results}/chem/{name}/index"

    def read_args(self, name: str) -> str:
        """The reading options of a molecule set, its index folder included."""
        m = self.molecule_set(name)
        args = ["--smiles-column", m["smiles_column"], "--index-dir", self.index_dir(name)]
        for key in ("format", "id_column", "sdf_id_property"):
            if m.get(key):
                args += [f"--{key.replace('_', '-')}", m[key]]
        return _q(args)

    def standardize_args(self) -> str:
        s = self.config["standardize"]
        flags = [f"--{k.replace('_', '-')}" if s[k] else f"--no-{k.replace('_', '-')}"
                 for k in ("largest_fragment", "neutralize", "normalize", "canonical_tautomer", "require_carbon",
                           "inchikey")]
        return " ".join(flags + ["--max-heavy-atoms", str(s["max_heavy_atoms"]), "--min-heavy-atoms",
                                 str(s["min_heavy_atoms"])])

    def featurize_args(self) -> str:
        f = self.config["featurize"]
        args = ["--featurizer", f["featurizer"]]
        for key, value in sorted(f["params"].items()):
            args += ["--param", f"{key}={value}"]
        return _q(args)

    def model_config_path(self, model: str) -> str:
        """models/<name>/config.yaml of the working directory (your own models) or of theraflow."""
        local = f"models/{model}/config.yaml"
        return local if os.path.exists(local) else f"{self.basedir}/models/{model}/config.yaml"

    # ---------------------------------------------------------------- pretraining
    def pretrain_args(self, name: str) -> str:
        c = self.pretrain[name]
        args = (f"--objective {c['objective']} --encoder {shlex.quote(c['encoder'])} --hidden {int(c['hidden'])}"
                f" --layers {int(c['layers'])} --pool {shlex.quote(c['pool'])} --max-minutes {c['max_minutes']}"
                f" --threads {int(c['threads'])} --seed {int(c['seed'])} --store {shlex.quote(self.store)}")
        if c.get("max_molecules"):
            args += f" --max-molecules {int(c['max_molecules'])}"
        return args

    def pretrained_inputs(self, model: str) -> list[str]:
        """The bundle files a model config's encoders start from (``<encoder>.pretrained``), so that its training
        jobs wait for a bundle this workflow makes."""
        if model not in self._pretrained:  # asked once per training job: the config is read once per model
            from theraflow.pretrain import pretrained_option
            from theraflow.schemas import read_yaml_mapping

            cfg = read_yaml_mapping(Path(self.model_config_path(model)), "model config")
            options = [pretrained_option(v) for v in cfg.values() if isinstance(v, dict)]
            self._pretrained[model] = [f"{o[0]}/{n}" for o in options if o for n in ("model.safetensors", "model.json")]
        return self._pretrained[model]

    # ---------------------------------------------------------------- pair tasks
    def dataset(self, task: str, ds: str) -> dict:
        return self.tasks[task]["datasets"][ds]

    def split_names(self, task: str) -> list[str]:
        return [sp.get("name", sp["kind"]) for sp in self.tasks[task].get("splits") or []]

    def split(self, task: str, name: str) -> dict:
        for sp in self.tasks[task].get("splits") or []:
            if sp.get("name", sp["kind"]) == name:
                return sp
        raise ValueError(f"no split named {name!r} in config {task}.splits")

    def models(self, task: str) -> dict[str, list[int] | None]:
        """{model name: its own seeds or None}; no models listed: the task's default recipe."""
        from theraflow.registry import TASKS

        listed = self.tasks[task].get("models") or [TASKS.get(task).default_model]
        return {m: None for m in listed if isinstance(m, str)} | {
            m["name"]: m.get("seeds") for m in listed if isinstance(m, dict)}

    def seeds(self, task: str, split: str, model: str) -> list[int]:
        """A model's own seeds, else the split's, else the task's."""
        for seeds in (self.models(task)[model], self.split(task, split).get("seeds")):
            if seeds is not None:
                return list(seeds)
        return list(self.tasks[task]["seeds"])

    def run_dir(self, task: str, ds: str, split: str, model: str) -> str:
        return f"{self.results}/{task}/{ds}/{split}/{model}"

    def metrics_files(self, task: str, ds: str) -> list[str]:
        return [f"{self.run_dir(task, ds, split, model)}/seed{seed}/metrics.json"
                for split in self.split_names(task) for model in self.models(task)
                for seed in self.seeds(task, split, model)]

    def prediction_files(self, task: str, ds: str, split: str, model: str) -> list[str]:
        return [f"{self.run_dir(task, ds, split, model)}/seed{s}/predictions.parquet"
                for s in self.seeds(task, split, model)]

    def calibration_files(self, task: str, ds: str) -> list[str]:
        """Calibration (and its plot) of every (split, model) trained with two or more seeds — any label kind."""
        return [f"{self.run_dir(task, ds, split, model)}/{name}"
                for split in self.split_names(task) for model in self.models(task)
                if len(self.seeds(task, split, model)) > 1 for name in ("calibration.json", "calibration.png")]

    def source_path(self, task: str, ds: str) -> str:
        d = self.dataset(task, ds)
        if d["download"]:
            return d["path"] or f"data/raw/{ds}"
        return expand_path(d["path"]) if d["path"] else ""

    def dataset_inputs(self, task: str, ds: str) -> list[str]:
        d = self.dataset(task, ds)
        if d["download"]:
            return [f"{self.source_path(task, ds)}/download.json"]
        files = [expand_path(f) for _, f in sorted((d.get("parts") or {}).items())]
        if d["source"] == "table" and d.get("path"):
            files.append(expand_path(d["path"]))
        return files + ([d["drugs"]] if d.get("drugs") else [])

    def dataset_args(self, task: str, ds: str) -> str:
        d = self.dataset(task, ds)
        args = ["--source", d["source"], "--on-error", d["on_error"]]
        if self.source_path(task, ds):
            args += ["--path", self.source_path(task, ds)]
        for part, f in sorted((d.get("parts") or {}).items()):
            args += [f"--{part}", expand_path(f)]
        for key in ("split_column", "label", "threshold", "drugs"):
            if d.get(key) is not None:
                args += [f"--{key.replace('_', '-')}", d[key]]
        if d.get("classes"):
            args += ["--classes", *map(str, d["classes"])]
        if d["source"] == "deepdta":
            args += ["--dataset", d["dataset"], "--ligands", d["ligands"]]
        for field, column in sorted((d.get("columns") or {}).items()):
            args += ["--column", f"{field}={column}"]
        rep = d.get("replicates") or {}  # only what differs from the defaults the dataset stage has itself
        if rep.get("aggregate", "median") != "median":
            args += ["--replicates", rep["aggregate"]]
        if rep.get("max_spread", 1.0) != 1.0:
            args += ["--max-replicate-spread", "none" if rep["max_spread"] is None else rep["max_spread"]]
        return _q(args)

    def download_args(self, task: str, ds: str) -> str:
        d = self.dataset(task, ds)["download"]
        opts = " ".join(f"--{k.replace('_', '-')} {shlex.quote(str(v))}" for k, v in d.items()
                        if k in ("mirror", "base_url") and v)
        return opts + (" --trust-on-first-use" if d.get("trust_on_first_use") else "")

    def downloads(self) -> dict[str, tuple[str, dict]]:
        """{destination folder: (data set name, its download)} of every data set fetched first."""
        return {self.source_path(t, ds): (ds, self.dataset(t, ds)["download"])
                for ds, t in self.datasets.items() if self.dataset(t, ds)["download"]}

    def split_args(self, task: str, name: str) -> str:
        sp = self.split(task, name)
        args = ["--kind", sp["kind"], "--name", name, "--seed", sp["seed"], "--test-frac", sp["test_frac"],
                "--valid-frac", sp["valid_frac"]]
        if sp.get("valid_fold") is not None:
            args += ["--valid-fold", sp["valid_fold"]]
        return _q(args)

    def train_budget(self, task: str) -> str:
        m = self.tasks[task].get("max_minutes")
        return f"--max-minutes {m}" if m else ""

    def train_runtime(self, task: str) -> int:
        return int((self.tasks[task].get("max_minutes") or 60) * 1.5) + 10

    def evaluate_args(self, task: str) -> str:
        sec = self.tasks[task]
        extra = f" --binary-threshold {sec['binary_threshold']}" if sec.get("binary_threshold") is not None else ""
        return f"--bootstrap {sec['bootstrap']}{extra}"

    # ---------------------------------------------------------------- scoring
    def score_model_dirs(self) -> list[str]:
        s = self.score
        if s["model_dirs"]:
            return list(s["model_dirs"])
        m = s["model"]
        if m is None:
            if not s["libraries"]:
                return []
            raise InputError("score: set either score.model (trained here) or score.model_dirs")
        task = self.datasets.get(m["dataset"])
        if task is None:
            raise InputError(f"score.model.dataset: {m['dataset']!r} is no data set of this config")
        seeds = m.get("seeds") or self.seeds(task, m["split"], m["name"])
        return [f"{self.run_dir(task, m['dataset'], m['split'], m['name'])}/seed{s}" for s in seeds]

    def score_calibration_files(self) -> list[str]:
        """The scoring ensemble's calibration when it is an ensemble trained here with the seeds its split and
        model were trained with; [] otherwise (the report says so)."""
        m = self.score["model"]
        if self.score["model_dirs"] or m is None:
            return []
        task = self.datasets[m["dataset"]]
        trained = self.seeds(task, m["split"], m["name"])
        seeds = m.get("seeds") or trained
        if len(seeds) < 2 or list(seeds) != list(trained):
            return []
        return [f"{self.run_dir(task, m['dataset'], m['split'], m['name'])}/calibration.json"]

    def score_model_files(self) -> list[str]:
        return [f"{d}/{name}" for d in self.score_model_dirs() for name in ("model.safetensors", "model.json")]

    def score_library(self, lib: str) -> dict:
        return self.score["libraries"][lib]

    def count_args(self, lib: str) -> str:
        c = self.score_library(lib)
        return (f"--chunk-size {int(c['chunk_size'])} --max-shards {int(c['max_shards'])} "
                f"{self.read_args(f'score_{lib}')}")

    def score_shard_args(self) -> str:
        args = " ".join(f"--model {shlex.quote(d)}" for d in self.score_model_dirs())
        if self.score["targets"]:
            args += f" --targets {shlex.quote(self.score['targets'])}"
        first = self.score.get("first_pass")
        if first:
            args += (f" --first-pass {shlex.quote(expand_path(first['model']))}"
                     f" --first-pass-keep {float(first.get('keep', 0.1))}")
        return (f"{args} --store {shlex.quote(self.store)} --ad-threshold {self.score['ad_threshold']}"
                f" --engine {self.score['engine']}")

    def first_pass_files(self) -> list[str]:
        """The first-pass model's files (inputs of the shard jobs of a two-stage screen), or none."""
        first = self.score.get("first_pass")
        return [f"{expand_path(first['model'])}/{n}" for n in ("model.safetensors", "model.json")] if first else []

    def score_report_args(self, lib: str) -> str:
        args = " ".join(f"--model {shlex.quote(d)}" for d in self.score_model_dirs())
        args += f" --library {shlex.quote(expand_path(self.score_library(lib)['path']))}"
        if self.score["targets"]:
            args += f" --targets {shlex.quote(self.score['targets'])}"
        args += "".join(f" --config {shlex.quote(c)}" for c in self.configfiles[:1])
        # the benchmark files of the library's chemistry and scoring stages: time and energy in the report
        args += "".join(f" --benchmarks {shlex.quote(f'{self.bench}/{d}')}" for d in (f"chem/score_{lib}", f"score/{lib}"))
        return args + f" --grid-rows {self.score['grid_rows']} --ad-threshold {self.score['ad_threshold']}"

    # ---------------------------------------------------------------- imaging
    @property
    def imaging(self) -> dict:
        return self.config["imaging"]

    def imaging_set(self, ds: str) -> dict:
        return self.imaging["datasets"][ds]

    def imaging_inputs(self, ds: str) -> dict[str, str]:
        """Input files of a data set's datalist: generated, downloaded, a folder pair or a CSV."""
        d, data = self.imaging_set(ds), self.imaging["data"]
        if d["source"] == "synthetic":
            return {"images": f"{data}/{ds}/images", "labels": f"{data}/{ds}/labels"}
        if d["source"] == "msd":
            return {"images": f"{data}/{ds}/msd/images", "labels": f"{data}/{ds}/msd/labels"}
        if d["source"] == "csv":
            return {"csv": d["csv"]}
        return {"images": d["images"]} | ({"labels": d["labels"]} if d.get("labels") else {})

    def datalist_args(self, ds: str) -> str:
        inputs = self.imaging_inputs(ds)
        args = ["--csv", inputs["csv"]] if "csv" in inputs else ["--images", inputs["images"]]
        if "labels" in inputs:
            args += ["--labels", inputs["labels"]]
        d = self.imaging_set(ds)
        args += ["--label-values", *map(str, d["label_values"]), "--on-error", d["on_error"]]
        return _q(args)

    def synth_args(self, ds: str) -> str:
        s = self.imaging_set(ds)["synthetic"]
        return (f"--cases {int(s['cases'])} --size {' '.join(str(int(v)) for v in s['size'])}"
                f" --classes {int(s['classes'])} --seed {int(s['seed'])}")

    def imaging_model_config(self, ds: str) -> str:
        """The model config file; a relative path is looked up in the working directory, then in theraflow's."""
        path = self.imaging_set(ds)["model"]
        path = f"{path}/config.yaml" if not path.endswith((".yaml", ".yml")) else path
        if not os.path.isabs(path) and not os.path.exists(path):
            shipped = os.path.join(self.basedir, path)
            if os.path.exists(shipped):
                return shipped
        return path

    def overrides_args(self, ds: str) -> str:
        return " ".join(f"--set {shlex.quote(f'{k}={v}')}" for k, v in sorted(self.imaging_set(ds)["overrides"].items()))

    def imaging_split_args(self, ds: str) -> str:
        s = self.imaging_set(ds)["split"]
        args = ["--split-mode", s["mode"], "--split-order", s["order"], "--val-fraction", s["val_fraction"],
                "--folds", s["folds"], "--fold", s["fold"], "--split-seed", s["seed"]]
        if s.get("val_count") is not None:
            args += ["--val-count", s["val_count"]]
        return _q(args)

    # ---------------------------------------------------------------- federated segmentation
    def federated_sites_args(self, name: str) -> str:
        f = self.federated[name]
        args = ["--val-count", f["heldout"], "--seed", f["seed"]]
        for site in f["sites"] or []:
            args += ["--site", ",".join([str(site["share"]), *(f"{k}={site[k]}" for k in ("scale", "gamma", "noise")
                                                               if k in site)])]
        return _q(args)

    def federated_args(self, name: str) -> str:
        f = self.federated[name]
        args = ["--strategy", f["strategy"], "--rounds", f["rounds"], "--local-epochs", f["local_epochs"],
                "--round-timeout", f["round_timeout"], "--threads", f["threads"], "--seed", f["seed"]]
        if f.get("proximal_mu") is not None:
            args += ["--proximal-mu", f["proximal_mu"]]
        if f.get("min_sites"):
            args += ["--min-sites", f["min_sites"]]
        if f["evaluate_site_models"]:
            args.append("--evaluate-site-models")
        if f.get("keep_optimizer_state"):
            args.append("--keep-optimizer-state")
        if f.get("dp"):
            args += ["--dp-noise-multiplier", f["dp"]["noise_multiplier"], "--dp-clipping-norm",
                     f["dp"].get("clipping_norm", 1.0), "--dp-delta", f["dp"].get("delta", 1e-5)]
        return _q(args) + " " + self.overrides_args(f["dataset"])

    def federated_sites(self, name: str) -> int:
        return len(self.federated[name]["sites"] or [None] * 4)

    # ---------------------------------------------------------------- targets
    def targets(self) -> list[str]:
        out = [f"{self.results}/score/{lib}/{name}" for lib in self.score["libraries"]
               for name in ("report.html", "topk.html")]
        for ds, task in self.datasets.items():
            base = f"{self.results}/{task}/{ds}"
            if self.split_names(task):
                out += [f"{base}/metrics.tsv", f"{base}/metrics.png", *self.calibration_files(task, ds)]
            else:
                out.append(f"{base}/dataset.json")
        for name, m in self.molecule_sets.items():
            if m.get("library"):  # scored libraries are gathered by the score rules
                continue
            out += [f"{self.results}/chem/{name}/{f}" for f in ("molecules.parquet", "rejects.tsv", "summary.json")]
        out += [f"{self.results}/pretrain/{name}/card.md" for name in self.pretrain]
        imaging = self.config["imaging"]
        out += [f"{self.results}/imaging/{ds}/{name}" for ds in imaging["datasets"]
                for name in ("report.html", "measurements.tsv")]
        out += [f"{self.results}/federated/{name}/report.html" for name in self.federated]
        return out
