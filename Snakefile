# theraflow workflow. Config says what to run (config/*.yaml, validated against
# pipelines/schemas/config.schema.yaml); profiles say how (profiles/default, profiles/slurm).
from snakemake.utils import min_version

min_version("9.0")


# The embedded default run (the offline NCI demo) applies only when no --configfile
# or --config is given: Snakemake merges config files, and a user's config must not
# inherit the demo's molecule sets.
if not config:

    configfile: f"{workflow.basedir}/config/config.yaml"


include: "pipelines/rules/common.smk"
include: "pipelines/rules/chem.smk"
include: "pipelines/rules/download.smk"
include: "pipelines/rules/pairs.smk"
include: "pipelines/rules/score.smk"
include: "pipelines/rules/imaging.smk"
include: "pipelines/rules/federated.smk"


rule all:
    input:
        all_targets(),
    default_target: True
