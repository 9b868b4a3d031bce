"""Pair data sources and what every source's table goes through before it becomes a data set.

A source (one module per source under :mod:`theraflow.pairs.sources`, ``SOURCE = PairSource(...)``)
reads pairs from somewhere — a DeepDTA folder, the DrugBank DDI files, a user's table or its
train/valid/test files, an offline demo — into a table with the task's role columns, a raw ``label``
column and, per row, ``line`` (where it came from). Then, for every source alike:

- **ids are optional**: a role without an id column gets its entity kind's default id (a molecule's
  standardized InChIKey, a hash of a sequence), said in the log;
- **the label kind** is the one the config declares (``label:``), else the source's own (DeepDTA:
  regression; DrugBank: multiclass), else inferred from the labels — 0/1 → binary, numbers →
  regression, anything else → multiclass — in one log line that says how to override it. A
  ``threshold`` turns numeric labels into 0/1 (at or above: 1);
- the labels are checked against their kind: a row that does not fit is a rejects row with its reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from theraflow.errors import InputError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

log = logging.getLogger(__name__)

PARTS = ("train", "valid", "test")
PART_ALIASES = {"train": "train", "training": "train", "valid": "valid", "val": "valid", "validation": "valid",
                "dev": "valid", "test": "test", "testing": "test"}


@dataclass
class Loaded:
    """What a source read: the pairs (role columns, raw ``label``, ``line``; optionally ``given_part``,
    ``pair_index``), the rows it refused, and what it knows of the labels."""

    pairs: pd.DataFrame
    rejects: pd.DataFrame
    label: str | None = None  # the label kind the source's labels are (None: not known)
    classes: tuple[str, ...] = ()  # declared classes, in order
    descriptions: dict[str, str] = field(default_factory=dict)  # class -> sentence
    folds: dict | None = None  # DeepDTA setting-1 folds
    files: list[str] = field(default_factory=list)  # the files read (for the record)


@dataclass(frozen=True)
class PairSource:
    name: str
    description: str
    load: Callable[[Any, dict], Loaded]  # (task, data-set config) -> Loaded
    tasks: tuple[str, ...] | None = None  # the tasks it serves (None: any)
    options: tuple[str, ...] = ()  # data-set config keys it reads besides the common ones
    needs_path: bool = True

    def serves(self, task: str) -> bool:
        return self.tasks is None or task in self.tasks


COMMON_OPTIONS = ("source", "path", "download", "label", "threshold", "on_error")


def reject_rows(pairs: pd.DataFrame, mask: np.ndarray, column: str, reasons, on_error: str,
                what: str = "") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Move the rows where ``mask`` holds into a rejects table (file, line, column, reason); ``stop``
    raises on the first instead."""
    import numpy as np
    import pandas as pd

    from theraflow.pairs.tables import REJECT_COLUMNS

    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return pairs, pd.DataFrame(columns=REJECT_COLUMNS)
    reasons = [reasons] * len(pairs) if isinstance(reasons, str) else list(reasons)
    if on_error == "stop":
        i = int(np.argmax(mask))
        raise InputError(f"{pairs['file'].iat[i] if 'file' in pairs else what}: {pairs['line'].iat[i]}, "
                         f"column {column!r}: {reasons[i]}")
    files = pairs["file"] if "file" in pairs else pd.Series(what, index=pairs.index)
    rej = pd.DataFrame({"file": files[mask].to_numpy(), "line": pairs.loc[mask, "line"].to_numpy(), "column": column,
                        "reason": [r for r, m in zip(reasons, mask) if m]}, columns=REJECT_COLUMNS)
    return pairs[~mask].reset_index(drop=True), rej


def infer_label_kind(values: pd.Series, task) -> tuple[str, str]:
    """(label kind, why) from a raw label column: 0/1 → binary, numbers → regression, else multiclass."""
    import numpy as np
    import pandas as pd

    from theraflow.pairs.tables import class_text

    text = values.astype(str).str.strip()
    number = pd.to_numeric(text, errors="coerce")
    numeric = number.notna() & np.isfinite(number.to_numpy(dtype=np.float64, na_value=np.nan))
    share = float(numeric.mean()) if len(text) else 0.0
    if share >= 0.95:
        distinct = set(text[numeric].map(class_text))
        if distinct <= {"0", "1"}:
            kind, why = "binary", f"every label is 0 or 1 ({int((text[numeric].map(class_text) == '1').sum()):,} "\
                                  f"of {int(numeric.sum()):,} are 1)"
        else:
            kind, why = "regression", (f"the labels are numbers ({len(distinct):,} distinct values, from "
                                       f"{number.min():g} to {number.max():g})")
    else:
        distinct = sorted(set(text))
        kind, why = "multiclass", (f"{len(distinct):,} distinct labels, not numbers (e.g. "
                                   f"{', '.join(map(repr, distinct[:3]))})")
    if kind not in task.labels:
        raise InputError(f"the labels look {kind} ({why}), which task {task.name} does not take "
                         f"({', '.join(task.labels)}); declare the data set's label kind")
    return kind, why


