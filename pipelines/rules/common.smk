# Config validation, the plan, input functions and wildcard constraints shared by every rules file.
# The logic lives in theraflow.workflow (tested library code); rules call the theraflow CLI.
import os
import shlex

from theraflow.errors import InputError
from theraflow.registry import TASKS
from theraflow.workflow import Plan, expand_path, put_environment_first, validate_config

try:
    _validated = validate_config(config, os.path.join(workflow.basedir, "pipelines/schemas/config.schema.yaml"),
                                 [str(f) for f in workflow.configfiles])
except InputError as exc:
    raise ValueError(str(exc)) from None
# rules call the theraflow CLI of the environment that runs Snakemake (no activated venv needed)
put_environment_first()

PLAN = Plan(_validated, workflow.basedir, workflow.configfiles)  # the config itself is left as given
TF = PLAN.cli  # "theraflow --no-progress" (and the config's plugins); rules take it as params.tf
RESULTS, LOGS, BENCH, STORE = PLAN.results, PLAN.logs, PLAN.bench, PLAN.store
IMG_DATA, IMG_CACHE = PLAN.imaging["data"], PLAN.imaging["cache"]
IMG_THREADS, IMG_GPUS = PLAN.imaging["threads"], PLAN.imaging["gpus"]


wildcard_constraints:
    task="|".join(TASKS.names()),
    lib="[A-Za-z][A-Za-z0-9_-]*",
    name="[A-Za-z][A-Za-z0-9_-]*",
    shard="[0-9]{4}",
    group="[0-9]{3}",
    ds="[A-Za-z][A-Za-z0-9_-]*",
    split="[A-Za-z][A-Za-z0-9_-]*",
    model="[A-Za-z][A-Za-z0-9_-]*",
    seed="[0-9]+",


# ---- input functions: paths from the plan ----------------------------------------------------------
def chem_inputs(wildcards):
    return PLAN.molecule_inputs(wildcards.lib)


def molecule_shard_files(*kinds):
    """Every shard's file of each kind (e.g. "standardized.parquet") of a molecule set; a scored library's
    shards are known once its score_count checkpoint has run."""

    def files(wildcards):
        m = PLAN.molecule_set(wildcards.lib)
        if m.get("library"):
            checkpoints.score_count.get(lib=m["library"])
        return [f"{RESULTS}/chem/{wildcards.lib}/shards/{s}.{kind}" for kind in kinds
                for s in PLAN.shard_ids(wildcards.lib)]

    return files


def score_shard_files(*kinds, chem=False):
    def files(wildcards):
        checkpoints.score_count.get(lib=wildcards.lib)
        where = f"chem/score_{wildcards.lib}" if chem else f"score/{wildcards.lib}"
        return [f"{RESULTS}/{where}/shards/{s}.{kind}" for kind in kinds
                for s in PLAN.shard_ids(f"score_{wildcards.lib}")]

    return files


def score_gather_files(kind):
    """What score_gather merges: the shards' score files, or score_merge's files of their groups (a screen
    of more shards than one gather merges), with the merge stats."""
    def files(wildcards):
        checkpoints.score_count.get(lib=wildcards.lib)
        groups = PLAN.merge_groups(f"score_{wildcards.lib}")
        if kind == "merge_stats":
            return [f"{RESULTS}/score/{wildcards.lib}/merged/{g}.stats.json" for g in groups]
        if groups:
            return [f"{RESULTS}/score/{wildcards.lib}/merged/{g}.scores.arrow" for g in groups]
        return [f"{RESULTS}/score/{wildcards.lib}/shards/{s}.scores.arrow"
                for s in PLAN.shard_ids(f"score_{wildcards.lib}")]

    return files


def score_group_files(wildcards):
    checkpoints.score_count.get(lib=wildcards.lib)
    ids = PLAN.merge_groups(f"score_{wildcards.lib}")[wildcards.group]
    return [f"{RESULTS}/score/{wildcards.lib}/shards/{s}.scores.arrow" for s in ids]


def dataset_inputs(wildcards):
    return PLAN.dataset_inputs(wildcards.task, wildcards.ds)


def model_config_path(wildcards):
    return PLAN.model_config_path(wildcards.model)


def all_targets():
    return PLAN.targets()
