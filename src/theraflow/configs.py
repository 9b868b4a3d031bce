"""Model configs (models/<name>/config.yaml) read and validated against a task's JSON schema."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from theraflow.errors import InputError


def load_validated_yaml(path: str | Path, schema_path: str | Path) -> dict:
    """The YAML file at ``path``, validated against the schema; an error names the file and the key."""
    import jsonschema

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: model config not found")
    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid YAML ({exc})") from None
    schema = yaml.safe_load(Path(schema_path).read_text())
    try:
        jsonschema.validate(cfg, schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(map(str, exc.absolute_path)) or "(top level)"
        raise InputError(f"{path}: {where}: {_readable(exc)}") from None
    return cfg


_JOINED = re.compile(r"^\^\(([\w|]+)\)\(\\\+\(\1\)\)\*\$$")


def _readable(exc) -> str:
    """jsonschema's message, except that a '+'-joined choice pattern is spelled out as its choices."""
    if exc.validator == "pattern":
        joined = _JOINED.match(str(exc.validator_value))
        if joined:
            choices = joined.group(1).split("|")
            return (f"{exc.instance!r} is not one of {', '.join(choices)} "
                    f"or a '+'-join of them (e.g. '{choices[0]}+{choices[-1]}')")
    return exc.message
