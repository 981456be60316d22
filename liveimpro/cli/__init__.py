"""The ``liveimpro`` command line: one parser, a function per command."""

from liveimpro.cli.commands import main

__all__ = ["main"]
