"""Dataset downloads with sha256 checks, for users without a local copy.

Nothing downloads at run time unless a download rule (or ``theraflow download``) is
asked for. Each file is looked for, in order: already in the destination with the right
sha256; in a mirror directory (``mirror``, e.g. a group share); at ``base_url`` (the
source's public URL by default). Every file is verified against its recorded sha256
before it is renamed into place, so a truncated or tampered download never reaches the
workflow.

A source whose checksums are not recorded (``sha256 = None``) is refused unless
``trust_on_first_use`` is set: then the hashes of the first download are written to
``SHA256SUMS`` in the destination and every later fetch is checked against them.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from theraflow.errors import InputError, UserError
from theraflow.io import atomic_write, sha256_file, write_json
from theraflow.progress import progress
from theraflow.registry import DOWNLOADS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    name: str
    base_url: str
    files: dict[str, str | None]  # relative path -> sha256 (None: not recorded)
    description: str = ""
    remote: dict[str, str] | None = None  # relative path -> the file's path under base_url, where it differs


DEEPDTA = "https://raw.githubusercontent.com/hkmztrk/DeepDTA/master/data"
SOURCES: dict[str, Source] = {
    "davis": Source(
        "davis", f"{DEEPDTA}/davis/",
        {
            "ligands_can.txt": "141094d99510a52091d2ea1b05be7c1f66b2c5fcaeeeb261eaf4cbf2128bde6d",
            "ligands_iso.txt": "58b3cd168ed12962eb856e4e4e5dab1abbd42d6c0912eed2b9987bf578c7fafd",
            "proteins.txt": "187cedeee10cd3b58af915a2861a5ed0c4ff42a2d728f4dea5e0b47e3d75b291",
            "Y": "9855c4f234ec6dd18295b0e0cd6ee54214cafa908c6eb1d447b47d454fc0294a",
            "folds/train_fold_setting1.txt": "bb7a63b2178c40a4e2417bc701b95511407787fa5eabb6a43a695fe6bd722f56",
            "folds/test_fold_setting1.txt": "c97589fa2fae318b01870854af0ab6fdd155dd38524cc6ac1d0319418ac6d568",
        },
        "Davis et al. 2011 kinase Kd matrix, DeepDTA format (68 drugs x 442 kinases)",
    ),
    # DrugBank drug–drug interactions as curated by DeepDDI: SumGNN's pairs, SSI-DDI's SMILES and type
    # sentences, at the commits ../shared/data/README.md names (sha256 of those files).
    "drugbank_ddi": Source(
        "drugbank_ddi", "https://raw.githubusercontent.com/",
        {
            "ddi_pairs.tsv": "3ab864ab8395c515c5d9e0018ced9b255ebf9046e47104836605d7d67db96bb8",
            "drug_smiles.csv": "85e5e33ec5a49ceb1bf097ccb50129e4808fd9574dbd8626e70ea7e47d009fd3",
            "interaction_types.csv": "b2257cc4a528a1d270ba7288067524ac37dc691ee7f5fb5b1a2f86558825d6d9",
        },
        "DrugBank DDI, 86 types (Ryu et al. 2018), 192,284 ordered pairs over 1,710 drugs",
        remote={
            "ddi_pairs.tsv": "yueyu1030/SumGNN/6331f16e19d68536d9c2dae7ae7f518fb8e881ae/data/drugbank/Drugbank.txt",
            "drug_smiles.csv": "kanz76/SSI-DDI/23e958f65f59f689edea8d68a38f944c6d18dc96/data/drug_smiles.csv",
            "interaction_types.csv":
                "kanz76/SSI-DDI/23e958f65f59f689edea8d68a38f944c6d18dc96/data/Interaction_information.csv",
        },
    ),
    "kiba": Source(
        "kiba", f"{DEEPDTA}/kiba/",
        {
            "ligands_can.txt": "a95797abaf31b17bd2471dbf3e3476f588d5a79797903cc156528f66e55c963b",
            "ligands_iso.txt": "b141f83ca38af4bf53c6bb70cd466e8bdf4fd175d52102ebc41f15a986df9012",
            "proteins.txt": "2ba9dbc2959d88b0740aaf28828c4c611c2dbd1c2019547eb2ec1c3daa192604",
            "Y": "53857b84218ba3d60293c70ab79e2abd83d615d06218c73c150f6dfb4c7134a6",
            "folds/train_fold_setting1.txt": "da74eeeb2c3e7d52a2fd6daac0dc105bba097c222337230eec69d9fd7e1c301e",
            "folds/test_fold_setting1.txt": "92801eec2caddf950235c6c6a46d999d2eeeaa6d35cbeffd68c72a5cf54b208d",
        },
        "KIBA scores (Tang et al. 2014), DeepDTA format (2,111 drugs x 229 kinases)",
    ),
}
for _name, _source in SOURCES.items():  # the names the config and `theraflow download` accept
    DOWNLOADS.register(_name, _source, description=_source.description)


def _pinned(dest: Path) -> dict[str, str]:
    path = dest / "SHA256SUMS"
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        if line.strip():
            digest, name = line.split(None, 1)
            out[name.strip()] = digest
    return out


def _download(url: str, target: Path, expected: str | None, tmp_dir: Path, timeout: float) -> str:
    """Stream ``url`` into ``target`` (atomically); returns its sha256; refuses a mismatch."""
    h = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (explicit, user-asked download)
            total = int(resp.headers.get("Content-Length") or 0) or None
            with atomic_write(target, "wb", tmp_dir=tmp_dir) as fh:
                bar = progress(total=total, unit="B", unit_scale=True, desc=target.name)
                while chunk := resp.read(1 << 16):
                    h.update(chunk)
                    fh.write(chunk)
                    bar.update(len(chunk))
                bar.close()
                if expected is not None and h.hexdigest() != expected:
                    raise InputError(f"{url}: sha256 {h.hexdigest()} does not match the recorded {expected}; "
                                     "the file was not saved")
    except urllib.error.URLError as exc:
        raise UserError(f"{url}: download failed ({exc.reason}); set a mirror directory with the files "
                        "or check the network") from None
    return h.hexdigest()


def fetch(source: str | Source, dest: str | Path, *, mirror: str | Path | None = None,
          base_url: str | None = None, trust_on_first_use: bool = False, timeout: float = 60.0) -> dict:
    """Make ``dest`` hold every file of ``source`` with the right sha256; returns a report."""
    src = SOURCES[source] if isinstance(source, str) else source
    if isinstance(source, str) and source not in SOURCES:
        raise UserError(f"unknown data source {source!r}; known: {', '.join(SOURCES)}")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    tmp_dir = dest / ".partial"
    tmp_dir.mkdir(exist_ok=True)
    pinned = _pinned(dest)
    recorded = {k: v or pinned.get(k) for k, v in src.files.items()}
    unverified = [k for k, v in recorded.items() if v is None]
    if unverified and not trust_on_first_use:
        raise UserError(
            f"{src.name}: no recorded sha256 for {', '.join(unverified)}; refusing an unverified download. "
            "Pass trust_on_first_use (CLI: --trust-on-first-use) to record the hashes of this download in "
            f"{dest / 'SHA256SUMS'} and check every later fetch against them"
        )
    report = {"source": src.name, "dest": str(dest), "present": [], "from_mirror": [], "downloaded": []}
    base = (base_url or src.base_url).rstrip("/") + "/"
    new_pins = dict(pinned)
    for rel, expected in recorded.items():
        target = dest / rel
        if target.exists() and expected is not None and sha256_file(target) == expected:
            report["present"].append(rel)
            continue
        mirrored = Path(mirror) / rel if mirror else None
        if mirrored is not None and mirrored.exists():
            digest = sha256_file(mirrored)
            if expected is not None and digest != expected:
                raise InputError(f"{mirrored}: sha256 {digest} does not match the recorded {expected}")
            target.parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(target, "wb", tmp_dir=tmp_dir) as fh, open(mirrored, "rb") as src_fh:
                shutil.copyfileobj(src_fh, fh)
            report["from_mirror"].append(rel)
        else:
            url = base + (src.remote or {}).get(rel, rel)
            log.info("downloading %s", url)
            digest = _download(url, target, expected, tmp_dir, timeout)
            report["downloaded"].append(rel)
        if expected is None:
            new_pins[rel] = digest
    if new_pins != pinned:
        with atomic_write(dest / "SHA256SUMS", "w", encoding="utf-8") as fh:
            fh.writelines(f"{d}  {n}\n" for n, d in sorted(new_pins.items()))
        log.warning("%s: recorded sha256 of %d file(s) on first use in %s", src.name,
                    len(new_pins) - len(pinned), dest / "SHA256SUMS")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    report["sha256"] = {rel: new_pins.get(rel) or recorded[rel] for rel in recorded}
    # The workflow's download rule declares this file as its output.
    write_json(dest / "download.json", report)
    return report
