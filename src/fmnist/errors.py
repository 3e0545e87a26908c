"""The errors fmnist raises on purpose: each carries one line a user can act on.

The command line prints the message alone (no traceback) and exits non-zero; an OSError
on a user's path becomes such a line too (`describe_os_error`).
"""

import errno
import os
import re


class FmnistError(Exception):
    """Base of every error whose message is meant for the user as it is."""

    exit_code = 1


class DataError(FmnistError):
    """A data file is missing, corrupt, or not Fashion-MNIST."""


# What a user can do something about, said plainly; other errors keep the system's words.
_OS_REASONS = {
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOTDIR: "a part of this path is a file, not a folder",
    errno.EISDIR: "a folder, where a file is needed",
    errno.ENOSPC: "no space left on the disk",
    errno.EDQUOT: "disk quota exceeded",
    errno.ENOENT: "no such file or folder",
    errno.EEXIST: "already exists",
}


def describe_os_error(error: OSError) -> str:
    """'PATH: what is wrong' for an OSError, naming the path it happened on."""
    reason = _OS_REASONS.get(error.errno, error.strerror or str(error))
    if error.errno == errno.EEXIST and error.filename and os.path.isfile(error.filename):
        reason = _OS_REASONS[errno.ENOTDIR]  # mkdir(parents=True) met a file on the way
    return reason if error.filename is None else f"{error.filename}: {reason}"


def one_line(error: BaseException, limit: int = 200) -> str:
    """An error from a library as one line a user can read: an OSError as
    `describe_os_error` says it; otherwise its first line without TensorFlow's internals
    (`{{function_node ...}}`, `[Op:SaveV2]`), a full disk named as such."""
    if isinstance(error, OSError) and error.errno is not None:
        return describe_os_error(error)
    text = str(error)
    if "No space left on device" in text:
        return _OS_REASONS[errno.ENOSPC]
    text = re.sub(r"\{\{[^}]*\}\}|\[Op:[^\]]*\]", "", text)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = lines[0] if lines else type(error).__name__
    if len(line) <= limit:
        return line
    end = line.rfind(". ", 0, limit)  # whole sentences, never one cut in the middle
    return line[: end + 1] if end > 0 else line[: limit - 3].rstrip() + "..."
