"""A long-lived client of the daemon's control plane, for the bridges (panel, OSC).

:class:`DaemonLink` keeps one :class:`liveimpro.Client` (same addresses and CURVE keys as
``liveimpro ctl``) and two threads: one polls ``status``, which tells whether the daemon is
there at all (ZeroMQ reconnects by itself, but a SUB socket never says its publisher is
gone), and one passes on every event, with a ``missed`` event (liveimpro.control.events.Gap)
before one that followed a loss. A bridge can start before the daemon, outlive it and
see it come back. The daemon's real-time loop never waits on any of this.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from liveimpro.config.settings import ControlSettings
from liveimpro.control.client import Client, ControlError
from liveimpro.control.protocol import Request, error_reply

POLL_INTERVAL_S = 0.5
REQUEST_TIMEOUT_S = 1.0
EVENT_WAIT_S = 0.2  # how often the event thread checks whether it should stop
LOAD_TIMEOUT_S = 60.0  # load_model replies once the model is loaded (control.LOAD_TIMEOUT_S)


class DaemonLink:
    """Calls ``on_status(status or None)`` after each poll (None: no daemon) and
    ``on_event(event)`` for each event, from threads of its own, until ``close``."""

    def __init__(
        self,
        settings: ControlSettings,
        on_status: Callable[[dict[str, Any] | None], None],
        on_event: Callable[[dict[str, Any]], None],
        *,
        poll_interval: float = POLL_INTERVAL_S,
        timeout: float = REQUEST_TIMEOUT_S,
    ) -> None:
        self.settings = settings
        self.client = Client.from_settings(settings, timeout=timeout)
        self._on_status = on_status
        self._on_event = on_event
        self._poll_interval = poll_interval
        self._lock = threading.Lock()  # a REQ socket takes one request at a time
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._poll, name="liveimpro link status", daemon=True),
            threading.Thread(target=self._listen, name="liveimpro link events", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def request(self, request: Request) -> dict[str, Any]:
        """The daemon's reply to a checked request; an error reply when it refuses or is away."""
        try:
            if request.cmd == "load_model":  # slow: on a client of its own, the polls go on
                with Client.from_settings(self.settings, timeout=LOAD_TIMEOUT_S) as client:
                    return client.request(request.cmd, **request.params)
            with self._lock:
                return self.client.request(request.cmd, **request.params)
        except ControlError as error:
            return error_reply(str(error))

    def close(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join()
        self.client.close()

    def _poll(self) -> None:
        while not self._stopping.is_set():
            reply = self.request(Request("status"))
            self._on_status(reply if reply["ok"] else None)
            self._stopping.wait(self._poll_interval)

    def _listen(self) -> None:
        with self.client.subscribe() as events:
            while not self._stopping.is_set():
                event = events.receive(timeout=EVENT_WAIT_S)
                if events.gap is not None:
                    self._on_event(events.gap.as_event())
                if event is not None:
                    self._on_event(event)
