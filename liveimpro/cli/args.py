"""What every command takes from its arguments: the settings, and the options given."""

from __future__ import annotations

import argparse
import dataclasses
from typing import TypeVar

from liveimpro.config.fields import Section
from liveimpro.config.settings import Settings, load_settings
from liveimpro.errors import UsageError

S = TypeVar("S", bound=Section)


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The settings of ``--config`` (or the defaults), with a one-line error if unreadable."""
    try:
        return load_settings(args.config)
    except OSError as error:
        raise UsageError(f"cannot read config {args.config}: {error.strerror}") from error


def with_given(section: S, **changes: object) -> S:
    """A settings section with the options the user gave (None = not given)."""
    given = {key: value for key, value in changes.items() if value is not None}
    return dataclasses.replace(section, **given)
