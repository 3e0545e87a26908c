"""The errors fmnist raises on purpose: each carries one line a user can act on.

The command line prints the message alone (no traceback) and exits non-zero.
"""


class FmnistError(Exception):
    """Base of every error whose message is meant for the user as it is."""

    exit_code = 1


class DataError(FmnistError):
    """A data file is missing, corrupt, or not Fashion-MNIST."""
