"""Pair tasks, one module each (``TASK = PairTask(...)``; see :mod:`theraflow.pairs.task`). No imports
here: the registry lists the modules without loading them. A plugin adds a task at run time with
``theraflow.registry.TASKS.register(name, PairTask(...))``."""
