# Config validation, path helpers, input functions and wildcard constraints shared by
# every rules file. Logic lives in the theraflow package; rules call its CLI.
import os
import shlex

import jsonschema
import yaml
from snakemake.utils import validate

from theraflow.workflow import put_environment_first


def _config_error(cfg, schema_path, sources):
    """One line naming the config file(s), the key path and the problem (Snakemake's own
    message prints the whole schema and never the file); None if the schema finds nothing."""
    with open(schema_path) as fh:
        schema = yaml.safe_load(fh)
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(cfg))
    if error is None:
        return None
    where = ".".join(map(str, error.absolute_path)) or "(top level)"
    return f"invalid config ({', '.join(sources) or '--config values'}): {where}: {error.message}"


try:
    validate(config, "../schemas/config.schema.yaml", set_default=True)
except Exception:
    message = _config_error(config, os.path.join(workflow.basedir, "pipelines/schemas/config.schema.yaml"),
                            [str(f) for f in workflow.configfiles])
    if message is None:
        raise
    raise ValueError(message) from None

# rules call the theraflow CLI of the environment that runs Snakemake (no activated venv needed)
put_environment_first()

RESULTS = config["results"]
DTI = config["dti"]
DDI = config["ddi"]
SCORE = config["score"]
LOGS = "logs"
BENCH = "logs/benchmarks"
STORE = config["store"]


wildcard_constraints:
    lib="[A-Za-z][A-Za-z0-9_-]*",
    shard="[0-9]{4}",
    ds="[A-Za-z][A-Za-z0-9_-]*",
    split="[A-Za-z][A-Za-z0-9_-]*",
    model="[A-Za-z][A-Za-z0-9_-]*",
    seed="[0-9]+",


def _placeholders():
    from rdkit import RDConfig

    return {"rdkit_data": RDConfig.RDDataDir, "rdkit_contrib": RDConfig.RDContribDir}


def expand_path(path):
    """Config paths may start with {rdkit_data} or {rdkit_contrib} (RDKit's bundled files)."""
    out = path
    for key, value in _placeholders().items():
        out = out.replace(f"{{{key}}}", value)
    return out


def molecule_set(lib):
    return config["molecules"][lib]


def molecule_path(wildcards):
    return expand_path(molecule_set(wildcards.lib)["path"])


def shard_ids(lib):
    return [f"{i:04d}" for i in range(molecule_set(lib)["shards"])]


def read_args(lib):
    """CLI options that tell theraflow how to read a molecule set."""
    m = molecule_set(lib)
    args = ["--smiles-column", m["smiles_column"]]
    if m.get("format"):
        args.extend(["--format", m["format"]])
    if m.get("id_column"):
        args.extend(["--id-column", m["id_column"]])
    if m.get("sdf_id_property"):
        args.extend(["--sdf-id-property", m["sdf_id_property"]])
    return " ".join(shlex.quote(a) for a in args)


def standardize_args():
    s = config["standardize"]
    flags = []
    for key in ("largest_fragment", "neutralize", "normalize", "canonical_tautomer", "require_carbon", "inchikey"):
        name = key.replace("_", "-")
        flags.append(f"--{name}" if s[key] else f"--no-{name}")
    flags.extend(["--max-heavy-atoms", str(s["max_heavy_atoms"]), "--min-heavy-atoms", str(s["min_heavy_atoms"])])
    return " ".join(flags)


def featurize_args():
    f = config["featurize"]
    args = ["--featurizer", f["featurizer"]]
    for key, value in sorted(f["params"].items()):
        args.extend(["--param", f"{key}={value}"])
    return " ".join(shlex.quote(a) for a in args)


def model_config_path(wildcards):
    """models/<name>/config.yaml of the working directory (your own models) or of theraflow."""
    local = f"models/{wildcards.model}/config.yaml"
    return local if os.path.exists(local) else f"{workflow.basedir}/models/{wildcards.model}/config.yaml"


# ---- interaction tasks (dti, ddi): splits, models and seeds of config[task] ---------------------------
def task_split_names(task):
    return [sp.get("name", sp["kind"]) for sp in config[task]["splits"]]


