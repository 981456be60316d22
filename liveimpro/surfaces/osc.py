"""``liveimpro osc``: the daemon's control plane as OSC over UDP, through python-osc.

In, on ``--port``: ``/liveimpro/<command> [ARG ...]`` for the commands in :data:`ADDRESSES`,
the arguments filling the command's parameters in order (``/liveimpro/set temperature 0.8``).
Each becomes the request ``liveimpro ctl`` would send, checked by the same rules and answered
by the daemon, so a refusal reads the same: it comes back as ``/liveimpro/error <message>``.

Out, to ``--reply-host``:``--reply-port``: errors; ``/liveimpro/pong`` and ``/liveimpro/value
<name> <value>`` for ``ping`` and ``get``; ``/liveimpro/connected 1|0`` when the daemon comes
or goes; and every event as ``/liveimpro/event/<topic>`` with its fields (README, Events) as
arguments in order, booleans as 1 or 0 and null fields left out; when events were lost on
the way, ``/liveimpro/event/missed <topic> <first seq> <count> <message>`` before the next one.

A packet that is no OSC is counted and answered with an error; the bridge goes on.
"""

from __future__ import annotations

import signal
import socket
import threading
from typing import Any

from pythonosc.osc_message import OscMessage
from pythonosc.osc_packet import OscPacket
from pythonosc.udp_client import SimpleUDPClient

from liveimpro.config.settings import ControlSettings
from liveimpro.control.daemonlink import DaemonLink
from liveimpro.control.events import ENVELOPE_KEYS
from liveimpro.control.protocol import ProtocolError, check_request, positional_params

PREFIX = "/liveimpro"
ADDRESSES = {
    f"{PREFIX}/{command}": command
    for command in ("set", "get", "panic", "mute", "unmute", "loop", "mutate", "load_model", "ping")
}
MAX_PACKET_BYTES = 65536
RECEIVE_WAIT_S = 0.2  # how often the receiving loop checks whether it should stop


def from_osc(value: Any) -> Any:
    """An OSC argument as a request value: OSC floats are 32-bit, so 0.35 arrives as
    0.3499999940395355; seven significant digits give back what was meant."""
    return float(f"{value:.7g}") if isinstance(value, float) else value


def to_osc(fields: dict[str, Any]) -> list[Any]:
    """An event's fields as OSC arguments, in order: booleans as 1 or 0, nulls left out."""
    return [
        int(value) if isinstance(value, bool) else value
        for value in fields.values()
        if value is not None
    ]


class OscBridge:
    """Receives OSC on ``host``:``port``; replies and events go to ``reply_to``."""

    def __init__(
        self,
        settings: ControlSettings,
        host: str,
        port: int,
        reply_to: tuple[str, int],
    ) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind((host, port))
        self.socket.settimeout(RECEIVE_WAIT_S)
        self.address = self.socket.getsockname()
        self.replies = SimpleUDPClient(*reply_to)
        self.packets = 0
        self.malformed = 0  # packets that were no OSC
        self.unsent = 0  # replies the network would not take
        self._connected: bool | None = None
        self.link = DaemonLink(settings, self._on_status, self._on_event)

    def serve(self, stopping: threading.Event) -> None:
        """Receive and answer packets until ``stopping`` is set."""
        while not stopping.is_set():
            try:
                data, _ = self.socket.recvfrom(MAX_PACKET_BYTES)
            except TimeoutError:
                continue
            self.handle(data)

    def handle(self, data: bytes) -> None:
        """One packet: each of its messages becomes a request, or an error reply."""
        self.packets += 1
        try:
            messages = [timed.message for timed in OscPacket(data).messages]
        except Exception as error:  # python-osc raises more than ParseError on some garbage
            self.malformed += 1
            self._send(f"{PREFIX}/error", [f"malformed OSC packet: {error}"[:200]])
            return
        for message in messages:
            self._answer(message)

    def _answer(self, message: OscMessage) -> None:
        command = ADDRESSES.get(message.address)
        if command is None:
            known = ", ".join(ADDRESSES)
            self._send(f"{PREFIX}/error", [f"unknown address {message.address[:60]!r}; {known}"])
            return
        try:
            values = [from_osc(value) for value in message.params]
            request = check_request({"cmd": command, **positional_params(command, values)})
        except ProtocolError as error:
            self._send(f"{PREFIX}/error", [str(error)])
            return
        reply = self.link.request(request)
        if not reply["ok"]:
            self._send(f"{PREFIX}/error", [reply["error"]])
        elif command == "ping":
            self._send(f"{PREFIX}/pong", [])
        elif command == "get" and "name" in reply:
            self._send(f"{PREFIX}/value", to_osc({"name": reply["name"], "value": reply["value"]}))

    def _on_event(self, event: dict[str, Any]) -> None:
        fields = {key: value for key, value in event.items() if key not in ENVELOPE_KEYS}
        self._send(f"{PREFIX}/event/{event['event']}", to_osc(fields))

    def _on_status(self, status: dict[str, Any] | None) -> None:
        connected = status is not None
        if connected != self._connected:
            self._connected = connected
            self._send(f"{PREFIX}/connected", [int(connected)])

    def _send(self, address: str, arguments: list[Any]) -> None:
        try:
            self.replies.send_message(address, arguments)
        except OSError:
            self.unsent += 1  # nobody listening there yet: OSC is fire and forget

    def close(self) -> None:
        self.link.close()
        self.socket.close()


def serve_osc(
    settings: ControlSettings, host: str, port: int, reply_host: str, reply_port: int
) -> None:
    """Run the bridge until SIGINT or SIGTERM."""
    bridge = OscBridge(settings, host, port, (reply_host, reply_port))
    stopping = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stopping.set())
    listening = "{}:{}".format(*bridge.address)
    print(
        f"liveimpro osc: listening on udp {listening}, replies and events to "
        f"{reply_host}:{reply_port}",
        flush=True,
    )
    try:
        bridge.serve(stopping)
    finally:
        bridge.close()
        print(f"liveimpro osc: stopped ({bridge.malformed} malformed packets dropped)", flush=True)
