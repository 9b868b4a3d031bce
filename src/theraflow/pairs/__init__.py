"""Entity-pair tasks in general: pair tables with rejects, loaders (DeepDTA, DrugBank DDI, generic
tables), splits over entity columns with leakage audits — shared by every interaction task
(:mod:`theraflow.dti`, :mod:`theraflow.ddi`)."""
