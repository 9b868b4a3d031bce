"""``ddi``: drug–drug interactions — two molecules, in order ("drug 1 acts on drug 2").

DrugBank's 86 interaction types (multiclass; one row per ordered pair and type) or interacts / does
not (binary). Both drugs share one molecule encoder; the head has weights of its own for each
position, so (a, b) and (b, a) are different inputs. The default recipe is ``ddi_morgan``.
"""

from theraflow.pairs.task import PairTask, Role

TASK = PairTask(
    name="ddi",
    description="drug–drug interactions: two molecules, the first acting on the second",
    roles=(Role("drug1", "molecule", "drug1", "smiles1", "first drug"),
           Role("drug2", "molecule", "drug2", "smiles2", "second drug")),
    ordered=True,
    labels=("multiclass", "binary", "regression"),
    default_model="ddi_morgan",
    training={"max_epochs": 100, "batch_size": 1024, "lr": 1e-3, "patience": 20},
    head={"hidden": (1024, 512), "dropout": 0.1, "proj": 256},
    partner="panel drug",
    reference="mlp",
)
