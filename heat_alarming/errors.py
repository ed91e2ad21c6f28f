"""How a command fails: one line a person can read.

A subcommand raises :class:`CommandError` with the message and, when it has one,
the exit status; ``heat_alarming.cli.main`` prints it as
``heat-alarming COMMAND: error: MESSAGE`` on stderr (whitespace folded to one line,
as argparse words its own usage errors) and returns the status.  Library code
raises its own exceptions; only the commands turn them into a ``CommandError``.

An optional dependency (a setup.py extra) that is not installed: a command calls
:func:`require` (or raises :func:`missing_extra`), library code imports it with
:func:`import_extra`; both say which extra installs it.
"""
from __future__ import annotations

import importlib


class CommandError(Exception):
    """A command cannot go on: ``message`` says why in one line; exit with ``status``."""

    def __init__(self, message: str, status: int = 1):
        super().__init__(message)
        self.message = " ".join(str(message).split())
        self.status = status

    def __str__(self) -> str:
        return self.message


def _missing_extra_text(what: str, extra: str, exc: ImportError) -> str:
    missing = getattr(exc, "name", None) or str(exc)
    return (f"{what} needs {missing}, which is not installed: "
            f"pip install 'heat-alarming[{extra}]'")


def missing_extra(what: str, extra: str, exc: ImportError) -> CommandError:
    """The error for an optional dependency that is not installed.

    ``what`` is the feature that needs it ("the demo"), ``extra`` the name of the
    setup.py extra that installs it ("heat"), ``exc`` the ImportError raised.
    """
    return CommandError(_missing_extra_text(what, extra, exc))


def require(module: str, what: str, extra: str):
    """Import ``module`` for a command, or fail with :func:`missing_extra`'s error.

    ``require("heat", "the demo", "heat")`` before anything imports Heat's own
    dependencies gives a user without the extra one line instead of a traceback.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise missing_extra(what, extra, exc) from None


def import_extra(module: str, what: str, extra: str):
    """Import ``module`` for library code: an ImportError that names the extra if absent.

    ``import_extra("oslo_messaging", "notifier://", "messaging")`` raises
    ``ImportError("notifier:// needs oslo_messaging, which is not installed: pip
    install 'heat-alarming[messaging]'")``, with ``name`` the module that is missing.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(_missing_extra_text(what, extra, exc),
                          name=exc.name, path=exc.path) from exc
