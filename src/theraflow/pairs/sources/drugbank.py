"""``drugbank``: the DrugBank drug–drug interaction set as DeepDDI curated it (ddi_pairs.tsv,
drug_smiles.csv, interaction_types.csv): one row per ordered pair and interaction type (86 types, each
with its sentence "#Drug1 can increase ... #Drug2"). Rows naming a drug without a SMILES, self-pairs
and exact duplicates are rejects rows."""

from __future__ import annotations

from theraflow.pairs.source import Loaded, PairSource


def load(task, cfg: dict) -> Loaded:
    from theraflow.pairs.loaders import load_drugbank_ddi

    pairs, rejects, types = load_drugbank_ddi(cfg["path"], on_error=cfg.get("on_error") or "reject")
    return Loaded(pairs, rejects, label="multiclass", classes=tuple(types["type"].astype(str)),
                  descriptions=dict(zip(types["type"].astype(str), types["sentence"].astype(str))),
                  files=[str(cfg["path"])])


SOURCE = PairSource(name="drugbank", description="the DrugBank DDI folder (86 interaction types)", load=load,
                    tasks=("ddi",))