def task_split(task, name):
    for sp in config[task]["splits"]:
        if sp.get("name", sp["kind"]) == name:
            return sp
    raise ValueError(f"no split named {name!r} in config {task}.splits")


def task_models(task):
    """{model name: its own seeds or None} from <task>.models (names, or {name, seeds} entries)."""
    models = config[task]["models"]
    return {m: None for m in models if isinstance(m, str)} | {
        m["name"]: m.get("seeds") for m in models if isinstance(m, dict)}


def task_seeds(task, split_name, model):
    """A model's own seeds, else the split's, else <task>.seeds."""
    for seeds in (task_models(task)[model], task_split(task, split_name)["seeds"]):
        if seeds is not None:
            return seeds
    return config[task]["seeds"]


def task_metrics_files(task, ds):
    return [
        f"{RESULTS}/{task}/{ds}/{split}/{model}/seed{seed}/metrics.json"
        for split in task_split_names(task)
        for model in task_models(task)
        for seed in task_seeds(task, split, model)
    ]


def task_split_args(task, name):
    sp = task_split(task, name)
    args = ["--kind", sp["kind"], "--name", name, "--seed", str(sp["seed"]), "--test-frac", str(sp["test_frac"]),
            "--valid-frac", str(sp["valid_frac"])]
    if sp.get("valid_fold") is not None:
        args.extend(["--valid-fold", str(sp["valid_fold"])])
    return " ".join(args)


def task_dataset(task, ds):
    return config[task]["datasets"][ds]


def task_of(ds):
    """The task (dti or ddi) a data set name belongs to (names are unique across tasks)."""
    return "dti" if ds in config["dti"]["datasets"] else "ddi"


_shared_names = set(config["dti"]["datasets"]) & set(config["ddi"]["datasets"])
if _shared_names:
    raise ValueError(f"invalid config: data set name(s) {', '.join(sorted(_shared_names))} used by both dti and ddi; "
                     "name them apart (their files share results/ and data/raw/)")


def task_source_path(task, ds):
    d = task_dataset(task, ds)
    if d["download"]:
        return d["path"] or f"data/raw/{ds}"
    return expand_path(d["path"]) if d["path"] else ""


def task_dataset_inputs(task):
    def inputs(wildcards):
        d = task_dataset(task, wildcards.ds)
        return [f"{task_source_path(task, wildcards.ds)}/download.json"] if d["download"] else []

    return inputs


def download_args(task, ds):
    d = task_dataset(task, ds)["download"]
    opts = " ".join(f"--{k.replace('_', '-')} {shlex.quote(str(v))}" for k, v in d.items()
                    if k in ("mirror", "base_url") and v)
    return opts + (" --trust-on-first-use" if d.get("trust_on_first_use") else "")


def dti_dataset_args(ds):
    d = task_dataset("dti", ds)
    args = ["--source", d["source"], "--dataset", d["dataset"], "--ligands", d["ligands"], "--on-error", d["on_error"]]
    if task_source_path("dti", ds):
        args.extend(["--path", task_source_path("dti", ds)])
    for field, column in sorted(d["columns"].items()):
        args.extend(["--column", f"{field}={column}"])
    return " ".join(shlex.quote(a) for a in args)


def ddi_dataset_args(ds):
    d = task_dataset("ddi", ds)
    args = ["--source", d["source"], "--on-error", d["on_error"]]
    if task_source_path("ddi", ds):
        args.extend(["--path", task_source_path("ddi", ds)])
    if d.get("drugs"):
        args.extend(["--drugs", d["drugs"]])
    if d.get("classes"):
        args.extend(["--classes", *map(str, d["classes"])])
    for field, column in sorted(d["columns"].items()):
        args.extend(["--column", f"{field}={column}"])
    return " ".join(shlex.quote(a) for a in args)


# Each DTI and DDI data set's drugs go through the chemistry stages as a molecule set of their own.
for _task, _ds in [("dti", d) for d in DTI["datasets"]] + [("ddi", d) for d in DDI["datasets"]]:
    config["molecules"].setdefault(
        f"{_task}_{_ds}",
        {
            "path": f"{RESULTS}/{_task}/{_ds}/drugs.csv",
            "format": "csv",
            "shards": 1,
            "smiles_column": "smiles",
            "id_column": "id",
            "sdf_id_property": None,
        },
    )


