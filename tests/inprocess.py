"""The `theraflow` command line run in the test process (no interpreter start-up per call)."""

from __future__ import annotations

import contextlib
import io


def cli(args) -> tuple[int, str, str]:
    """`theraflow --no-progress <args>` in this process: (exit status, stdout, stderr).

    The same entry point as the console script (theraflow.cli.main.main). An exception
    escaping it fails the test: a user would see a traceback.
    """
    from theraflow.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(["--no-progress", *map(str, args)])
        except SystemExit as exc:  # argparse errors
            rc = exc.code if isinstance(exc.code, int) else 1
    return rc, out.getvalue(), err.getvalue()
