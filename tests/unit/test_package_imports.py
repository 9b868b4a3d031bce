"""No import cycle anywhere in theraflow: every module under src/theraflow, module- and function-level
imports included (the graph and cycle finder are those of tests/unit/chem/test_import_graph.py)."""

from __future__ import annotations

from pathlib import Path

from tests.unit.chem import test_import_graph as graph_tools

SRC = Path(__file__).resolve().parents[2] / "src" / "theraflow"


def _name(path: Path, root: Path = SRC) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_the_whole_package_has_no_import_cycle(monkeypatch):
    monkeypatch.setattr(graph_tools, "PREFIX", "theraflow")
    monkeypatch.setattr(graph_tools, "_module_name", _name)
    graph = graph_tools.import_graph(SRC)
    assert len(graph) > 100  # every module was read
    # the engine's function-level imports are edges too
    assert "theraflow.pairs.train" in graph["theraflow.pairs.stages"]
    cycle = graph_tools.find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def _in_a_fresh_process(code: str) -> None:
    """Run ``code`` in a new interpreter (nothing imported yet) and fail with its stderr if it fails."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_the_light_modules_import_only_declarations():
    """The modules the CLI reads to list names import no numpy, pandas, RDKit, torch (nor modules that do)."""
    _in_a_fresh_process("import sys\n"
            "from theraflow.cli.main import build_parser\n"
            "build_parser()\n"
            "heavy = {'torch', 'rdkit', 'monai', 'matplotlib', 'pytorch_lightning', 'sklearn'} & set(sys.modules)\n"
            "assert not heavy, sorted(heavy)\n")


def test_the_light_stages_do_not_load_torch_or_monai():
    """Each Snakemake job is a new process: a stage that lists files, counts, gathers or writes a report must
    not pay for importing torch (~3 s) or MONAI (~8 s) — the imaging package loads its stages on first use."""
    _in_a_fresh_process("import sys\n"
            "from theraflow import imaging\n"
            "imaging.make_datalist, imaging.measure, imaging.overlays, imaging.build_report\n"
            "import theraflow.pairs.screen, theraflow.pairs.stages, theraflow.pairs.splits, theraflow.cli.score\n"
            "heavy = {'torch', 'monai', 'pytorch_lightning', 'torch_geometric'} & set(sys.modules)\n"
            "assert not heavy, sorted(heavy)\n"
            "assert callable(imaging.train) and 'monai' in sys.modules\n"  # and the heavy ones load when asked
            # a stage named like its module stays the function once the module is imported (report imports
            # theraflow.imaging.measure; training imports preprocess)
            "import theraflow.imaging.report, theraflow.imaging.preprocess, theraflow.imaging.overlays\n"
            "import types\n"
            "for name in ('measure', 'overlays', 'preprocess', 'train'):\n"
            "    assert callable(getattr(imaging, name)) and not isinstance(getattr(imaging, name), types.ModuleType)\n")