def resolve_labels(task, loaded: Loaded, cfg: dict, where: str):
    """(TaskSpec, pairs with the ``label`` column in its kind's form, rejects): see the module docstring."""
    import numpy as np
    import pandas as pd

    from theraflow.pairs.tables import class_text
    from theraflow.pairs.task import task_spec
    from theraflow.registry import LABELS

    pairs, on_error = loaded.pairs, cfg.get("on_error") or "reject"
    declared = cfg.get("label")
    threshold = cfg.get("threshold")
    rejects = []
    if threshold is not None:
        number = pd.to_numeric(pairs["label"], errors="coerce")
        bad = ~np.isfinite(number.to_numpy(dtype=np.float64, na_value=np.nan))
        pairs, rej = reject_rows(pairs, bad, "label", [f"not a number to compare with the threshold {threshold}: "
                                                       f"{v!r}" for v in pairs["label"]], on_error, where)
        rejects.append(rej)
        number = pd.to_numeric(pairs["label"])
        pairs = pairs.assign(label=np.where(number >= float(threshold), "1", "0"))
        if declared not in (None, "binary"):
            raise InputError(f"{where}: threshold turns labels into 0/1, but label is {declared!r}")
        kind, why = "binary", f"labels at or above {threshold:g} are 1 ({int((pairs['label'] == '1').sum()):,} of " \
                              f"{len(pairs):,})"
    elif declared:
        kind, why = declared, "declared"
        if loaded.label and loaded.label != declared and not (loaded.label == "multiclass" and declared == "binary"):
            log.warning("%s: the source's labels are %s; read as %s as declared", where, loaded.label, declared)
    elif loaded.label:
        kind, why = loaded.label, f"the {cfg.get('source')} source's labels"
    elif cfg.get("classes"):  # declared classes: a classification, whatever the class names look like
        kind, why = "multiclass", f"{len(cfg['classes'])} classes declared"
    else:
        kind, why = infer_label_kind(pairs["label"], task)
        log.info("%s: label kind inferred as %s: %s (set `label: regression|binary|multiclass` to say otherwise)",
                 where, kind, why)
    label = LABELS.get(kind)
    if kind == "regression":
        number = pd.to_numeric(pairs["label"], errors="coerce")
        bad = ~np.isfinite(number.to_numpy(dtype=np.float64, na_value=np.nan))
        pairs, rej = reject_rows(pairs, bad, "label", [f"{'empty label' if not str(v).strip() else 'not a finite number: ' + repr(str(v))}"
                                                       for v in pairs["label"]], on_error, where)
        rejects.append(rej)
        pairs = pairs.assign(label=pd.to_numeric(pairs["label"]).astype(np.float64))
        classes: tuple = ()
    else:
        text = pairs["label"].map(class_text)
        declared_classes = cfg.get("classes") or loaded.classes or None
        classes = label.classes(text, declared_classes)
        bad = ~text.isin(classes).to_numpy()
        shown = ", ".join(list(classes)[:10]) + (" ..." if len(classes) > 10 else "")
        pairs, rej = reject_rows(pairs.assign(label=text), bad, "label",
                                 [f"label {v!r} is not one of the classes ({shown})" for v in text], on_error, where)
        rejects.append(rej)
    spec = task_spec(task.name, kind, classes, loaded.descriptions)
    return spec, pairs, rejects, why


def default_ids(task, pairs: pd.DataFrame, given: set[str]) -> tuple[pd.DataFrame, dict[str, str]]:
    """Fill the id column of every role the table gave no ids for, from its entity kind's default;
    returns (pairs, {role: how})."""
    said = {}
    for r in task.roles:
        if r.id in given:
            continue
        kind = task.entity(r)
        values = pairs[r.value].fillna("").astype(str).tolist() if r.value in pairs else [""] * len(pairs)
        pairs[r.id] = kind.default_ids(values)
        said[r.name] = f"{r.title or r.name} ids default to {'the standardized InChIKey' if kind.featurized else 'a hash of the ' + kind.value}"
        log.info("no %s id column: %s", r.title or r.name, said[r.name])
    return pairs, said
