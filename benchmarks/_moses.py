"""Screening libraries made of real molecules: MOSES (../shared/data/moses) in every molecule file format.

MOSES holds 1,584,663 (train) + 176,074 (test) + 176,225 (test_scaffolds) distinct drug-like molecules, one
SMILES column and no ids. :func:`make_library` writes the first ``n`` of train, test, test_scaffolds in that
order, concatenated again from the start (with new ids) for sizes above 1,936,962, so ``distinct`` is
min(n, 1,936,962); ids are ``MOSES-<n>``, numbered in the library. Formats: smi, csv, tsv, parquet (row
groups of 100,000) and sdf (RDKit molblocks with 2D coordinates, which take about 0.5 ms per molecule to
write). Files are written once into a work folder and reused.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

MOSES = Path(__file__).resolve().parents[2] / "shared" / "data" / "moses"
PARTS = ("train.csv.gz", "test.csv.gz", "test_scaffolds.csv.gz")
DISTINCT = 1_584_663 + 176_074 + 176_225
SUFFIX = {"smi": ".smi", "csv": ".csv", "tsv": ".tsv", "parquet": ".parquet", "sdf": ".sdf"}


def moses_smiles(n: int, root: Path = MOSES) -> Iterator[str]:
    """The first ``n`` MOSES SMILES (train, test, test_scaffolds, then again from the start)."""
    missing = [p for p in PARTS if not (root / p).is_file()]
    if missing:
        raise SystemExit(f"{root}: missing {', '.join(missing)} (see ../shared/data/README.md)")
    done = 0
    while done < n:
        for part in PARTS:
            with gzip.open(root / part, "rt") as fh:
                header = fh.readline().strip()
                if header != "SMILES":
                    raise SystemExit(f"{root / part}: expected the header SMILES, found {header!r}")
                for line in fh:
                    yield line.strip()
                    done += 1
                    if done >= n:
                        return


def make_library(n: int, fmt: str, folder: Path) -> Path:
    """MOSES as a ``fmt`` library of ``n`` molecules in ``folder`` (written once, atomically)."""
    path = folder / f"moses_{n}{SUFFIX[fmt]}"
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    ids = (f"MOSES-{i:09d}" for i in range(1, n + 1))
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pa.schema([("id", pa.string()), ("smiles", pa.string())])
        with pq.ParquetWriter(tmp, schema) as w:
            batch_ids, batch_smi = [], []
            for mol_id, smi in zip(ids, moses_smiles(n)):
                batch_ids.append(mol_id)
                batch_smi.append(smi)
                if len(batch_ids) == 100_000:
                    w.write_table(pa.table({"id": batch_ids, "smiles": batch_smi}, schema=schema))
                    batch_ids, batch_smi = [], []
            if batch_ids:
                w.write_table(pa.table({"id": batch_ids, "smiles": batch_smi}, schema=schema))
    else:
        with open(tmp, "w") as fh:
            if fmt == "csv":
                fh.write("id,smiles\n")
            elif fmt == "tsv":
                fh.write("id\tsmiles\n")
            if fmt == "sdf":
                from rdkit import Chem, rdBase

                with rdBase.BlockLogs():
                    for mol_id, smi in zip(ids, moses_smiles(n)):
                        mol = Chem.MolFromSmiles(smi)
                        if mol is None:
                            raise SystemExit(f"MOSES SMILES {smi!r} ({mol_id}) does not parse")
                        mol.SetProp("_Name", mol_id)
                        fh.write(Chem.MolToMolBlock(mol))
                        fh.write("$$$$\n")
            else:
                sep = {"smi": " ", "csv": ",", "tsv": "\t"}[fmt]
                for mol_id, smi in zip(ids, moses_smiles(n)):
                    fh.write(f"{smi}{sep}{mol_id}\n" if fmt == "smi" else f"{mol_id}{sep}{smi}\n")
    tmp.replace(path)
    return path


def parse_only_rate(n: int = 20_000) -> float:
    """RDKit's SMILES parse rate on one core (molecules per second), on the first ``n`` MOSES molecules: the
    floor under any screen's standardize step."""
    import time

    from rdkit import Chem, rdBase

    smiles = list(moses_smiles(n))
    t0 = time.perf_counter()
    with rdBase.BlockLogs():
        for smi in smiles:
            Chem.MolFromSmiles(smi)
    return n / (time.perf_counter() - t0)
