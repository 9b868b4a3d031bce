"""The one registry type: every name a config or the command line accepts is registered here, once.

A :class:`Registry` maps names to objects (a task, a featurizer, an encoder, a split function ...).
An entry comes from one of three places:

- a **package**: each public module of the package is one entry, named like the module, whose object
  is the module's attribute ``attribute`` (``FEATURIZER``, ``TASK``, ...). Names are listed without
  importing the modules (``pkgutil``), so the CLI and the config schema know them cheaply; a module is
  imported the first time its entry is used. Adding a featurizer or an encoder is adding one module.
- a **declaration**: ``declare(name, "module:attribute", **info)`` for entries whose objects live in a
  module of several (split kinds, molecule file formats, segmentation networks); ``info`` is what the
  CLI or a schema may read without importing the object (a description, a size divisor).
- a **registration** at run time: ``register(name, obj)``, which is what a plugin does.

Plugins are Python files or modules that register entries (a new pair task, say). They are loaded by
:func:`load_plugins`: the CLI's ``--plugin``, the workflow's ``plugins:`` key, or the environment
variable ``THERAFLOW_PLUGINS`` (``os.pathsep``-separated) for notebooks.

CLI choices and schema enums are derived from the registries (:func:`theraflow.schemas.resolve_schema`
fills ``x-registry`` annotations); a test checks that they agree.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PLUGIN_ENV = "THERAFLOW_PLUGINS"


@dataclass
class _Declared:
    target: str  # "module:attribute"
    info: dict = field(default_factory=dict)


class Registry:
    """Names → objects of one kind (see the module docstring)."""

    def __init__(self, kind: str, *, package: str | None = None, attribute: str | None = None,
                 providers: tuple[str, ...] = (), describe: str = "") -> None:
        self.kind = kind  # what an entry is, in messages: "featurizer", "pair task"
        self.package = package
        self.attribute = attribute
        self.providers = providers  # light modules that declare entries when imported
        self.describe = describe
        self._provided = False
        self._objects: dict[str, Any] = {}
        self._declared: dict[str, _Declared] = {}
        self._info: dict[str, dict] = {}

    # ------------------------------------------------------------------ filling
    def register(self, name: str, obj: Any = None, *, replace: bool = False, **info: Any):
        """Register ``obj`` as ``name`` (or use as a decorator: ``@REG.register("name")``)."""
        def put(o: Any) -> Any:
            if not replace and name in self._objects and self._objects[name] is not o:
                raise ValueError(f"a {self.kind} named {name!r} is already registered")
            self._objects[name] = o
            self._info.setdefault(name, {}).update(info)
            return o

        return put if obj is None else put(obj)

    def declare(self, name: str, target: str, **info: Any) -> None:
        """An entry whose object is ``module:attribute``, imported on first use; ``info`` is readable now."""
        self._declared[name] = _Declared(target, info)
        self._info.setdefault(name, {}).update(info)

    def unregister(self, name: str) -> None:
        """Forget a run-time registration (tests)."""
        self._objects.pop(name, None)
        self._info.pop(name, None)

    # ------------------------------------------------------------------ reading
    def _provide(self) -> None:
        if not self._provided:
            self._provided = True
            for module in self.providers:
                importlib.import_module(module)

    def _package_names(self) -> list[str]:
        self._provide()
        if not self.package:
            return []
        pkg = importlib.import_module(self.package)
        return [m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_")]

    def names(self) -> list[str]:
        """Every name, sorted: the package's modules, declarations and registrations."""
        return sorted(set(self._package_names()) | set(self._declared) | set(self._objects))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def info(self, name: str) -> dict:
        """What was declared about ``name`` without loading it (empty for package entries)."""
        self._check(name)
        return dict(self._info.get(name, {}))

    def _check(self, name: str) -> None:
        if name not in self.names():
            raise ValueError(f"unknown {self.kind} {name!r}; expected one of {', '.join(self.names()) or '(none)'}")

    def get(self, name: str) -> Any:
        """The object registered as ``name`` (imported on first use); a clear error for an unknown name."""
        if name in self._objects:
            return self._objects[name]
        self._check(name)
        if name in self._declared:
            module, _, attr = self._declared[name].target.partition(":")
            obj = getattr(importlib.import_module(module), attr)
        else:
            module = importlib.import_module(f"{self.package}.{name}")
            if not hasattr(module, self.attribute or ""):
                raise ValueError(f"{module.__name__} defines no {self.attribute}: it is not a {self.kind} module")
            obj = getattr(module, self.attribute)
        self._objects[name] = obj
        return obj

    def items(self) -> list[tuple[str, Any]]:
        return [(n, self.get(n)) for n in self.names()]

    def choices(self) -> list[str]:
        """The names, for ``argparse`` choices and schema enums."""
        return self.names()


# ---------------------------------------------------------------------------------------- the registries
# Each registry is defined here, once; the modules named by ``package`` or declared below hold the entries.
TASKS = Registry("pair task", package="theraflow.pairs.tasks", attribute="TASK",
                 describe="interaction tasks: which entities a pair joins (drug–target, drug–drug, ...)")
