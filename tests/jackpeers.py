"""Independent JACK MIDI peers: the jack_midi_dump, jack_midiseq and jack_midi_clock tools."""

from __future__ import annotations

import re
import signal
import subprocess
import time
import uuid

from liveimpro.harness.jackserver import JackServer

LOCATE_TIMEOUT_S = 1.0
# "  12032: b0 7b 00 control change ..." -> frame, then the event's bytes in hex
DUMP_LINE = re.compile(r"^\s*(\d+):((?: [0-9a-f]{2}(?= |$))+)")


def unique_client_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


class MidiDump:
    """``jack_midi_dump -a``: receives on ``port_name`` and reports frame-exact times.

    Its frames count from the tool's own start, so only differences between them are
    comparable with JACK frame times.
    """

    def __init__(self, server: JackServer) -> None:
        client_name = unique_client_name("dump")
        self.port_name = f"{client_name}:input"
        self._process = subprocess.Popen(
            ["jack_midi_dump", "-a", client_name],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # it reports its own exit there
            text=True,
        )
        server.wait_for_ports([self.port_name])

    def stop(self) -> list[tuple[int, bytes]]:
        """Stop the tool and return every event it received as (frame, bytes)."""
        self._process.terminate()
        output, _ = self._process.communicate(timeout=5)
        events = []
        for line in output.splitlines():
            if match := DUMP_LINE.match(line):
                events.append((int(match[1]), bytes.fromhex(match[2])))
        return events


class MidiSeq:
    """``jack_midiseq``: loops (start frame, note, length) notes on ``port_name``."""

    def __init__(
        self, server: JackServer, loop_frames: int, notes: list[tuple[int, int, int]]
    ) -> None:
        client_name = unique_client_name("seq")
        self.port_name = f"{client_name}:out"
        arguments = [str(value) for note in notes for value in note]
        self._process = subprocess.Popen(
            ["jack_midiseq", client_name, str(loop_frames), *arguments]
        )
        server.wait_for_ports([self.port_name])

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=5)


class MidiClock:
    """``jack_midi_clock``: MIDI clock at ``bpm`` to ``destinations`` while JACK transport rolls.

    It sends Start when the transport starts at frame 0, Continue when it starts anywhere
    else, and Stop when it stops; this class rolls the transport with a client of its own.
    """

    PORT = "jack_midi_clock:mclk_out"

    def __init__(self, server: JackServer, bpm: float, destinations: list[str]) -> None:
        import jack  # here, so that the other peers do not need JACK-Client

        # -B: the tempo is ours to set, whatever a timebase master says
        self._process = subprocess.Popen(
            ["jack_midi_clock", "-b", str(bpm), "-B", *destinations],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            server.wait_for_ports([self.PORT])
            self._transport = jack.Client(unique_client_name("transport"), no_start_server=True)
        except BaseException:
            self._stop_process()
            raise

    def start(self) -> None:
        """Roll the transport from its beginning: MIDI Start, then the pulses."""
        self._transport.transport_frame = 0
        deadline = time.monotonic() + LOCATE_TIMEOUT_S
        while self._transport.transport_frame != 0:  # a locate takes effect cycles later
            if time.monotonic() > deadline:
                raise RuntimeError(f"JACK transport not at frame 0 after {LOCATE_TIMEOUT_S} s")
            time.sleep(0.001)
        self._transport.transport_start()

    def stop(self) -> None:
        """Stop the transport: MIDI Stop, and no more pulses."""
        self._transport.transport_stop()

    def close(self) -> None:
        self._transport.close()
        self._stop_process()

    def _stop_process(self) -> None:
        self._process.send_signal(signal.SIGINT)  # how its manual says to quit it
        self._process.wait(timeout=5)
