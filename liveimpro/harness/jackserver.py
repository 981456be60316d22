"""A private JACK server with the dummy driver, for tests, benchmarks and the demo.

Start: poll jack_lsp until ready. Stop: wait until only system:* ports are left (every
client closed), then SIGTERM and reap. SIGKILL is the last resort, after which the server's
/dev/shm files are removed.

JACK's server registry (/dev/shm/jack-shm-registry) has eight slots, and a server that did
not exit cleanly keeps its slot until a server of the same name starts. So the names come
from a pool of eight (``PREFIX-0`` to ``PREFIX-7``), which lets jackd reclaim our own dead
slots. Other names' dead slots go only with the registry itself, which is safe to remove
while no jackd runs and before this process has opened a JACK client (libjack keeps the
registry it first mapped).
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

POLL_INTERVAL_S = 0.02
SHM_DIR = Path("/dev/shm")
REGISTRY = SHM_DIR / "jack-shm-registry"
REGISTRY_SLOTS = 8  # MAX_SERVERS in JACK's shm.h
NAME_IN_USE = "already active"
REGISTRY_FULL = "Too many servers"
REGISTRY_FULL_HINT = (
    f" (JACK's registry is full of servers that did not exit cleanly: stop every jackd, "
    f"then remove {REGISTRY})"
)


class JackServerError(RuntimeError):
    """The private JACK server did not start or stop as it should."""


class JackServer:
    """``jackd -n NAME -p 64 -t 2000 -d dummy -r RATE -p PERIOD``; NAME is the first free
    one of ``PREFIX-0`` to ``PREFIX-7``, chosen by start()."""

    def __init__(self, *, rate: int = 48000, period: int = 256, prefix: str = "liveimpro") -> None:
        self.prefix = prefix
        self.name = ""
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
        for slot in range(REGISTRY_SLOTS):
            self.name = f"{self.prefix}-{slot}"
            # A live server would answer our readiness poll, so its name is skipped first.
            if not self.ports() and self._launch(timeout):
                return
        raise JackServerError(f"every name from {self.prefix}-0 to {self.name} is in use")

    def _launch(self, timeout: float) -> bool:
        """Start under self.name: True once it is up, False if a live server has the name."""
        self._log.seek(0)
        self._log.truncate()
        command = ["jackd", "-n", self.name, "-p", "64", "-t", "2000"]
        command += ["-d", "dummy", "-r", str(self.rate), "-p", str(self.period)]
        # A session of its own: a Ctrl-C meant for us must not kill it before our clients close.
        self._process = subprocess.Popen(
            command,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self._child_env(),
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not self.ports():
            if self._process.poll() is not None:
                self._process = None
                if NAME_IN_USE in self.log():
                    return False
                hint = REGISTRY_FULL_HINT if REGISTRY_FULL in self.log() else ""
                raise JackServerError(f"jackd {self.name} exited at start{hint}: {self.log()}")
            if time.monotonic() > deadline:
                self.kill()
                raise JackServerError(f"jackd {self.name} not ready after {timeout} s")
            time.sleep(POLL_INTERVAL_S)
        return True

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
            self.kill()
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

    def kill(self) -> None:
        """SIGKILL, reap, and remove the server's /dev/shm files (its registry slot stays)."""
        if self._process is None:
            return
        self._process.kill()
        self._process.wait()
        self._process = None
        for leftover in SHM_DIR.glob(f"jack*{self.name}*"):
            leftover.unlink(missing_ok=True)

    def _child_env(self) -> dict[str, str]:
        return {**os.environ, **self.env}


def jackd_running() -> bool:
    """Whether any jackd process, of any user, is alive on this machine."""
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "jackd":
                return True
        except OSError:  # the process ended while we looked
            continue
    return False


def remove_stale_registry() -> bool:
    """Remove JACK's server registry if no jackd runs (it then holds only dead slots).

    Call it before this process opens any JACK client; True if it removed one.
    """
    if jackd_running() or not REGISTRY.exists():
        return False
    REGISTRY.unlink(missing_ok=True)
    return True
