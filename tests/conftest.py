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
