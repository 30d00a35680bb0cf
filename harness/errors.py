"""Errors a user can act on.

Every failure caused by input (a bad file, a bad flag, missing data) raises a subclass of
:class:`UserError`; the CLI prints its message without a traceback and exits non-zero. The
message must name the file, the line or field, and the fix.
"""


class UserError(Exception):
    """A problem with the user's input, explained in words the user can act on."""


class DataError(UserError):
    """A dataset file is missing, malformed, truncated or fails its checksum."""


class ConfigError(UserError):
    """A configuration file (paper.toml, catalog.toml, a profile) is invalid."""