LABELS = Registry("label kind", package="theraflow.pairs.labels", attribute="LABEL",
                  describe="what a pair's label is: loss, metrics, selection metric, head width, plots, calibration")
ENTITIES = Registry("entity kind", package="theraflow.pairs.entities", attribute="ENTITY",
                    describe="what a pair joins: molecules, protein sequences (identity, default id, encoders)")
SOURCES = Registry("pair data source", package="theraflow.pairs.sources", attribute="SOURCE",
                   describe="where a pair data set comes from (a DeepDTA folder, DrugBank, your table, demos)")
SPLITS = Registry("split kind", providers=("theraflow.pairs.split_kinds",),
                  describe="how pairs are divided into train, valid and test")
FEATURIZERS = Registry("featurizer", package="theraflow.chem.featurizers", attribute="FEATURIZER",
                       describe="molecule → graph featurizers (feature-store keys carry their identity)")
READERS = Registry("molecule file format", providers=("theraflow.chem.formats",),
                   describe="molecule file formats the readers stream")
SEG_NETWORKS = Registry("segmentation network", providers=("theraflow.nn.seg_networks",),
                        describe="segmentation networks (each with its size divisor)")
ENGINES = Registry("scoring engine", package="theraflow.pairs.engines", attribute="ENGINE",
                   describe="what runs a trained pair model in a screen (torch, ONNX Runtime, int8)")
DOWNLOADS = Registry("download source", providers=("theraflow.download",),
                     describe="data sets the download rules fetch (URLs + sha256)")
FED_STRATEGIES = Registry("federated strategy", providers=("theraflow.imaging.federated.strategies",),
                          describe="how a federated run combines the sites' weights (Flower strategies)")

_ENCODERS: dict[str, Registry] = {}


def encoders(entity_kind: str) -> Registry:
    """The encoder registry of an entity kind (its package is named by the kind's ``encoders`` field)."""
    if entity_kind not in _ENCODERS:
        ent = ENTITIES.get(entity_kind)
        _ENCODERS[entity_kind] = Registry(f"{entity_kind} encoder", package=ent.encoders, attribute="ENCODER",
                                          describe=f"encoders of {entity_kind} entities")
    return _ENCODERS[entity_kind]


def _fixed_registries() -> dict[str, Registry]:
    return {"tasks": TASKS, "labels": LABELS, "entities": ENTITIES, "sources": SOURCES, "splits": SPLITS,
            "featurizers": FEATURIZERS, "readers": READERS, "seg_networks": SEG_NETWORKS, "downloads": DOWNLOADS,
            "fed_strategies": FED_STRATEGIES,
            "engines": ENGINES}


def all_registries() -> dict[str, Registry]:
    """Every registry by a short key (what ``x-registry`` in a schema names)."""
    out = _fixed_registries()
    for kind in ENTITIES.names():
        out[f"encoders.{kind}"] = encoders(kind)
    return out


def lookup(key: str) -> Registry:
    # a fixed key needs no other registry: the segmentation schema must not import the entity kinds
    fixed = _fixed_registries()
    if key in fixed:
        return fixed[key]
    regs = all_registries()
    if key not in regs:
        raise ValueError(f"no registry {key!r}; the registries are {', '.join(regs)}")
    return regs[key]


def load_plugins(specs: list[str] | tuple[str, ...] | None = None, *, environment: bool = True) -> list[str]:
    """Import plugin files (``path/to/file.py``) or modules (``package.module``) that register entries;
    with ``environment``, also those named in ``THERAFLOW_PLUGINS``. Each is loaded once. Returns them."""
    wanted = list(specs or [])
    if environment and os.environ.get(PLUGIN_ENV):
        wanted += [s for s in os.environ[PLUGIN_ENV].split(os.pathsep) if s]
    loaded = []
    for spec in wanted:
        _load_plugin(spec)
        loaded.append(spec)
    return loaded


_PLUGINS: dict[str, Any] = {}


def _load_plugin(spec: str) -> Any:
    from theraflow.errors import UserError

    if spec.endswith(".py") or os.sep in spec or "/" in spec:
        path = Path(spec).resolve()
        key = str(path)
        if key in _PLUGINS:
            return _PLUGINS[key]
        if not path.exists():
            raise UserError(f"plugin {spec}: file not found")
        name = f"theraflow_plugin_{abs(hash(key)):x}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(name, None)
            raise UserError(f"plugin {spec}: {type(exc).__name__}: {exc}") from exc
    else:
        key = spec
        if key in _PLUGINS:
            return _PLUGINS[key]
        try:
            module = importlib.import_module(spec)
        except ImportError as exc:
            raise UserError(f"plugin {spec}: cannot import it ({exc})") from None
    _PLUGINS[key] = module
    return module


def loaded_plugins() -> list[str]:
    return list(_PLUGINS)


def describe_all() -> dict[str, list[str]]:
    """{registry key: names} — what ``theraflow registry`` prints."""
    return {key: reg.names() for key, reg in all_registries().items()}


Factory = Callable[..., Any]
