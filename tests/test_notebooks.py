"""The notebooks run top to bottom on the public API (executed with nbclient), print theraflow's own lines only
(no library warnings, hints or advertisements), and leave no temporary folder behind."""

import re
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))

# What a fresh run printed before: tqdm's widget warning, Lightning's SLURM hint, its advertisements and its
# warning about a brand-new (temporary) checkpoint folder, Lightning's device lines, any Python warning.
NOISE = re.compile(r"IProgress not found|TqdmWarning|`srun` command|💡|litlogger|litmodels|Tip: For seamless"
                   r"|exists and is not empty|GPU available|TPU available|HPU available|\w+Warning:")


INTERACTION = re.compile(r"metabolism of|absorption of|serum concentration|adverse effects|probability \d")
THIRD_PARTY_TEMP = re.compile(r"torch_geometric\.[\w.]+\.py$|torchinductor_")


def _streams(nb) -> list[tuple[int, str, str]]:
    return [(i, o.get("name", ""), o.get("text", "")) for i, c in enumerate(nb.cells) if c.cell_type == "code"
            for o in c.get("outputs", []) if o.output_type == "stream"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path, tmp_path, monkeypatch):
    nb = nbformat.read(path, as_version=4)
    temp = tmp_path / "tmp"  # the kernel's temporary folder: what the notebook leaves there is checked below
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    work = tmp_path / "work"
    work.mkdir()
    t0 = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(work)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if "image/png" in o.get("data", {}) or "image/svg+xml" in o.get("data", {})]
    assert images, "the top-k drawings did not render"
    streams = _streams(nb)
    noise = [(i, name, text) for i, name, text in streams if NOISE.search(text)]
    assert not noise, "a fresh run printed lines that are not theraflow's:\n" + "\n".join(
        f"cell {i} ({name}): {text.strip()[:400]}" for i, name, text in noise)
    stderr = [(i, text) for i, name, text in streams if name == "stderr" and text.strip()]
    assert not stderr, f"a fresh run wrote to stderr: {stderr}"
    # what the libraries keep there on their own (torch_geometric's generated message-passing modules,
    # torch's compile cache) is theirs; anything else is the notebook's and must be gone
    left = sorted(p.name for p in temp.iterdir() if not THIRD_PARTY_TEMP.match(p.name))
    assert not left, f"the notebook left {left} in the temporary folder"
    assert not any(work.iterdir()), f"the notebook wrote into its working folder: {sorted(work.iterdir())}"
    # the drug–drug demo's interactions are made up: every output that states one says it is synthetic
    texts = [o.get("text") or o.get("data", {}).get("text/plain", "") for c in nb.cells if c.cell_type == "code"
             for o in c.get("outputs", [])]
    claims = [t for t in texts if INTERACTION.search(t)]
    unmarked = [t for t in claims if "[synthetic demo data]" not in t]
    assert not unmarked, f"an interaction of the synthetic demo reads as real pharmacology: {unmarked[0][:600]}"
    if any(c.cell_type == "code" and "ddi" in c.source for c in nb.cells):
        assert claims, "the drug–drug example printed no interaction sentence"
    print(f"{path.name}: {time.perf_counter() - t0:.0f} s")
