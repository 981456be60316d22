"""The MIDI system the demo and the benchmarks play on, with a private JACK server if need be.

Where there is no MIDI system (a server or a container: no sound hardware, no ALSA), a
private JACK server with the dummy driver is started, and stopped again on the way out.
While it runs, this process and its children are pointed at it (JACK_DEFAULT_SERVER).
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import Self

from liveimpro.harness.jackserver import JackServer
from liveimpro.midi.ports import InputPort, OutputPort
from liveimpro.midi.rtmidi import RtMidiInput, RtMidiOutput
from liveimpro.midi.system import ALSA_SEQUENCER, MidiSystemError, choose_api, jack_facts

JACK_INSTALL_HINT = "apt-get install --no-install-recommends jackd2"


class MidiSystem:
    """Chooses the MIDI system on entry (``private_jack`` forces a private server of our own).

    ``api`` is the daemon.api to use, ``units_per_second`` the ports' clock rate (JACK
    frames or time.monotonic() seconds), ``period`` the JACK period in frames (None off JACK).
    """

    def __init__(self, *, private_jack: bool = False, period: int = 256) -> None:
        self.private_jack = private_jack
        self.requested_period = period
        self.server: JackServer | None = None
        self.api = ""
        self.units_per_second = 1.0
        self.period: int | None = None
        self._saved_env: dict[str, str | None] = {}

    def __enter__(self) -> Self:
        facts = None if self.private_jack else jack_facts()
        api = choose_api(
            jack_running=facts is not None,
            alsa_sequencer=ALSA_SEQUENCER.exists(),
            platform=sys.platform,
        )
        if api is None or self.private_jack:
            api, facts = "jack", self._start_private_server()
        self.api = api
        if facts is not None:
            self.units_per_second, self.period = float(facts[0]), facts[1]
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.server is None:
            return
        try:
            self.server.stop()
        finally:
            self.server = None
            for name, value in self._saved_env.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def describe(self) -> str:
        if self.server is not None:
            return f"a private JACK server ({self.server.name}, period {self.period} frames)"
        if self.api == "jack":
            return f"the running JACK server (period {self.period} frames)"
        return f"{self.api} virtual ports"

    def open_listener(self, name: str) -> tuple[InputPort, str]:
        """A virtual input of ours, and the name another client connects to it by."""
        client_name = f"liveimpro-{name}"
        if self.api == "jack":
            from liveimpro.midi.jackmidi import JackInput

            port = JackInput(name=name, client_name=client_name)
            return port, port.port_name
        return RtMidiInput(name=name, api=self.api, client_name=client_name), name

    def open_performer(self, name: str, peer: str) -> OutputPort:
        """An output of ours connected to ``peer`` (exact name or a unique part)."""
        client_name = f"liveimpro-{name}"
        if self.api == "jack":
            from liveimpro.midi.jackmidi import JackOutput

            return JackOutput(peer, name=name, client_name=client_name)
        return RtMidiOutput(peer, name=name, api=self.api, client_name=client_name)

    def _start_private_server(self) -> tuple[int, int]:
        if shutil.which("jackd") is None:
            raise MidiSystemError(
                f"no MIDI system here (no JACK server, no ALSA sequencer) and no jackd "
                f"to start one: {JACK_INSTALL_HINT}"
            )
        server = JackServer(period=self.requested_period, prefix="liveimpro")
        server.start()
        self.server = server
        self._saved_env = {name: os.environ.get(name) for name in server.env}
        os.environ.update(server.env)
        return server.rate, server.period
