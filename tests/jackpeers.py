"""Independent JACK MIDI peers for tests: the jack_midi_dump and jack_midiseq tools."""

from __future__ import annotations

import re
import subprocess
import uuid

from jackserver import JackServer

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
