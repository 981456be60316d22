"""``liveimpro run`` as a child process, for the demo, the benchmarks and the end-to-end tests.

The child gets its settings as a config file of its own, and its control plane on ipc
endpoints in a private folder, so it never clashes with a daemon already running. It is
ready when it prints its ready line (liveimpro.control.ready), kept as ``ready``; ``stop``
sends SIGTERM, as a service manager would, and waits for the clean exit (every note off);
``kill`` ends it as a crash would.
CPU time and memory are read from /proc (Linux).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Self

from liveimpro.config.settings import Settings, settings_toml
from liveimpro.control.ready import Ready, parse_ready

STOP_TIMEOUT_S = 20.0
ABORT_WAIT_S = 5.0  # for the traceback a SIGABRT prints


class DaemonError(RuntimeError):
    """The daemon did not start or stop as it should; carries what it printed."""


def with_private_control(settings: Settings, folder: Path) -> Settings:
    """``settings`` with the control plane's sockets moved to ipc endpoints in ``folder``."""
    control = dataclasses.replace(
        settings.control, address=f"ipc://{folder}/control", events=f"ipc://{folder}/events"
    )
    return dataclasses.replace(settings, control=control)


class DaemonProcess:
    """Starts ``liveimpro run`` with ``settings``; ``python_options`` go to the interpreter,
    ``run_options`` to ``run`` (``--panel``, say).

    With ``private_control`` False the control plane listens where ``settings`` say: a
    client that must outlive one daemon (a panel, say) finds the next one there too.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        python_options: Sequence[str] = (),
        run_options: Sequence[str] = (),
        private_control: bool = True,
    ) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="liveimpro-daemon-")
        folder = Path(self._folder.name)
        if private_control:
            settings = with_private_control(settings, folder)
        self.settings = settings  # what it runs with
        self.control = self.settings.control  # where its control plane listens
        self.config = folder / "config.toml"  # for clients of its control plane, too
        self.config.write_text(settings_toml(self.settings))
        command = [sys.executable, *python_options, "-m", "liveimpro", "--config", str(self.config)]
        self.started_at = time.monotonic()
        # A session of its own: a Ctrl-C meant for us must not stop it out of turn.
        self.process = subprocess.Popen(
            [*command, "run", *run_options],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            env={**os.environ, "PYTHONFAULTHANDLER": "1"},  # SIGABRT prints every thread
        )
        self.lines: list[tuple[float, str]] = []  # (time.monotonic() when read, line)
        self.ready: Ready | None = None  # what its ready line says, once printed
        self._ready_at: float | None = None
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, name="daemon output", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def output(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def wait_ready(self, timeout: float = 30.0) -> float:
        """Seconds from the start to the ready line; DaemonError if it exits first."""
        if not self._ready.wait(timeout):
            self.abort()
            raise DaemonError(f"liveimpro run not ready after {timeout} s:\n{self.output}")
        if self._ready_at is None:
            status = self.process.wait()
            self._reader.join()
            raise DaemonError(f"liveimpro run exited with status {status}:\n{self.output}")
        return self._ready_at - self.started_at

    def running(self) -> bool:
        return self.process.poll() is None

    def memory_mb(self, field: str = "VmRSS") -> float:
        """A memory figure of /proc/PID/status in MB: VmRSS (resident now), VmHWM (its peak)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024 / 1e6
        raise ValueError(f"no {field} in /proc/{self.pid}/status")

    def cpu_seconds(self) -> float:
        """CPU time used so far, user plus system, all threads."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (name) "
        user, system = int(fields[11]), int(fields[12])  # utime, stime: fields 14 and 15
        return (user + system) / os.sysconf("SC_CLK_TCK")

    def stop(self, with_signal: int = signal.SIGTERM) -> int:
        """``with_signal`` (any stop signal: SIGTERM, SIGINT, SIGHUP, SIGQUIT) and wait for
        the exit; its status. DaemonError if it hangs (then it is killed)."""
        if self.running():
            self.process.send_signal(with_signal)
        try:
            status = self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.abort()
            name = signal.Signals(with_signal).name
            raise DaemonError(f"no exit {STOP_TIMEOUT_S} s after {name}:\n{self.output}") from None
        self._finish()
        return status

    def kill(self) -> None:
        """SIGKILL, as a crash would: the daemon silences nothing on its way out."""
        if self.running():
            self.process.kill()
        self.process.wait()
        self._finish()

    def abort(self) -> None:
        """SIGABRT, so that it prints where each thread hangs; SIGKILL if even that hangs."""
        if self.running():
            self.process.send_signal(signal.SIGABRT)
        try:
            self.process.wait(ABORT_WAIT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._finish()

    def _finish(self) -> None:
        """After the exit: the rest of its output read, its private folder removed."""
        self._reader.join()
        self._folder.cleanup()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()  # also after an error: a clean stop silences every note

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append((time.monotonic(), line.rstrip("\n")))
            if self.ready is None and (ready := parse_ready(line)) is not None:
                self.ready, self._ready_at = ready, self.lines[-1][0]
                self._ready.set()
        self._ready.set()  # the end of its output: whoever waits learns it exited
