"""The theraflow CLI: stages end to end, and errors as messages (exit 2), not tracebacks."""

import json
import subprocess
import sys

import pandas as pd


def run(cmd, cwd, check=True):
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_standardize_featurize_store(tmp_path, theraflow_cmd, nci_smi):
    tf = theraflow_cmd + ["--no-progress"]
    run(tf + ["standardize", str(nci_smi), "--shard", "1/5", "-o", "s.parquet", "--rejects", "r.tsv",
              "--stats", "s.json"], tmp_path)
    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats["records"] == 1000 and stats["kept"] + stats["rejected"] == 1000
    kept = pd.read_parquet(tmp_path / "s.parquet")
    assert kept["record"].between(1001, 2000).all()
    run(tf + ["featurize", "s.parquet", "-o", "f.parquet", "--rejects", "fr.tsv", "--store", "st",
              "--featurizer", "deepchem", "--param", "use_chirality=true", "--stats", "f.json"], tmp_path)
    f = json.loads((tmp_path / "f.json").read_text())
    assert f["featurized"] == stats["kept"] and f["misses"] > 0
    out = run(tf + ["store", "stats", "--store", "st", "--json"], tmp_path).stdout
    (row,) = json.loads(out)
    assert row["featurizer"] == "deepchem" and json.loads(row["params"])["use_chirality"] is True
    assert "all intact" in run(tf + ["store", "verify", "--store", "st"], tmp_path).stdout
    report = json.loads(run(tf + ["store", "gc", "--store", "st", "--compact"], tmp_path).stdout)
    assert report["tmp_removed"] == 0


def test_verify_exit_code_on_corruption(tmp_path, theraflow_cmd):
    from theraflow.chem import featurize

    featurize(["CCO", "CCN"], "default", store=tmp_path / "st")
    (pack,) = (tmp_path / "st").rglob("*.safetensors")
    pack.write_bytes(pack.read_bytes()[:-3])
    proc = run(theraflow_cmd + ["store", "verify", "--store", "st"], tmp_path, check=False)
    assert proc.returncode == 1 and "CORRUPT" in proc.stdout
    proc = run(theraflow_cmd + ["store", "verify", "--store", "st", "--repair"], tmp_path, check=False)
    assert "moved to quarantine" in proc.stdout
    assert run(theraflow_cmd + ["store", "verify", "--store", "st"], tmp_path).returncode == 0


def test_errors_are_messages_not_tracebacks(tmp_path, theraflow_cmd):
    (tmp_path / "m.csv").write_text("id,structure\na,CCO\n")
    cases = [
        ["standardize", "m.csv", "-o", "o.parquet", "--rejects", "r.tsv"],
        ["standardize", "missing.smi", "-o", "o.parquet", "--rejects", "r.tsv"],
        ["standardize", "m.csv", "--shard", "x", "-o", "o.parquet", "--rejects", "r.tsv"],
        ["featurize", "o.parquet", "-o", "f.parquet", "--rejects", "r.tsv", "--store", "s", "--featurizer", "nope"],
        ["store", "stats", "--store", "does-not-exist"],
        ["summary", "nothing-here"],
    ]
    (tmp_path / "o.parquet").write_bytes(b"")
    pd.DataFrame({"id": ["a"], "record": [1], "smiles": ["CCO"]}).to_parquet(tmp_path / "o.parquet")
    for args in cases:
        proc = run(theraflow_cmd + args, tmp_path, check=False)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "Traceback" not in proc.stderr, (args, proc.stderr)
        # one error line (argparse prints the usage above it for an option it rejects itself)
        last = proc.stderr.strip().splitlines()[-1]
        assert last.startswith(f"theraflow {args[0]}: error:"), (args, proc.stderr)
        if not proc.stderr.startswith("usage:"):
            assert proc.stderr.startswith(f"theraflow {args[0]}: error:"), (args, proc.stderr)
    assert not (tmp_path / "f.parquet").exists()


def test_choices_come_from_the_registries():
    """--featurizer lists the modules of theraflow.chem.featurizers, --format the formats declared in
    theraflow.chem.formats: one list of names each, read by the CLI and the schemas alike."""
    from theraflow.cli.main import build_parser
    from theraflow.registry import FEATURIZERS, READERS

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices

    def choices(command, dest):
        return next(a for a in sub[command]._actions if a.dest == dest).choices

    assert choices("featurize", "featurizer") == FEATURIZERS.choices()
    assert {"default", "pyg", "deepchem"} <= set(FEATURIZERS.choices())
    assert choices("standardize", "format") == READERS.choices()
    assert set(READERS.choices()) == {"smi", "csv", "tsv", "parquet", "sdf"}


def test_help_lists_commands(theraflow_cmd):
    out = subprocess.run(theraflow_cmd + ["--help"], capture_output=True, text=True).stdout
    for cmd in ("standardize", "featurize", "gather", "store", "summary"):
        assert cmd in out


def test_the_parser_loads_no_deep_learning_stack():
    """Every theraflow command builds the whole parser: it must not import torch, MONAI or Lightning (a chemistry
    job, a --help or a SLURM job's start would pay seconds for them; 3.4 s when the seg parser imported MONAI)."""
    code = ("import sys; from theraflow.cli.main import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch', 'monai', 'lightning', 'rdkit', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out
