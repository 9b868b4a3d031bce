"""Shared fixtures: paths to data shipped with RDKit, the repository, ../shared/data."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def pytest_configure(config):
    # CLI tests and workflow rules call `theraflow`/`snakemake`: use this interpreter's env.
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


# What a run of the workflow, the CLI or a benchmark leaves in the repository: no test may write
# there (each works in its own temporary directory), so that `make demo` before `make test`, or a
# second `make test`, cannot change a result. Checked over the whole session.
RUN_STATE = ("results", "logs", "resources", ".snakemake", "benchmarks/results")


def _run_state() -> dict[str, tuple[int, int]]:
    state = {}
    for top in RUN_STATE:
        for dirpath, dirnames, filenames in os.walk(REPO / top):
            for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
                path = os.path.join(dirpath, name)
                try:
                    st = os.lstat(path)
                except FileNotFoundError:
                    continue
                state[os.path.relpath(path, REPO)] = (st.st_size, st.st_mtime_ns)
    return state


def pytest_sessionstart(session):
    session.config._theraflow_run_state = _run_state()


def pytest_sessionfinish(session, exitstatus):
    before = getattr(session.config, "_theraflow_run_state", None)
    if before is None:
        return
    after = _run_state()
    changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    if changed:
        shown = "\n  ".join(changed[:20]) + (f"\n  ... and {len(changed) - 20} more" if len(changed) > 20 else "")
        session.config._theraflow_state_message = (
            f"the tests changed {len(changed)} path(s) under the repository's {', '.join(RUN_STATE)} "
            f"(a test must work in its own temporary directory):\n  {shown}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    message = getattr(config, "_theraflow_state_message", None)
    if message:
        terminalreporter.section("repository state", red=True)
        terminalreporter.write_line(message)


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_gpu = torch.cuda.is_available()
    except Exception:
        has_gpu = False
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU; none is present")
    skip_data = pytest.mark.skip(reason=f"needs the shared reference data at {SHARED_DATA} (absent in a user's clone)")
    for item in items:
        if "gpu" in item.keywords and not has_gpu:
            item.add_marker(skip_gpu)
        if "shared_data" in item.keywords and not SHARED_DATA.is_dir():
            item.add_marker(skip_data)
    # The long tests first, the longest (the group that runs on one worker) before them; the rest keeps its
    # order. On `make test`'s two workers a long test started last would run alone at the end.
    items.sort(key=lambda item: (item.get_closest_marker("xdist_group") is None,
                                 item.get_closest_marker("slow") is None))


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"needs the shared reference data at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def rdkit_data() -> Path:
    from rdkit import RDConfig

    return Path(RDConfig.RDDataDir)


@pytest.fixture(scope="session")
def nci_smi(rdkit_data) -> Path:
    return rdkit_data / "NCI" / "first_5K.smi"


@pytest.fixture(scope="session")
def nci_smiles(nci_smi) -> list[str]:
    return [line.split()[0] for line in nci_smi.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def nci_mols(nci_smiles):
    from rdkit import Chem, rdBase

    with rdBase.BlockLogs():
        mols = [Chem.MolFromSmiles(s) for s in nci_smiles]
    return [m for m in mols if m is not None]


@pytest.fixture(scope="session")
def nci_canonical(nci_mols) -> list[str]:
    from rdkit import Chem

    return [Chem.MolToSmiles(m) for m in nci_mols]


@pytest.fixture()
def theraflow_cmd() -> list[str]:
    exe = shutil.which("theraflow")
    assert exe, "the theraflow command is not on PATH (pip install -e .)"
    return [exe]
