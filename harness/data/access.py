"""Messages for raw files that exist but cannot be read, kept apart from damaged files.

A file this user may not read is not corrupt, and telling the user to delete it and download it
again would throw away a good file; a folder standing where a file is expected is not a missing
file either. Every reader of raw data raises these instead of its "truncated or corrupt" message.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import DataError


def unreadable(path: Path) -> DataError:
    """The file exists but this user may not read it: fix the permissions, do not delete it."""
    return DataError(f"{path}: cannot be read (permission denied). The file is not damaged; this user may not "
                     f"read it. Fix its permissions (e.g. `chmod a+r {path}`) or run as its owner; do not delete it.")


def folder_not_file(path: Path) -> DataError:
    """A folder stands where a raw file is expected."""
    return DataError(f"{path}: is a folder, but a file is expected there. Move the folder away and put the "
                     f"dataset's file at that path (or point --data-dir / --raw at the right place).")


def check_readable_file(path: Path) -> None:
    """Raise :func:`folder_not_file` or :func:`unreadable` for `path` when either applies (nothing otherwise)."""
    if path.is_dir():
        raise folder_not_file(path)
    try:
        with path.open("rb"):
            pass
    except PermissionError:
        raise unreadable(path) from None
    except OSError:
        return
