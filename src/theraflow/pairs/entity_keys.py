"""What names an entity in a pair table: each role's id and key columns (:class:`Entity`), and the key
that says two rows name the same entity. Shared by the splits, their audits and the baselines."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Entity:
    """One role of a pair: its name, id column, key column and whether it is a molecule."""

    name: str
    id: str
    key: str
    molecule: bool = False


def roles_of(task) -> tuple[Entity, Entity]:
    out = []
    for r in task.roles:
        kind = task.entity(r)
        out.append(Entity(kind.module if task.same_kind else r.name, r.id, r.value, molecule=kind.featurized))
    return tuple(out)


def entity_key(pairs: pd.DataFrame, e: Entity) -> pd.Series:
    """What says two rows name the same entity: the key column, else (blank keys) the id."""
    if e.key not in pairs:
        return "id:" + pairs[e.id].astype(str)
    key = pairs[e.key].fillna("").astype(str)
    return key.where(key.astype(bool), "id:" + pairs[e.id].astype(str))
