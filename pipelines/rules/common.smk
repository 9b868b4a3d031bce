# Config validation, path helpers, input functions and wildcard constraints shared by
# every rules file. Logic lives in the theraflow package; rules call its CLI.
import shlex

from snakemake.utils import validate

validate(config, "../schemas/config.schema.yaml", set_default=True)

RESULTS = config["results"]
LOGS = "logs"
BENCH = "logs/benchmarks"
STORE = config["store"]


wildcard_constraints:
    lib="[A-Za-z][A-Za-z0-9_-]*",
    shard="[0-9]{4}",


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


def all_targets():
    targets = []
    for lib in config["molecules"]:
        targets.extend(
            [
                f"{RESULTS}/chem/{lib}/molecules.parquet",
                f"{RESULTS}/chem/{lib}/rejects.tsv",
                f"{RESULTS}/chem/{lib}/summary.json",
            ]
        )
    return targets


def shard_files(*kinds):
    """Input function: every shard's file of each kind (e.g. "standardized.parquet")."""

    def files(wildcards):
        return [
            f"{RESULTS}/chem/{wildcards.lib}/shards/{s}.{kind}" for kind in kinds for s in shard_ids(wildcards.lib)
        ]

    return files
