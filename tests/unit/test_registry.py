"""One registry type is the only source of names: the CLI's choices and the schemas' enums are the
registries' names, and a name registered at run time (a plugin's) appears in both."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from theraflow.registry import (
    DOWNLOADS,
    FEATURIZERS,
    LABELS,
    READERS,
    SEG_NETWORKS,
    SOURCES,
    SPLITS,
    TASKS,
    Registry,
    encoders,
)

REPO = Path(__file__).resolve().parents[2]


def _sub(parser: argparse.ArgumentParser, *path: str) -> argparse.ArgumentParser:
    for name in path:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser


def _choices(parser: argparse.ArgumentParser, option: str) -> list:
    return list(next(a for a in parser._actions if option in a.option_strings).choices)


@pytest.fixture(scope="module")
def parser():
    from theraflow.cli.main import build_parser

    return build_parser()


@pytest.fixture(scope="module")
def config_schema():
    from theraflow.schemas import load_schema

    return load_schema(REPO / "pipelines" / "schemas" / "config.schema.yaml")


def test_cli_choices_are_the_registries(parser):
    top = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(TASKS.names()) <= set(top.choices)
    assert _choices(_sub(parser, "featurize"), "--featurizer") == FEATURIZERS.names()
    assert _choices(_sub(parser, "standardize"), "--format") == READERS.names()
    assert list(next(a for a in _sub(parser, "download")._actions if a.dest == "source").choices) == DOWNLOADS.names()
    for task in TASKS.names():
        assert _choices(_sub(parser, task, "split"), "--kind") == SPLITS.names()
        sources = [s for s in SOURCES.names() if SOURCES.get(s).serves(task)]
        assert _choices(_sub(parser, task, "dataset"), "--source") == sources
        assert _choices(_sub(parser, task, "dataset"), "--label") == [k for k in LABELS.names()
                                                                       if k in TASKS.get(task).labels]


def test_schema_enums_are_the_registries(config_schema):
    props = config_schema["properties"]
    assert props["featurize"]["properties"]["featurizer"]["enum"] == FEATURIZERS.names()
    assert props["molecules"]["additionalProperties"]["properties"]["format"]["enum"] == READERS.names()
    for task in TASKS.names():
        ds = props[task]["properties"]["datasets"]["additionalProperties"]["properties"]
        assert ds["source"]["enum"] == SOURCES.names()
        assert ds["label"]["enum"] == [*LABELS.names(), None]
        assert ds["download"]["properties"]["source"]["enum"] == DOWNLOADS.names()
        assert props[task]["properties"]["splits"]["items"]["properties"]["kind"]["enum"] == SPLITS.names()


def test_model_schema_patterns_are_the_encoder_registries():
    import re

    from theraflow.pairs.model_config import model_schema

    schema = model_schema()
    for kind, key in (("molecule", "drug_encoder"), ("protein", "target_encoder")):
        pattern = schema["properties"][key]["properties"]["type"]["pattern"]
        names = encoders(kind).names()
        for name in names:
            assert re.match(pattern, name) and re.match(pattern, f"{name}+{names[0]}" if name != names[0] else name)
        assert not re.match(pattern, "nope")


def test_seg_schema_enum_is_the_network_registry():
    from theraflow.schemas import SCHEMA_DIR, load_schema

    schema = load_schema(SCHEMA_DIR / "seg_model.schema.yaml")
    assert schema["properties"]["network"]["properties"]["name"]["enum"] == SEG_NETWORKS.names()


def test_a_run_time_registration_reaches_the_cli_and_the_schema():
    """What a plugin does: register a name; the parser and the schema built afterwards offer it."""
    from theraflow.cli.main import build_parser
    from theraflow.schemas import load_schema

    SPLITS.register("every_other", lambda pairs, task, rng, **_: ["train", "test"] * (len(pairs) // 2))
    try:
        assert "every_other" in _choices(_sub(build_parser(), "dti", "split"), "--kind")
        schema = load_schema(REPO / "pipelines" / "schemas" / "config.schema.yaml")
        assert "every_other" in schema["properties"]["dti"]["properties"]["splits"]["items"]["properties"]["kind"]["enum"]
    finally:
        SPLITS.unregister("every_other")
    assert "every_other" not in SPLITS.names()


def test_package_entries_are_named_like_their_modules():
    """Each package entry's object says the name of its module (a task, a label kind, a source ...)."""
    for reg in (TASKS, LABELS, SOURCES):
        for name in reg.names():
            assert reg.get(name).name == name, (reg.kind, name)
    for kind in ("molecule", "protein"):
        for name, spec in encoders(kind).items():
            assert spec.name == name


def test_unknown_names_are_clear_errors():
    with pytest.raises(ValueError, match="unknown pair task 'nope'; expected one of ddi, dti"):
        TASKS.get("nope")
    reg = Registry("thing")
    reg.register("a", 1)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a", 2)
    reg.declare("b", "math:pi", description="a declared entry")
    assert reg.names() == ["a", "b"] and reg.info("b")["description"] == "a declared entry"
    assert abs(reg.get("b") - 3.14159) < 1e-4
