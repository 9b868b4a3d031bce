"""Pair-model configs (``models/<name>/config.yaml``): one schema for every task, assembled from the registries.

An encoder config exists per entity kind (``drug_encoder`` for molecules, ``target_encoder`` for
proteins: the kind's ``config_key``); its ``type`` is a '+'-join of the kind's registered encoders and
its keys are the parameters those encoders declare (:class:`~theraflow.nn.entity.EncoderSpec`). A
new encoder module brings its own parameters into the schema. The config is validated with jsonschema
before a model is built; an error names the file and the key.
"""

from __future__ import annotations

import copy
from pathlib import Path

HEAD_SCHEMA = {
    "type": "object", "additionalProperties": False, "description": "The pair head (see theraflow.nn.pair).",
    "properties": {
        "hidden": {"type": "array", "items": {"type": "integer", "minimum": 4}, "description": "Hidden widths."},
        "dropout": {"type": "number", "minimum": 0, "maximum": 0.9, "description": "Dropout after each hidden layer."},
        "proj": {"type": ["integer", "null"], "minimum": 4,
                 "description": "Projection width of each entity kind (null - none)."},
        "product": {"type": "boolean", "description": "Read the elementwise product of the projections too."},
        "batch_norm": {"type": "boolean", "description": "Batch norm in each hidden layer, before the ReLU."},
    },
}

TRAINING_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "description": "Training recipe (defaults: theraflow.pairs.train.BASE_TRAINING, then the task's).",
    "properties": {
        "max_epochs": {"type": "integer", "minimum": 1},
        "max_minutes": {"type": "number", "minimum": 0},
        "batch_mode": {"type": "string", "enum": ["random", "blocks"]},
        "batch_size": {"type": "integer", "minimum": 1},
        "target_group": {"type": "integer", "minimum": 1},
        "drug_group": {"type": "integer", "minimum": 1},
        "lr": {"type": "number", "exclusiveMinimum": 0},
        "weight_decay": {"type": "number", "minimum": 0},
        "scheduler": {"type": "string", "enum": ["onecycle", "cosine", "none"]},
        "warmup_frac": {"type": "number", "minimum": 0, "maximum": 1},
        "patience": {"type": "integer", "minimum": 1},
        "eval_every": {"type": "integer", "minimum": 1},
        "grad_clip": {"type": "number", "minimum": 0},
        "threads": {"type": "integer", "minimum": 1},
        "ema": {"type": ["number", "null"], "exclusiveMinimum": 0, "exclusiveMaximum": 1,
                "description": "Decay of an exponential moving average of the weights (null - none)."},
        "calibrate": {"type": "boolean", "description": "Regression: shrink toward the training fallback by a "
                                                        "weight fitted on the validation part."},
        "label_smoothing": {"type": "number", "minimum": 0, "maximum": 0.5, "description": "Classification."},
        "class_weights": {"type": "string", "enum": ["none", "inverse_sqrt"],
                          "description": "Multiclass: 1/sqrt(training count) per class (rare classes count more)."},
    },
}


def encoder_schema(kind: str) -> dict:
    """The schema of one entity kind's encoder config, from its registered encoders."""
    from theraflow.registry import ENTITIES, encoders

    ent = ENTITIES.get(kind)
    props: dict = {"type": {"type": "string", "x-registry-join": f"encoders.{kind}",
                            "description": f"A '+'-join of {kind} encoders."}}
    for name, spec in encoders(kind).items():
        if spec.params_key is None:
            for key, sub in spec.schema.items():
                props.setdefault(key, copy.deepcopy(sub))
        else:
            props[spec.params_key] = {"type": "object", "additionalProperties": False,
                                      "description": f"Parameters of the {name} encoder.",
                                      "properties": copy.deepcopy(spec.schema)}
    if any(spec.slot == "graph" for _, spec in encoders(kind).items()):
        props["pretrained"] = {
            "description": "Start the graph encoder from a pretrained bundle (`theraflow pretrain`): its folder "
                           "(fine-tuned), or {bundle, freeze}.",
            "anyOf": [{"type": "string"},
                      {"type": "object", "additionalProperties": False, "required": ["bundle"],
                       "properties": {"bundle": {"type": "string", "description": "The bundle's folder."},
                                      "freeze": {"type": "boolean", "default": False,
                                                 "description": "Keep its weights (and batch statistics) fixed."}}}]}
    return {"type": "object", "required": ["type"], "additionalProperties": False,
            "description": f"Encoder of {ent.description}.", "properties": props}


def model_schema() -> dict:
    """The resolved JSON schema of a pair-model config."""
    from theraflow.registry import ENTITIES
    from theraflow.schemas import resolve_schema

    props = {
        "name": {"type": "string", "description": "Model name (the folder name under models/)."},
        "description": {"type": "string", "description": "One line on what the model is."},
        "task": {"description": "The task(s) the config is for (default: any that accepts its encoders).",
                 "anyOf": [{"type": "string", "x-registry": "tasks"},
                           {"type": "array", "items": {"type": "string", "x-registry": "tasks"}}]},
        "featurizer": {"type": "object", "additionalProperties": False,
                       "description": "Graph featurizer of the molecule encoder's input.",
                       "properties": {"name": {"type": "string", "x-registry": "featurizers", "default": "default"},
                                      "params": {"type": "object", "default": {}}}},
        "head": HEAD_SCHEMA,
        "training": TRAINING_SCHEMA,
    }
    for kind in ENTITIES.names():
        props[ENTITIES.get(kind).config_key] = encoder_schema(kind)
    return resolve_schema({"$schema": "https://json-schema.org/draft/2020-12/schema",
                           "description": "A pair-model config (models/<name>/config.yaml)", "type": "object",
                           "additionalProperties": False, "required": ["name"], "properties": props})


def normalized(task, cfg: dict) -> dict:
    """The config with older spellings of each entity kind's encoder config translated."""
    cfg = dict(cfg)
    for kind in task.kinds():
        if kind.config_key in cfg:
            cfg[kind.config_key] = kind.normalize_config(cfg[kind.config_key])
    return cfg


def load_model_config(path: str | Path, task=None) -> dict:
    """A model config, validated (older spellings translated first); with ``task``, also checked to suit it."""
    from theraflow.registry import ENTITIES
    from theraflow.schemas import read_yaml_mapping, validate

    path = Path(path)
    cfg = read_yaml_mapping(path, "model config")
    for kind in ENTITIES.names():
        ent = ENTITIES.get(kind)
        if isinstance(cfg.get(ent.config_key), dict):
            cfg[ent.config_key] = ent.normalize_config(cfg[ent.config_key])
    cfg = validate(cfg, model_schema(), where=str(path), set_default=False)
    if task is not None:
        check_suits(cfg, task, str(path))
    return cfg


def check_suits(cfg: dict, task, where: str) -> None:
    from theraflow.errors import InputError

    named = cfg.get("task")
    if named is not None:
        names = [named] if isinstance(named, str) else list(named)
        if task.name not in names:
            raise InputError(f"{where}: task: this model is for {', '.join(names)}, not {task.name}")
    missing = [k.config_key for k in task.kinds() if k.config_key not in cfg]
    if missing:
        raise InputError(f"{where}: {', '.join(missing)} missing: task {task.name} joins "
                         f"{' and '.join(r.entity for r in task.roles)}")
