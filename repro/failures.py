"""One line for every failure a user can cause: the CLI's top-level handler and its messages.

The CLI turns the project's own errors (:class:`~harness.errors.UserError`), the operating-system
errors a user causes (permission, a file where a folder is expected, a full disk, a read-only
file system) and Ctrl-C into one message naming the path and the fix, with exit status 2 (130
for Ctrl-C). A traceback is printed only with ``--debug``. Values quoted in messages are cut to
a bounded excerpt, so a 30 MB line never floods a terminal.
"""

from __future__ import annotations

import errno

from harness.errors import UserError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
EXCERPT_CHARS = 200
MESSAGE_CHARS = 4000  # a whole message is cut there, whatever it quotes


class RunInterrupted(Exception):
    """Ctrl-C during a run: `message` says what was kept and the full command that resumes it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str:
    """``repr``-like text of `value`, cut to `limit` characters with the full length noted."""
    text = str(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters)"


def bounded_message(message: str, limit: int = MESSAGE_CHARS) -> str:
    """`message` cut in the middle to about `limit` characters, so its start (what) and end (the fix) stay."""
    if len(message) <= limit:
        return message
    head, tail = message[: limit // 2], message[-limit // 4:]
    return f"{head}… ({len(message) - len(head) - len(tail):,} characters left out) …{tail}"


_OS_FIXES: dict[int, str] = {
    errno.EACCES: "permission denied: the file is not damaged, this user may not use it; fix its permissions "
                  "(chmod/chown) or choose another location",
    errno.EPERM: "operation not permitted; fix the permissions or choose another location",
    errno.ENOTDIR: "a part of this path is a file, not a folder; choose a folder path",
    errno.EISDIR: "this is a folder where a file is expected; pass the file itself",
    errno.ENOSPC: "no space left on the device; free some space or choose another folder",
    errno.EDQUOT: "disk quota exceeded; free some space or choose another folder",
    errno.EROFS: "the file system is read-only; choose a writable folder",
    errno.ENAMETOOLONG: "the file name is too long; choose a shorter path",
    errno.ENOENT: "no such file or folder; check the path",
    errno.EEXIST: "it already exists; remove it or choose another path",
}


def describe_os_error(exc: OSError) -> str:
    """One sentence for an operating-system error: what failed, on which path, and the fix."""
    paths = [p for p in (exc.filename, exc.filename2) if p is not None]
    where = " -> ".join(excerpt(p) for p in paths) if paths else "(no path given)"
    fix = _OS_FIXES.get(exc.errno or 0) or f"{exc.strerror or type(exc).__name__}; check the path and retry"
    return f"{where}: {fix}"


def describe(exc: BaseException) -> str:
    """The one-line message for any failure the handler recognises (see :func:`is_user_caused`)."""
    if isinstance(exc, UserError):
        return str(exc)
    if isinstance(exc, OSError):
        return describe_os_error(exc)
    if isinstance(exc, MemoryError):
        return ("out of memory: the request is too large for this machine; use fewer seeds, a smaller "
                "profile or a machine with more memory")
    return f"{type(exc).__name__}: {excerpt(exc)}"


def is_user_caused(exc: BaseException) -> bool:
    """True for the failures the CLI reports in one line; anything else is a bug and keeps its traceback."""
    return isinstance(exc, (UserError, OSError, MemoryError))
