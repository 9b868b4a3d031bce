"""Every config key in the schema is documented in config/README.md, and every config validates.

The schema is walked as the workflow reads it: resolved by :func:`theraflow.schemas.load_schema`
(registry names filled in, ``$ref`` inlined, one section per registered pair task). The sections the
resolver expanded from one definition (``x-expanded-from: "<task>"``: ``dti``, ``ddi`` and any
plugin's task) are documented once, under their placeholder: ``<task>.datasets.<name>.source``.
"""

import jsonschema
import yaml

from theraflow.schemas import load_schema


def _schema(repo) -> dict:
    return load_schema(repo / "pipelines" / "schemas" / "config.schema.yaml")


def _children(sub: dict, path: str):
    """(path, schema) of what a key holds: its properties, a mapping's values, a list's items (each
    alternative of a oneOf/anyOf)."""
    extra = sub.get("additionalProperties")
    if isinstance(extra, dict):
        yield path + ".<name>.", extra
    items = sub.get("items")
    if isinstance(items, dict):
        for alt in [items, *items.get("oneOf", []), *items.get("anyOf", [])]:
            yield path + "[].", alt


def _walk(schema: dict, prefix: str = ""):
    """(dotted key, its schema) of every key, expanded sections once under their placeholder."""
    for name, sub in schema.get("properties", {}).items():
        path = f"{prefix}{sub.get('x-expanded-from', name)}"
        yield path, sub
        yield from _walk(sub, path + ".")
        for child_prefix, child in _children(sub, path):
            yield from _walk(child, child_prefix)


def _keys(schema) -> dict[str, dict]:
    return dict(_walk(schema))


def test_the_resolved_schema_has_one_section_per_task(repo):
    from theraflow.registry import TASKS

    props = _schema(repo)["properties"]
    for task in TASKS.names():
        assert props[task]["x-expanded-from"] == "<task>", task
    keys = _keys(_schema(repo))
    assert "<task>.datasets.<name>.source" in keys and "<task>.splits[].kind" in keys
    assert not any(k.startswith(("dti.", "ddi.")) for k in keys), "a task's keys are documented once, as <task>"
    # the enums come from the registries
    assert set(keys["<task>.datasets.<name>.source"]["enum"]) >= {"table", "deepdta", "drugbank", "rdkit_demo",
                                                                   "demo"}
    assert {"binary", "multiclass", "regression"} <= set(keys["<task>.datasets.<name>.label"]["enum"])


def test_every_schema_key_is_documented(repo):
    readme = (repo / "config" / "README.md").read_text()
    missing = [k for k in _keys(_schema(repo)) if f"`{k}`" not in readme]
    assert not missing, f"config/README.md does not describe: {missing}"


def test_every_schema_key_has_a_description(repo):
    undescribed = [k for k, sub in _keys(_schema(repo)).items() if "description" not in sub]
    assert not undescribed, f"keys without a description in config.schema.yaml: {undescribed}"


def test_shipped_configs_validate(repo):
    schema = _schema(repo)
    configs = sorted((repo / "config").glob("*.yaml"))
    assert {c.name for c in configs} >= {"config.yaml", "davis.yaml", "kiba.yaml", "ddi.yaml"}
    for cfg in configs:
        jsonschema.validate(yaml.safe_load(cfg.read_text()), schema)


def test_the_readme_example_validates(repo):
    """The README's example of a user's binary table shipped as train/valid/test files is a valid config."""
    readme = (repo / "config" / "README.md").read_text()
    blocks = [b.split("```", 1)[0] for b in readme.split("```yaml\n")[1:]]
    examples = [yaml.safe_load(b) for b in blocks]
    assert any((e.get("dti") or {}).get("datasets") for e in examples), "no dti data-set example in the README"
    for e in examples:
        jsonschema.validate(e, _schema(repo))
    parts = [d for e in examples for d in (e.get("dti") or {}).get("datasets", {}).values() if d.get("parts")]
    assert parts, "no example of a data set shipped as train/valid/test files"
    assert parts[0].get("label") == "binary" or parts[0].get("threshold") is not None, parts[0]
