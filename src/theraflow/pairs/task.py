"""A pair task, declared in one place: which entities a pair joins, and how its models are trained.

A :class:`PairTask` (one module per task under :mod:`theraflow.pairs.tasks`, ``TASK = PairTask(...)``;
a plugin registers more with ``theraflow.registry.TASKS.register``) declares

- its two **roles** (drug and target; drug 1 and drug 2): each an entity kind
  (:mod:`theraflow.pairs.entities`: molecule, protein, ...) with the pair table's id and value columns;
- whether a pair has an **order** (a drug–drug pair "drug 1 acts on drug 2" does; a similarity does not);
- the **label kinds** it accepts (:mod:`theraflow.pairs.labels`: regression, binary, multiclass — each
  owns its loss, metrics, selection metric, head width, plots and calibration) and its **default
  recipe** (a model under ``models/``, whose head takes the width the label kind needs) used when a
  config names none;
- its training and head defaults (the recipe keys a model config may override).

A task with a label kind is a :class:`TaskSpec`: drug–target affinity is ``dti`` × regression,
DrugBank is ``ddi`` × multiclass. Everything downstream — data, model, training, evaluation,
calibration, scoring, reports — is written once against these declarations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Role:
    """One side of a pair: its name, its entity kind and its columns in a pair table."""

    name: str  # "drug", "target", "drug1"
    entity: str  # an entity kind (theraflow.registry.ENTITIES)
    id: str  # id column ("drug_id")
    value: str  # the entity's value column ("smiles", "sequence")
    title: str = ""  # how a reader calls it ("drug", "target", "first drug")


@dataclass(frozen=True)
class PairTask:
    name: str
    description: str
    roles: tuple[Role, Role]
    ordered: bool = True
    labels: tuple[str, ...] = ("regression", "binary", "multiclass")
    default_model: str = ""  # models/<name> trained when a config names none (its head fits any label kind)
    training: dict[str, Any] = field(default_factory=dict)  # training-recipe defaults of this task
    head: dict[str, Any] = field(default_factory=dict)  # head defaults of this task
    partner: str = "target"  # what scoring calls the role-b entities ("target", "panel drug")
    reference: str = "gbt"  # the fingerprint reference benchmarks run beside it (theraflow.pairs.baselines)

    @property
    def same_kind(self) -> bool:
        return self.roles[0].entity == self.roles[1].entity

    def entity(self, role: Role | str):
        """The :class:`~theraflow.pairs.entity.EntityKind` of a role (or of a kind's name)."""
        from theraflow.registry import ENTITIES

        name = role.entity if isinstance(role, Role) else role
        return ENTITIES.get(name)

    def kinds(self) -> list:
        """The entity kinds the task joins, each once, in role order."""
        seen: list[str] = []
        for r in self.roles:
            if r.entity not in seen:
                seen.append(r.entity)
        return [self.entity(k) for k in seen]

    def role(self, name: str) -> Role:
        for r in self.roles:
            if r.name == name:
                return r
        raise ValueError(f"task {self.name} has no role {name!r} (roles: {', '.join(r.name for r in self.roles)})")

    @property
    def columns(self) -> list[str]:
        """The standard columns of its pair tables (ids and values of both roles, then the label)."""
        return [c for r in self.roles for c in (r.id, r.value)] + ["label"]

    def fields(self) -> list[str]:
        """Names a user maps to their own table's columns (``columns:`` of a data set)."""
        return self.columns

    def group_key(self, pairs):
        """What keeps rows together in a random split: one unordered pair for same-kind tasks (both
        orders and every label of it), else None (each row on its own)."""
        if not self.same_kind:
            return None
        from theraflow.pairs.tables import unordered_key

        a, b = self.roles
        return unordered_key(pairs[a.id].astype(str), pairs[b.id].astype(str))


@dataclass(frozen=True)
class TaskSpec:
    """A task with a label kind (and the classes of a classification)."""

    task: PairTask
    label: Any  # LabelKind
    classes: tuple[str, ...] = ()
    descriptions: dict[str, str] = field(default_factory=dict)  # class -> sentence (DrugBank type sentences)

    @property
    def n_out(self) -> int:
        return self.label.n_outputs(self.classes)

    def to_json(self) -> dict:
        return {"task": self.task.name, "label": self.label.name, "classes": list(self.classes),
                "descriptions": dict(self.descriptions)}

    @classmethod
    def from_json(cls, d: dict) -> TaskSpec:
        from theraflow.registry import LABELS, TASKS

        return cls(TASKS.get(d["task"]), LABELS.get(d["label"]), tuple(str(c) for c in d.get("classes") or ()),
                   dict(d.get("descriptions") or {}))

    def describe(self) -> str:
        what = f"{self.task.name} ({self.task.description}), {self.label.name} labels"
        if self.classes and self.label.name == "multiclass":
            what += f" ({len(self.classes)} classes)"
        return what


def task_spec(task: str, label: str, classes=(), descriptions: dict | None = None) -> TaskSpec:
    """A :class:`TaskSpec` from registered names; a label kind the task does not accept is refused."""
    from theraflow.registry import LABELS, TASKS

    t = TASKS.get(task)
    if label not in t.labels:
        raise ValueError(f"task {task} does not take {label} labels (it takes {', '.join(t.labels)})")
    return TaskSpec(t, LABELS.get(label), tuple(str(c) for c in classes), dict(descriptions or {}))
