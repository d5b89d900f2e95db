"""The project's own error types. The command line reports these as one line (exit status 2); anything else
is a bug and shows its traceback.

Each also derives from the built-in type a Python user would catch (ValueError for bad values,
FileNotFoundError for a missing corpus), so `except ValueError` keeps working.
"""
from __future__ import annotations


class LearngptError(Exception):
    """Base of every error learngpt raises on purpose: a mistake in what it was asked, said in one line."""


class UserError(LearngptError):
    """A mistake in the command line's flags or their combination."""


class ConfigError(LearngptError, ValueError):
    """A Config value out of range, or values that contradict each other."""


class InputError(LearngptError, ValueError):
    """Input a module cannot take (rank, length, width, token ids, dtype): the same error on both backends."""


class WriteError(LearngptError, OSError):
    """An output could not be written (a full disk, a folder in the file's place): the old file is unchanged."""


class DivergedError(LearngptError, ArithmeticError):
    """Training produced a non-finite loss, or a model holds non-finite weights."""
