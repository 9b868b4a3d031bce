"""Molecule standardization with RDKit's rdMolStandardize.

Per record: parse (SMILES or molblock) → sanitize → remove explicit hydrogens →
keep the largest organic fragment → neutralize → optional functional-group
normalization and canonical tautomer → size checks → canonical isomeric SMILES and
InChIKey. A record that fails any step becomes a rejects row (id, record, input,
stage, reason) carrying RDKit's own message; nothing is dropped silently and one bad
record never stops the batch. ``changes`` lists what standardization did to a kept
record (for example "kept largest organic fragment of 2; neutralized").
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
from rdkit import Chem, RDLogger, rdBase
from rdkit.Chem.MolStandardize import rdMolStandardize

from theraflow.chem.readers import REJECT_COLUMNS, read_molecules, smiles_whitespace_problem
from theraflow.io import write_table
from theraflow.progress import progress

log = logging.getLogger(__name__)

KEPT_COLUMNS = ["id", "record", "smiles", "inchikey", "heavy_atoms", "changes", "input"]
STAGES = ("read", "parse", "sanitize", "fragment", "neutralize", "normalize", "tautomer", "size", "featurize")
_CHARGE = re.compile(r"\[[^\]]*[+-]")
_CARBON = Chem.MolFromSmarts("[#6]")
# the lines of an RDKit invariant violation after its message: where in RDKit's C++ it failed, a stack trace
_INVARIANT_NOISE = re.compile(r"^(Violation occurred on line|Failed Expression:|-{3,}$|Stacktrace:|\d+#)")


@dataclass(frozen=True)
class StandardizeOptions:
    """What standardization does; every field is a config key under ``standardize``."""

    largest_fragment: bool = True
    neutralize: bool = True
    normalize: bool = False
    canonical_tautomer: bool = False
    require_carbon: bool = True
    max_heavy_atoms: int = 150
    min_heavy_atoms: int = 1
    inchikey: bool = True

    def __post_init__(self) -> None:
        if self.max_heavy_atoms < self.min_heavy_atoms or self.min_heavy_atoms < 1:
            raise ValueError("standardize: need 1 <= min_heavy_atoms <= max_heavy_atoms")


class Rejected(Exception):
    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(reason)
        self.stage = stage
        self.reason = reason


class _RDKitMessages(logging.Handler):
    """Collects what RDKit logs while one record is processed."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage().strip()
        msg = re.sub(r"^\[\d\d:\d\d:\d\d\]\s*", "", msg)
        if msg and not msg.startswith("*"):
            self.messages.append(msg.splitlines()[0].strip())

    def take(self) -> str:
        text = "; ".join(dict.fromkeys(m for m in self.messages if m and not _INVARIANT_NOISE.match(m)))
        self.messages.clear()
        return text


@contextlib.contextmanager
def rdkit_messages() -> Iterator[_RDKitMessages]:
    """Route RDKit's log (errors and warnings) to a collector, not to stderr.

    RDKit logs through the Python logger "rdkit" once ``LogToPythonLogger`` is on;
    that logger's own stderr handler is swapped for the collector for the duration.
    """
    handler = _RDKitMessages()
    logger = logging.getLogger("rdkit")
    saved = logger.handlers[:], logger.propagate, logger.level
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    RDLogger.EnableLog("rdApp.error")
    RDLogger.EnableLog("rdApp.warning")
    rdBase.LogToPythonLogger()
    try:
        yield handler
    finally:
        logger.handlers, logger.propagate, level = saved
        logger.setLevel(level)
        rdBase.LogToCppStreams()


