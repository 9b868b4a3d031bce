"""JSON schemas (YAML files) whose name lists come from the registries, and validation with defaults.

Every config theraflow reads is validated by jsonschema against a schema file: the workflow config
(``pipelines/schemas/config.schema.yaml``), pair-model configs and segmentation model configs. A schema
never lists a registered name itself; it points at a registry and :func:`resolve_schema` fills the list in:

- ``x-registry: featurizers`` on a string: ``enum`` = the registry's names;
- ``x-registry-join: encoders.molecule`` on a string: a ``'+'``-join of the names (``gin+morgan+id``);
- ``x-registry-properties: {registry: tasks, schema: {...}}`` on an object: one property per name, each
  with (a copy of) ``schema`` — every pair task gets the same section;
- ``{$ref: "#/$defs/x"}`` is inlined (so that a resolved schema is one self-contained tree).

:func:`validate` fills defaults (jsonschema's documented ``extend_with_default`` recipe) and raises one
:class:`~theraflow.errors.InputError` naming the file, the key path and the problem.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

from theraflow.errors import InputError

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"


def load_schema(path: str | Path) -> dict:
    """A schema file, resolved (see the module docstring)."""
    return resolve_schema(yaml.safe_load(Path(path).read_text(encoding="utf-8")))


def joined_pattern(names: list[str]) -> str:
    alt = "|".join(re.escape(n) for n in names)
    return f"^({alt})(\\+({alt}))*$"


def resolve_schema(schema: dict) -> dict:
    """A deep copy of ``schema`` with registry annotations filled in and local ``$ref`` inlined."""
    from theraflow.registry import lookup

    root = copy.deepcopy(schema)
    defs = root.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(v) for v in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            ref = node["$ref"]
            if not ref.startswith("#/$defs/"):
                raise ValueError(f"only local $defs references are supported, got {ref!r}")
            target = copy.deepcopy(defs[ref.removeprefix("#/$defs/")])
            extra = {k: v for k, v in node.items() if k != "$ref"}
            return walk({**target, **extra})
        out = {k: walk(v) for k, v in node.items() if k != "$defs"}
        if "x-registry" in out:
            out["enum"] = lookup(out["x-registry"]).names()
            if "null" in (out.get("type") or []):
                out["enum"] = [*out["enum"], None]
        if "x-registry-join" in out:
            out["pattern"] = joined_pattern(lookup(out["x-registry-join"]).names())
        if "x-registry-properties" in out:
            spec = out["x-registry-properties"]
            props = out.setdefault("properties", {})
            for name in lookup(spec["registry"]).names():
                sub = walk(copy.deepcopy(spec["schema"]))
                sub["x-expanded-from"] = spec.get("placeholder", f"<{spec['registry']}>")
                props.setdefault(name, sub)
        return out

    return walk(root)


def _with_defaults():
    import jsonschema
    from jsonschema import validators

    base = jsonschema.Draft202012Validator
    validate_properties = base.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for prop, sub in properties.items():
                if isinstance(sub, dict) and "default" in sub:
                    instance.setdefault(prop, copy.deepcopy(sub["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return validators.extend(base, {"properties": set_defaults})


_JOINED = re.compile(r"^\^\((.+)\)\(\\\+\(\1\)\)\*\$$")


def readable(error) -> str:
    """jsonschema's message, with a '+'-joined choice spelled out and enums listed plainly."""
    if error.validator == "pattern":
        joined = _JOINED.match(str(error.validator_value))
        if joined:
            choices = [re.sub(r"\\(.)", r"\1", c) for c in joined.group(1).split("|")]
            return (f"{error.instance!r} is not one of {', '.join(choices)} "
                    f"or a '+'-join of them (e.g. '{choices[0]}+{choices[-1]}')")
    if error.validator == "enum":
        return f"{error.instance!r} is not one of {', '.join(map(str, error.validator_value))}"
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(map(str, (error.schema.get("properties") or {}).keys()))
        extra = sorted(map(str, set(map(str, error.instance)) - set(allowed)))
        if extra and allowed:
            return f"unknown key(s) {', '.join(map(repr, extra))}; expected one of {', '.join(allowed)}"
    return error.message


def first_error(instance: Any, schema: dict):
    import jsonschema

    return jsonschema.exceptions.best_match(_with_defaults()(copy.deepcopy(schema)).iter_errors(copy.deepcopy(instance)))


def validate(instance: Any, schema: dict, *, where: str, set_default: bool = True) -> Any:
    """``instance`` validated against the resolved ``schema``: a copy with defaults filled in (or the
    instance itself, unchanged, with ``set_default=False``). An error names ``where`` (the file or files),
    the key path and the problem."""
    import jsonschema

    out = copy.deepcopy(instance)
    validator = (_with_defaults() if set_default else jsonschema.Draft202012Validator)(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(out))
    if error is not None:
        # the defaults filled before the error must not hide it: report on the instance as given
        key = ".".join(map(str, error.absolute_path)) or "(top level)"
        raise InputError(f"{where}: {key}: {readable(error)}")
    return out if set_default else instance


def read_yaml_mapping(path: str | Path, what: str = "config", error=InputError) -> dict:
    """A YAML file holding a mapping (an empty file is an empty one); ``error`` names the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: {what} not found")
    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise error(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(cfg, dict):
        raise error(f"{path}: expected a mapping at the top level")
    return cfg


def load_validated_yaml(path: str | Path, schema: dict | str | Path, *, set_default: bool = False) -> dict:
    """The YAML file at ``path``, validated against ``schema`` (a resolved dict or a schema file)."""
    cfg = read_yaml_mapping(path)
    if not isinstance(schema, dict):
        schema = load_schema(schema)
    return validate(cfg, schema, where=str(path), set_default=set_default)
