"""Errors the CLI prints as one-line messages (no traceback): the user can fix them."""


class TheraflowError(Exception):
    """Base class of errors that are the user's to fix."""


class InputError(TheraflowError, ValueError):
    """Bad user input: the message names the file, the record and what was expected."""


class StoreError(TheraflowError, RuntimeError):
    """The feature store directory cannot be used (read-only, full, not a store)."""


class UserError(TheraflowError):
    """Any other problem the user can fix (wrong option, missing file)."""