class Standardizer:
    """Standardizes one record at a time; see :func:`standardize` for tables."""

    def __init__(self, options: StandardizeOptions | None = None) -> None:
        self.options = options or StandardizeOptions()
        self._chooser = rdMolStandardize.LargestFragmentChooser(preferOrganic=True)
        self._uncharger = rdMolStandardize.Uncharger()
        self._normalizer = rdMolStandardize.Normalizer() if self.options.normalize else None
        self._tautomers = rdMolStandardize.TautomerEnumerator() if self.options.canonical_tautomer else None

    def parse(self, text: str, kind: str, messages: _RDKitMessages) -> Chem.Mol:
        messages.take()
        if kind == "molblock":
            mol = Chem.MolFromMolBlock(text, sanitize=False, removeHs=False, strictParsing=True)
            if mol is None:
                raise Rejected("parse", "broken molblock: " + (messages.take() or "RDKit could not read it"))
        else:
            problem = smiles_whitespace_problem(text)
            if problem:
                raise Rejected("parse", problem)
            mol = Chem.MolFromSmiles(text.strip(), sanitize=False)
            if mol is None:
                raise Rejected("parse", "unparsable SMILES: " + (messages.take() or "syntax error"))
        if mol.GetNumAtoms() == 0:
            raise Rejected("parse", "the record describes no atoms")
        try:
            Chem.SanitizeMol(mol)
        except Chem.AtomValenceException as exc:
            raise Rejected("sanitize", f"valence error: {_first_line(exc)}") from None
        except (Chem.KekulizeException, Chem.AtomKekulizeException) as exc:
            raise Rejected("sanitize", f"kekulization failed: {_first_line(exc)}") from None
        except Exception as exc:  # MolSanitizeException and friends
            raise Rejected("sanitize", f"sanitization failed: {_first_line(exc)}") from None
        if kind == "molblock":
            mol = Chem.RemoveHs(mol)
        return mol

    def standardize(self, text: str, kind: str, messages: _RDKitMessages) -> tuple[Chem.Mol, list[str]]:
        opts = self.options
        mol = self.parse(text, kind, messages)
        changes: list[str] = []
        if mol.GetNumAtoms() > 4 * opts.max_heavy_atoms:  # do not spend time on giants
            raise Rejected("size", f"{mol.GetNumAtoms()} atoms; limit is {opts.max_heavy_atoms} heavy atoms")
        if opts.normalize:
            try:
                mol = self._normalizer.normalize(mol)
            except Exception as exc:
                raise Rejected("normalize", _first_line(exc)) from None
        n_frags = len(Chem.GetMolFrags(mol))
        if n_frags > 1:
            if not opts.largest_fragment:
                raise Rejected("fragment", f"mixture of {n_frags} fragments (largest_fragment is off)")
            try:
                mol = self._chooser.choose(mol)
            except Exception as exc:
                raise Rejected("fragment", _first_line(exc)) from None
            changes.append(f"kept largest organic fragment of {n_frags}")
        if opts.require_carbon and not mol.HasSubstructMatch(_CARBON):
            raise Rejected("fragment", "no organic (carbon-containing) fragment")
        if opts.neutralize and (kind == "molblock" or _CHARGE.search(text)):
            before = _charge_signature(mol)
            try:
                mol = self._uncharger.uncharge(mol)
            except Exception as exc:
                raise Rejected("neutralize", _first_line(exc)) from None
            after = _charge_signature(mol)
            if after != before:
                changes.append("neutralized")
            if after[0]:
                changes.append(f"net charge {after[0]:+d} kept")
        if opts.canonical_tautomer:
            try:
                taut = self._tautomers.Canonicalize(mol)
            except Exception as exc:
                raise Rejected("tautomer", _first_line(exc)) from None
            if Chem.MolToSmiles(taut) != Chem.MolToSmiles(mol):
                changes.append("canonical tautomer")
            mol = taut
        heavy = mol.GetNumHeavyAtoms()
        if heavy > opts.max_heavy_atoms:
            raise Rejected("size", f"{heavy} heavy atoms; limit is {opts.max_heavy_atoms}")
        if heavy < opts.min_heavy_atoms:
            raise Rejected("size", f"{heavy} heavy atoms; minimum is {opts.min_heavy_atoms}")
        return mol, changes


def _visible(text: str) -> str:
    """A SMILES as a rejects table shows it: a newline or tab inside it written as \\n, \\t."""
    return text.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")


