"""A private JACK server with the dummy driver, for tests that need real MIDI ports.

Start and stop follow /work/shared/notes/midi-on-this-machine.md: poll jack_lsp until
ready; to stop, wait until only system:* ports are left (every client closed), then
SIGTERM and reap. SIGKILL is the last resort, after which the server's /dev/shm files
are removed so they do not fill the server registry.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

POLL_INTERVAL_S = 0.02
SHM_DIR = Path("/dev/shm")


class JackServerError(RuntimeError):
    """The private JACK server did not start or stop as it should."""


class JackServer:
    """``jackd -n NAME -p 64 -t 2000 -d dummy -r RATE -p PERIOD`` under a unique name."""

    def __init__(self, *, rate: int = 48000, period: int = 256) -> None:
        self.name = f"liveimpro-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.rate = rate
        self.period = period
        self._process: subprocess.Popen[bytes] | None = None
        # A file, not a pipe: jackd must never block on its own output.
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (kept open for the server's life)

    @property
    def env(self) -> dict[str, str]:
        """The variables that point libjack, rtmidi and the jack_* tools at this server."""
        return {"JACK_DEFAULT_SERVER": self.name, "JACK_NO_START_SERVER": "1"}

    def start(self, timeout: float = 10.0) -> None:
        command = ["jackd", "-n", self.name, "-p", "64", "-t", "2000"]
        command += ["-d", "dummy", "-r", str(self.rate), "-p", str(self.period)]
        self._process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, env=self._child_env()
        )
        deadline = time.monotonic() + timeout
        while not self.ports():
            if self._process.poll() is not None:
                raise JackServerError(f"jackd {self.name} exited at start: {self.log()}")
            if time.monotonic() > deadline:
                self._kill()
                raise JackServerError(f"jackd {self.name} not ready after {timeout} s")
            time.sleep(POLL_INTERVAL_S)

    def ports(self) -> list[str]:
        """The server's ports as jack_lsp lists them; empty while it is not up."""
        listing = subprocess.run(
            ["jack_lsp"], capture_output=True, text=True, env=self._child_env(), check=False
        )
        return listing.stdout.split("\n")[:-1] if listing.returncode == 0 else []

    def wait_for_ports(self, wanted: list[str], timeout: float = 5.0) -> None:
        """Wait until every port named in ``wanted`` exists."""
        self._wait_until(lambda: set(wanted) <= set(self.ports()), f"ports {wanted}", timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server; every client must be closed (or closing) by now."""
        if self._process is None:
            return
        try:
            self._wait_until(self._only_system_ports, "only system:* ports", timeout)
            self._process.send_signal(signal.SIGTERM)
            self._process.wait(timeout)
        except (JackServerError, subprocess.TimeoutExpired):
            self._kill()
            raise
        finally:
            self._process = None

    def log(self) -> str:
        """What jackd has printed so far (xruns show up here)."""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def _only_system_ports(self) -> bool:
        return all(port.startswith("system:") for port in self.ports())

    def _wait_until(self, condition: Callable[[], bool], what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise JackServerError(f"jackd {self.name}: no {what} after {timeout} s")
            time.sleep(POLL_INTERVAL_S)

    def _kill(self) -> None:
        self._process.kill()
        self._process.wait()
        for leftover in SHM_DIR.glob(f"jack*{self.name}*"):
            leftover.unlink(missing_ok=True)

    def _child_env(self) -> dict[str, str]:
        return {**os.environ, **self.env}
