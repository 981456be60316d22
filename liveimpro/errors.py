"""The errors a user can fix, under one base.

Only a :class:`UserError` becomes a one-line message (the CLI prints it and exits with
status 2; the control server sends it as an error reply). Anything else is a bug and keeps
its traceback. The value and type errors of settings also subclass ValueError and
TypeError, as mido's checks do, so callers that catch those still catch them.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix: a setting, a file, a port, a request, no MIDI system."""


class UsageError(UserError, ValueError):
    """Command-line arguments, or a file they name, that do not work."""


class SettingValueError(UserError, ValueError):
    """A value out of range, an unknown name, or values that do not go together."""


class SettingTypeError(UserError, TypeError):
    """A value of the wrong type."""


class Refused(UserError, ValueError):
    """A request the current state does not allow (loop while a phrase is played, ...)."""