def _charge_signature(mol: Chem.Mol) -> tuple[int, tuple[int, ...]]:
    """Net charge and the per-atom charges (to tell whether anything changed)."""
    return Chem.GetFormalCharge(mol), tuple(a.GetFormalCharge() for a in mol.GetAtoms())


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def standardize(records: pd.DataFrame, options: StandardizeOptions | None = None, *,
                on_mol=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Standardize a records table (from :func:`read_molecules`) into (kept, rejects).

    ``on_mol(position, mol)`` is called with each kept record's standardized molecule
    (position = its row in ``kept``), for callers that want more from it without
    parsing again (e.g. fingerprints).
    """
    std = Standardizer(options)
    opts = std.options
    kept, rejects = [], []
    with rdkit_messages() as messages:
        # plain lists: iterating Arrow-backed string columns row by row costs more than RDKit's parse
        rows = zip(*(records[c].tolist() for c in ("record", "id", "input", "kind")))
        for record, mol_id, text, kind in progress(rows, total=len(records), desc="standardize", unit="mol"):
            try:
                mol, changes = std.standardize(text, kind, messages)
                smiles = Chem.MolToSmiles(mol)
                inchikey = ""
                if opts.inchikey:
                    inchikey = Chem.MolToInchiKey(mol)
                    messages.take()  # InChI warnings are not errors
                    if not inchikey:
                        changes.append("no InChIKey")
                if on_mol is not None:
                    on_mol(len(kept), mol)
                kept.append((mol_id, record, smiles, inchikey, mol.GetNumHeavyAtoms(), "; ".join(changes),
                             text if kind == "smiles" else f"molblock of record {record}"))
            except Rejected as rej:
                shown = _visible(text) if kind == "smiles" else text.replace("\n", "\\n")[:500]
                rejects.append((mol_id, record, shown, rej.stage, rej.reason))
            except Exception as exc:  # a bug or an RDKit surprise: still a reject, with the error
                log.exception("unexpected error standardizing record %s (%s)", record, mol_id)
                rejects.append((mol_id, record, str(text)[:500], "standardize", f"unexpected error: {exc}"))
    kept_df = pd.DataFrame(kept, columns=KEPT_COLUMNS)
    kept_df["record"] = kept_df["record"].astype("int64")
    kept_df["heavy_atoms"] = kept_df["heavy_atoms"].astype("int64")
    rej_df = pd.DataFrame(rejects, columns=REJECT_COLUMNS)
    rej_df["record"] = rej_df["record"].astype("int64")
    log.info("standardize: %d kept, %d rejected%s", len(kept_df), len(rej_df), _by_stage(rej_df))
    return kept_df, rej_df


def _by_stage(rejects: pd.DataFrame) -> str:
    if rejects.empty:
        return ""
    counts = rejects["stage"].value_counts()
    return " (" + ", ".join(f"{stage}: {n}" for stage, n in counts.items()) + ")"


_LIMIT = re.compile(r"limit is (\d+)")
_MINIMUM = re.compile(r"minimum is (\d+)")


def reject_category(stage: str, reason: str) -> str:
    """The kind of a rejects row, to count rejects by: "no carbon fragment", "over 150 heavy atoms",
    "unparsable SMILES", ... — the reason without what is particular to one record (its atom count, RDKit's
    detail after the colon). Every loss a count shows comes from this one function, whichever door the
    molecule came through (the workflow's chemistry stage, the Python API, a screen)."""
    stage, reason = str(stage or ""), str(reason or "")
    if stage == "fragment" and "carbon" in reason:
        return "no carbon fragment"
    if stage == "fragment" and reason.startswith("mixture of"):
        return "a mixture of fragments"
    if stage == "size":
        limit, minimum = _LIMIT.search(reason), _MINIMUM.search(reason)
        if limit:
            return f"over {limit.group(1)} heavy atoms"
        if minimum:
            return f"under {minimum.group(1)} heavy atoms"
    if stage == "featurize":
        return "featurization failed"
    head = reason.split(":")[0].strip()
    return head if head else f"{stage or 'standardize'} failed"


def standardize_file(input_path: str | Path, output: str | Path, rejects_path: str | Path, *,
                     options: StandardizeOptions | None = None, shard: int = 0, n_shards: int = 1,
                     index_dir: str | Path | None = None, **read_options) -> dict:
    """Stage function: molecule file → standardized table + rejects table.

    With ``n_shards`` > 1 only the records of ``shard`` — a contiguous run — are read and standardized,
    through the library's index (:mod:`theraflow.chem.library_index`, kept in ``index_dir`` and made once
    per version of the file), so ids are still checked across the whole file; records rejected while
    reading go to the rejects table of their shard. Returns counts.
    """
    from theraflow.chem.library_index import library_index, read_molecule_shard
    from theraflow.chem.shards import shard_bounds

    if n_shards > 1:
        index = library_index(input_path, cache_dir=index_dir, **read_options)
        lo, hi = shard_bounds(index.records, shard, n_shards)
        records, read_rejects, _ = read_molecule_shard(input_path, lo, hi, index=index, **read_options)
    else:
        records, read_rejects = read_molecules(input_path, **read_options)
    kept, rejects = standardize(records, options)
    if len(read_rejects):
        rejects = pd.concat([read_rejects, rejects], ignore_index=True)
    write_table(kept, output)
    write_table(rejects.sort_values("record", kind="stable"), rejects_path)
    return {"records": len(records) + len(read_rejects), "kept": len(kept), "rejected": len(rejects),
            "options": asdict(options or StandardizeOptions())}


def options_from_config(cfg: dict | None) -> StandardizeOptions:
    cfg = dict(cfg or {})
    allowed = set(asdict(StandardizeOptions()))
    unknown = set(cfg) - allowed
    if unknown:
        raise ValueError(f"standardize: unknown option(s) {', '.join(sorted(unknown))}")
    return StandardizeOptions(**cfg)