def record_count(path, lib_cfg):
    """Records in a library (cached on size and mtime: a rescan only when the file changes)."""
    import json

    from theraflow.chem.readers import count_records

    st = os.stat(path)
    key = f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}"
    cache_path = ".snakemake/theraflow/record_counts.json"
    cache = json.load(open(cache_path)) if os.path.exists(cache_path) else {}
    if key not in cache:
        opts = {k: lib_cfg.get(k) for k in ("format", "smiles_column", "id_column", "sdf_id_property")}
        cache[key] = count_records(path, **{k: v for k, v in opts.items() if v is not None})
        os.makedirs(os.path.dirname(cache_path), exist_ok=True)
        with open(cache_path, "w") as fh:
            json.dump(cache, fh)
    return cache[key]


def score_model_dirs():
    if SCORE["model_dirs"]:
        return SCORE["model_dirs"]
    m = SCORE["model"]
    if m is None:
        if not SCORE["libraries"]:
            return []  # nothing to score (a config without a score section)
        raise ValueError("score: set either score.model (trained here) or score.model_dirs")
    seeds = m.get("seeds") or DTI["seeds"]
    return [f"{RESULTS}/dti/{m['dataset']}/{m['split']}/{m['name']}/seed{s}" for s in seeds]


def dti_calibration_files(ds):
    """Calibration (and coverage plot) of every DTI (split, model) trained with two or more seeds."""
    return [
        f"{RESULTS}/dti/{ds}/{split}/{model}/{name}"
        for split in task_split_names("dti")
        for model in task_models("dti")
        if len(task_seeds("dti", split, model)) > 1
        for name in ("calibration.json", "coverage.png")
    ]


def score_calibration_file(wildcards=None):
    """The scoring ensemble's calibration, when it is an ensemble trained here (score.model, two or more
    seeds, the seeds its split and model were trained with); [] otherwise (the report says so)."""
    m = SCORE["model"]
    if SCORE["model_dirs"] or m is None:
        return []
    seeds = m.get("seeds") or DTI["seeds"]
    if len(seeds) < 2 or list(seeds) != list(task_seeds("dti", m["split"], m["name"])):
        return []
    return [f"{RESULTS}/dti/{m['dataset']}/{m['split']}/{m['name']}/calibration.json"]


def score_model_files(wildcards):
    files = []
    for d in score_model_dirs():
        files.extend([f"{d}/model.safetensors", f"{d}/model.json"])
    return files


def score_shards(lib):
    return [f"{i:04d}" for i in range(config["molecules"][f"score_{lib}"]["shards"])]


def score_shard_files(*kinds):
    def files(wildcards):
        return [f"{RESULTS}/score/{wildcards.lib}/shards/{s}.{kind}" for kind in kinds for s in score_shards(wildcards.lib)]

    return files


def score_chem_files(*kinds):
    def files(wildcards):
        return [
            f"{RESULTS}/chem/score_{wildcards.lib}/shards/{s}.{kind}" for kind in kinds for s in score_shards(wildcards.lib)
        ]

    return files


