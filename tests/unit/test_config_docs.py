"""Every config key in the schema is documented in config/README.md, and every config validates."""

import jsonschema
import yaml


def _keys(schema, prefix=""):
    for name, sub in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        yield path
        yield from _keys(sub, path + ".")
        extra = sub.get("additionalProperties")
        if isinstance(extra, dict):
            yield from _keys(extra, path + ".<name>.")
        if isinstance(sub.get("items"), dict):
            yield from _keys(sub["items"], path + "[].")


def test_every_schema_key_is_documented(repo):
    schema = yaml.safe_load((repo / "pipelines" / "schemas" / "config.schema.yaml").read_text())
    readme = (repo / "config" / "README.md").read_text()
    missing = [k for k in _keys(schema) if f"`{k}`" not in readme]
    assert not missing, f"config/README.md does not describe: {missing}"


def test_every_schema_key_has_a_description(repo):
    schema = yaml.safe_load((repo / "pipelines" / "schemas" / "config.schema.yaml").read_text())

    def walk(s, path):
        for name, sub in s.get("properties", {}).items():
            assert "description" in sub, f"{path}{name} has no description"
            walk(sub, f"{path}{name}.")
            if isinstance(sub.get("additionalProperties"), dict):
                walk(sub["additionalProperties"], f"{path}{name}.<name>.")
            if isinstance(sub.get("items"), dict):
                walk(sub["items"], f"{path}{name}[].")

    walk(schema, "")


def test_shipped_configs_validate(repo):
    schema = yaml.safe_load((repo / "pipelines" / "schemas" / "config.schema.yaml").read_text())
    for cfg in sorted((repo / "config").glob("*.yaml")):
        jsonschema.validate(yaml.safe_load(cfg.read_text()), schema)
