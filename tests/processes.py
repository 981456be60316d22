"""The processes running on this machine (Linux /proc): did a test leave one behind?"""

from __future__ import annotations

from pathlib import Path


def running_commands() -> list[str]:
    commands = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            commands.append(cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:  # the process ended meanwhile
            continue
    return commands
