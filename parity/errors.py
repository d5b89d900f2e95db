"""parity's own errors. A mistake in what parity was asked is a ParityUsageError, said in one line (a command line
reports it so, exit status 2); each also derives from the built-in type a Python user would catch. A comparison
above its bounds is a ParityError, an AssertionError whose message is the report.
"""

class ParityUsageError(Exception):
    """Base of every error parity raises on purpose for a mistake in what it was asked, said in one line."""


class ParityInputError(ParityUsageError, ValueError):
    """Modules or inputs that compare cannot run as given (not a parity failure): what to pass instead."""


class WeightMismatchError(ParityUsageError, ValueError):
    """Weights whose keys or shapes do not fit the model they are loaded into; nothing was loaded."""


class WeightsFileError(ParityUsageError, ValueError):
    """A weights file that is missing, truncated, corrupt, or not what was expected."""


class WeightsWriteError(ParityUsageError, OSError):
    """A weights file that could not be written (a full disk, a folder in its place): the old file is unchanged."""


class ParityError(AssertionError):
    """A comparison above its bounds; the message is the report (parity.check.Report)."""

    def __init__(self, report):
        super().__init__("\n" + report.table())
        self.report = report

    def __reduce__(self):  # travels (to another process) as the AssertionError it is, with its message
        return AssertionError, self.args


def first_line(err: BaseException) -> str:
    """The first line of err's message; its type's name where it has none."""
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__
