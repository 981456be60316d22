"""``liveimpro panel`` as a child process, and the system's Chromium to open it in, for the
tests and the benchmark."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Self

ADDRESS_LINE = re.compile(r"liveimpro panel: (http://\S+)")
STOP_TIMEOUT_S = 20.0
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# As root (CI) Chromium's sandbox cannot start; a container's /dev/shm is small (JACK uses it too).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-dev-shm-usage"]


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


def launch_chromium(playwright: Any) -> Any:
    """The system's Chromium, headless, through a running ``sync_playwright()``: Playwright's
    own browser downloads are never used."""
    if CHROMIUM is None:
        raise RuntimeError(
            "chromium is not installed (apt-get install --no-install-recommends chromium)"
        )
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
