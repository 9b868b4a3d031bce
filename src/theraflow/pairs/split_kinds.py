"""The split kinds, declared once (a light module: the CLI and the config schema read the names from here).

Each declaration names its function in :mod:`theraflow.pairs.splits` and what it needs of a task and a
data set (``needs``): ``two_kinds`` (a molecule and another entity), ``protein`` (a protein role),
``same_kind`` (two entities of one kind), ``molecule`` (a molecule role), ``folds`` (DeepDTA's folds),
``given`` (parts given with the data).
"""

from theraflow.registry import SPLITS

for _name, _needs, _doc in (
    ("random", (), "pairs shuffled into test/valid/train; tasks of two molecules keep both orders and every label "
                   "of one unordered pair in one part"),
    ("setting1", ("folds",), "DeepDTA's given folds; validation carved from the train folds"),
    ("given", ("given",), "the parts the data set came with (train/valid/test files or a split column); "
                          "validation carved from train when none is given"),
    ("cold_drug", ("two_kinds", "molecule"), "molecules never seen in training in valid and test"),
    ("cold_target", ("two_kinds", "protein"), "targets (grouped by sequence) never seen in training in valid and test"),
    ("cold_both", ("two_kinds",), "test pairs join a molecule and a target both held out of training"),
    ("one_unseen", ("same_kind",), "test pairs join one entity held out of training with a training one"),
    ("both_unseen", ("same_kind",), "test pairs join two entities held out of training"),
    ("scaffold", ("molecule",), "Bemis–Murcko scaffold groups of the first molecule role; the rarest to test "
                                "(DeepChem's rule)"),
):
    SPLITS.declare(_name, f"theraflow.pairs.splits:{_name}_split", description=_doc, needs=_needs)


def not_applicable(task, kind: str, *, has_folds: bool | None = None, has_given: bool | None = None) -> str | None:
    """Why split ``kind`` cannot split ``task``'s pairs (None when it can; unknown facts pass)."""
    needs = SPLITS.info(kind).get("needs", ())
    kinds = [r.entity for r in task.roles]
    if "two_kinds" in needs and task.same_kind:
        return f"{kind} splits tasks that join two kinds of entity; {task.name} joins two {kinds[0]}s " \
               "(use one_unseen or both_unseen)"
    if "same_kind" in needs and not task.same_kind:
        return f"{kind} splits tasks of two entities of one kind; {task.name} joins {' and '.join(kinds)}"
    for need in ("molecule", "protein"):
        if need in needs and need not in kinds:
            return f"{kind} needs a {need} role; {task.name} joins {' and '.join(kinds)}"
    if "folds" in needs and has_folds is False:
        return f"{kind} needs DeepDTA fold files, and this data set has none"
    if "given" in needs and has_given is False:
        return f"{kind} uses the parts a data set came with (parts: or split_column:), and this one has none"
    return None
