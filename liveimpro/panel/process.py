"""``liveimpro panel`` as a child process, for the tests and the benchmark."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Self

ADDRESS_LINE = re.compile(r"liveimpro panel: (http://\S+)")
STOP_TIMEOUT_S = 20.0


class PanelError(RuntimeError):
    """The panel did not start."""


class PanelProcess:
    """``liveimpro panel`` for the daemon ``config`` describes, on a free port by default;
    ``url`` is the address it printed (with its token, off loopback)."""

    def __init__(self, config: Path, *options: str) -> None:
        command = [sys.executable, "-m", "liveimpro", "--config", str(config), "panel"]
        self.process = subprocess.Popen(
            [*command, "--port", "0", *options], stdout=subprocess.PIPE, text=True
        )
        line = self.process.stdout.readline()
        if (match := ADDRESS_LINE.search(line)) is None:
            self.process.kill()
            self.process.wait()
            raise PanelError(f"no address from liveimpro panel: {line!r}")
        self.url = match[1]

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> int:
        """SIGTERM and wait; its exit status."""
        self.process.terminate()
        return self.process.wait(STOP_TIMEOUT_S)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