# Each library is standardized by the chemistry rules, as molecule set "score_<lib>", in
# shards of chunk_size records (the count is read once per file version).
SCORE_SETS = set()
for _lib, _cfg in SCORE["libraries"].items():
    _path = expand_path(_cfg["path"])
    _n = record_count(_path, _cfg) if os.path.exists(_path) else 1
    SCORE_SETS.add(f"score_{_lib}")
    config["molecules"].setdefault(
        f"score_{_lib}",
        {
            "path": _cfg["path"],
            "format": _cfg.get("format"),
            "shards": max(1, -(-_n // _cfg["chunk_size"])),
            "smiles_column": _cfg["smiles_column"],
            "id_column": _cfg["id_column"],
            "sdf_id_property": _cfg["sdf_id_property"],
        },
    )


def all_targets():
    targets = [f"{RESULTS}/score/{lib}/{name}" for lib in SCORE["libraries"] for name in ("report.html", "topk.html")]
    for task in ("dti", "ddi"):
        for ds in config[task]["datasets"]:
            if config[task]["splits"] and config[task]["models"]:
                targets.extend([f"{RESULTS}/{task}/{ds}/metrics.tsv", f"{RESULTS}/{task}/{ds}/metrics.png"])
                if task == "dti":
                    targets.extend(dti_calibration_files(ds))
            else:
                targets.append(f"{RESULTS}/{task}/{ds}/dataset.json")
    for lib in config["molecules"]:
        if lib in SCORE_SETS:  # scored libraries are gathered by the score rules
            continue
        targets.extend(
            [
                f"{RESULTS}/chem/{lib}/molecules.parquet",
                f"{RESULTS}/chem/{lib}/rejects.tsv",
                f"{RESULTS}/chem/{lib}/summary.json",
            ]
        )
    targets.extend(imaging_targets())  # imaging (defined at the end of this file)
    return targets


def shard_files(*kinds):
    """Input function: every shard's file of each kind (e.g. "standardized.parquet")."""

    def files(wildcards):
        return [
            f"{RESULTS}/chem/{wildcards.lib}/shards/{s}.{kind}" for kind in kinds for s in shard_ids(wildcards.lib)
        ]

    return files


# ---- imaging (theraflow seg): helpers for pipelines/rules/imaging.smk ---------------------------
IMAGING = config["imaging"]
IMG_CACHE = IMAGING["cache"]
IMG_DATA = IMAGING["data"]
IMG_THREADS = IMAGING["threads"]
IMG_GPUS = IMAGING["gpus"]


# the {ds} wildcard is constrained at the top of this file (shared with the dti rules)
def imaging_set(ds):
    return IMAGING["datasets"][ds]


def imaging_inputs(wildcards):
    """Input files of a dataset's datalist: generated, downloaded, a folder pair or a CSV."""
    d = imaging_set(wildcards.ds)
    if d["source"] == "synthetic":
        return {"images": f"{IMG_DATA}/{wildcards.ds}/images", "labels": f"{IMG_DATA}/{wildcards.ds}/labels"}
    if d["source"] == "msd":
        return {"images": f"{IMG_DATA}/{wildcards.ds}/msd/images", "labels": f"{IMG_DATA}/{wildcards.ds}/msd/labels"}
    if d["source"] == "csv":
        return {"csv": d["csv"]}
    out = {"images": d["images"]}
    if d.get("labels"):
        out["labels"] = d["labels"]
    return out


def datalist_source_args(ds, input):
    args = ["--csv", input.csv] if "csv" in input.keys() else ["--images", input.images]
    if "labels" in input.keys():
        args.extend(["--labels", input.labels])
    return " ".join(shlex.quote(a) for a in args)


def synth_args(ds):
    s = imaging_set(ds)["synthetic"]
    return (f"--cases {int(s['cases'])} --size {' '.join(str(int(v)) for v in s['size'])}"
            f" --classes {int(s['classes'])} --seed {int(s['seed'])}")


def imaging_model_config(ds):
    """The model config file; a relative path is looked up in the working directory, then in the repository."""
    path = imaging_set(ds)["model"]
    path = f"{path}/config.yaml" if not path.endswith((".yaml", ".yml")) else path
    if not os.path.isabs(path) and not os.path.exists(path):
        shipped = os.path.join(workflow.basedir, path)
        if os.path.exists(shipped):
            return shipped
    return path


def model_overrides_args(ds):
    items = sorted(imaging_set(ds)["overrides"].items())
    return " ".join(f"--set {shlex.quote(f'{k}={v}')}" for k, v in items)


def split_args(ds):
    s = imaging_set(ds)["split"]
    args = ["--split-mode", s["mode"], "--split-order", s["order"], "--val-fraction", str(s["val_fraction"]),
            "--folds", str(s["folds"]), "--fold", str(s["fold"]), "--split-seed", str(s["seed"])]
    if s.get("val_count") is not None:
        args.extend(["--val-count", str(s["val_count"])])
    return " ".join(shlex.quote(a) for a in args)


def imaging_targets():
    return [f"{RESULTS}/imaging/{ds}/{name}" for ds in IMAGING["datasets"]
            for name in ("report.html", "measurements.tsv")]
