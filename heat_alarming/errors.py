"""How a command fails: one line a person can read.

A subcommand raises :class:`CommandError` with the message and, when it has one,
the exit status; ``heat_alarming.cli.main`` prints it as
``heat-alarming COMMAND: error: MESSAGE`` on stderr (whitespace folded to one line,
as argparse words its own usage errors) and returns the status.  Library code
raises its own exceptions; only the commands turn them into a ``CommandError``.
"""
from __future__ import annotations


class CommandError(Exception):
    """A command cannot go on: ``message`` says why in one line; exit with ``status``."""

    def __init__(self, message: str, status: int = 1):
        super().__init__(message)
        self.message = " ".join(str(message).split())
        self.status = status

    def __str__(self) -> str:
        return self.message


def missing_extra(what: str, extra: str, exc: ImportError) -> CommandError:
    """The error for an optional dependency that is not installed.

    ``what`` is the feature that needs it ("the demo"), ``extra`` the name of the
    setup.py extra that installs it ("heat"), ``exc`` the ImportError raised.
    """
    missing = getattr(exc, "name", None) or str(exc)
    return CommandError(f"{what} needs {missing}, which is not installed: "
                        f"pip install 'heat-alarming[{extra}]'")
