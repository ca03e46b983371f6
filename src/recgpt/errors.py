"""The one base of every error recgpt raises on purpose, and the few kinds every area shares.

Library code raises a :class:`RecgptError` subclass whose message names what was wrong (a file and line, a
configuration key, an unknown name with the known ones). The ``recgpt`` command catches it once and prints
that message as one line with the class's ``exit_code``; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class RecgptError(Exception):
    """Bad input, bad configuration or a failed dependency, described for the person who can fix it."""

    exit_code = 1


class UnknownNameError(RecgptError, KeyError):
    """A name that is not registered; the message lists the names that are."""

    exit_code = 2

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class MissingInputError(RecgptError, FileNotFoundError):
    """A file or folder a command needs is not there; the message says which command makes it."""

    exit_code = 2
