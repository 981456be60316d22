"""``liveimpro osc`` with a real OSC client and server (python-osc) over UDP loopback,
against ``liveimpro run`` on a private JACK server."""

from __future__ import annotations

import queue
import random
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_server import ThreadingOSCUDPServer
from pythonosc.udp_client import SimpleUDPClient

from liveimpro.control.client import Client, ControlError
from liveimpro.surfaces.osc import OscBridge, from_osc, to_osc
from tests.daemonrig import controlled_settings, play_phrase, start_daemon
from tests.jackpeers import MidiDump

WAIT_S = 20.0  # generous: the machine is shared


def test_osc_floats_come_back_as_meant_and_events_go_out_flat() -> None:
    assert from_osc(struct.unpack(">f", struct.pack(">f", 0.35))[0]) == 0.35
    assert from_osc(7) == 7 and from_osc("D dorian") == "D dorian"
    assert to_osc({"name": "thru", "value": True, "source": "control", "x": None}) == [
        "thru",
        1,
        "control",
    ]


class Listener:
    """An OSC server (python-osc) that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: queue.Queue[tuple[str, tuple]] = queue.Queue()
        dispatcher = Dispatcher()
        dispatcher.set_default_handler(lambda address, *args: self.messages.put((address, args)))
        self.server = ThreadingOSCUDPServer(("127.0.0.1", 0), dispatcher)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def next(self, address: str, timeout: float = WAIT_S) -> tuple:
        """The arguments of the next message to ``address`` (others are skipped)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                got, args = self.messages.get(timeout=left)
            except queue.Empty:
                break
            if got == address:
                return args
        raise AssertionError(f"no {address} in {timeout} s")

    def drain(self) -> None:
        while not self.messages.empty():
            self.messages.get_nowait()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Rig:
    """A daemon, the bridge serving in a thread, an OSC client and a listener for replies."""

    def __init__(self, server, model: Path) -> None:
        self.dump = MidiDump(server)
        settings = controlled_settings(model, self.dump.port_name, response_beats=4.0)
        self.daemon = start_daemon(settings, private_control=False)
        self.config, self.address = self.daemon.config, settings.control.address
        self.listener = Listener()
        self.bridge = OscBridge(settings.control, "127.0.0.1", 0, ("127.0.0.1", self.listener.port))
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.bridge.serve, args=(self.stopping,))
        self.thread.start()
        self.client = SimpleUDPClient("127.0.0.1", self.bridge.address[1])
        self.listener.next("/liveimpro/connected")

    def send_raw(self, data: bytes) -> None:
        self.client._sock.sendto(data, ("127.0.0.1", self.bridge.address[1]))

    def close(self) -> None:
        self.stopping.set()
        self.thread.join()
        self.bridge.close()
        self.listener.close()
        self.daemon.stop()
        self.dump.stop()


@pytest.fixture(scope="module")
def rig(jack_server, random_model_dir) -> Iterator[Rig]:
    live = Rig(jack_server, random_model_dir)
    try:
        yield live
    finally:
        live.close()


@pytest.mark.jack
@pytest.mark.slow
def test_set_changes_the_daemon_and_its_events_come_out_as_osc(rig: Rig) -> None:
    rig.listener.drain()
    rig.client.send_message("/liveimpro/set", ["temperature", 0.35])
    changed = rig.listener.next("/liveimpro/event/param_changed")
    assert changed == ("temperature", pytest.approx(0.35), "control")  # OSC floats: 32 bits
    with Client(rig.address, timeout=10.0) as daemon:
        assert daemon.get("temperature") == 0.35
    rig.client.send_message("/liveimpro/get", ["temperature"])
    assert rig.listener.next("/liveimpro/value") == ("temperature", pytest.approx(0.35))
    play_phrase()
    tick, pitch, velocity, source = rig.listener.next("/liveimpro/event/note")
    assert (pitch, velocity, source) == (60, 90, "phrase") and tick >= 0
    kind, *_ = rig.listener.next("/liveimpro/event/response_start")
    assert kind == "answer"
    rig.client.send_message("/liveimpro/panic", [])
    assert rig.listener.next("/liveimpro/event/action") == ("panic", "control")


@pytest.mark.jack
@pytest.mark.slow
def test_a_refusal_reads_as_it_does_over_zeromq(rig: Rig) -> None:
    with Client(rig.address, timeout=10.0) as daemon:
        for address, args, request in [
            ("/liveimpro/set", ["temperature", 9.0], ("set", {"name": "temperature", "value": 9})),
            (
                "/liveimpro/set",
                ["scale", "H major"],
                ("set", {"name": "scale", "value": "H major"}),
            ),
            ("/liveimpro/set", ["tempi", 100], ("set", {"name": "tempi", "value": 100})),
            ("/liveimpro/load_model", ["nonesuch"], ("load_model", {"name": "nonesuch"})),
        ]:
            rig.listener.drain()
            rig.client.send_message(address, args)
            (message,) = rig.listener.next("/liveimpro/error")
            with pytest.raises(ControlError) as refused:
                daemon.request(request[0], **request[1])
            assert message == str(refused.value)


def malformed_packets() -> list[tuple[bytes, str]]:
    """Packets that must each get an error reply: (packet, a part of the error)."""

    def message(address: str, *args) -> bytes:
        builder = OscMessageBuilder(address)
        for arg in args:
            builder.add_arg(arg)
        return builder.build().dgram

    return [
        (b"", "malformed"),
        (b"\x00\x01garbage", "malformed"),
        (b"/liveimpro/set\x00\x00", "set needs 'name'"),  # no type tags: no arguments
        (b"/liveimpro/set\x00\x00,sf\x00", "malformed"),  # tags, but no arguments
        (b"/liveimpro/set\x00\x00,i\x00\x00\x00\x01", "malformed"),  # an integer cut short
        (b"#bundle\x00" + b"\x00" * 8 + b"\x7f\xff\xff\xff/x", "malformed"),  # a bad size
        (message("/liveimpro/fly"), "unknown address '/liveimpro/fly'"),
        (message("/liveimpro/set", "temperature"), "set needs 'value'"),
        (message("/liveimpro/set", "temperature", 1.0, 2.0), "set takes name value; got 3"),
        (message("/liveimpro/set", "temperature", b"\x01\x02"), "got bytes"),
        (message("/liveimpro/panic", 1), "panic takes no arguments; got 1"),
        (message("/liveimpro/set", 3, 1.0), "'name' must be a string, got an integer"),
    ]


@pytest.mark.jack
@pytest.mark.slow
def test_malformed_packets_get_an_error_and_the_bridge_lives_on(rig: Rig) -> None:
    malformed_before = rig.bridge.malformed
    for packet, error in malformed_packets():
        rig.listener.drain()
        rig.send_raw(packet)
        (message,) = rig.listener.next("/liveimpro/error")
        assert error in message, (packet, message)
    garbage = random.Random(12)
    for _ in range(300):  # one at a time: a burst would overflow the sockets' buffers
        packet = garbage.randbytes(garbage.randrange(1, 200))
        rig.send_raw(packet)
        (message,) = rig.listener.next("/liveimpro/error")
        assert message.startswith(("malformed OSC packet", "unknown address")), (packet, message)
    rig.send_raw(b"/liveimpro/ping\x00,\x00\x00\x00")
    rig.listener.next("/liveimpro/pong")
    assert rig.thread.is_alive()
    assert rig.bridge.malformed - malformed_before >= 6 + 250  # random bytes are rarely OSC
    assert rig.bridge.packets >= len(malformed_packets()) + 301


@pytest.mark.jack
@pytest.mark.slow
def test_the_osc_command_bridges_until_sigterm(rig: Rig) -> None:
    listener = Listener()
    command = [sys.executable, "-m", "liveimpro", "--config", str(rig.config), "osc"]
    command += ["--port", "0", "--reply-port", str(listener.port)]
    bridge = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        line = bridge.stdout.readline()
        assert line.startswith("liveimpro osc: listening on udp 127.0.0.1:"), line
        port = int(line.split("udp 127.0.0.1:")[1].split(",")[0])
        assert listener.next("/liveimpro/connected") == (1,)
        SimpleUDPClient("127.0.0.1", port).send_message("/liveimpro/ping", [])
        listener.next("/liveimpro/pong")
    finally:
        bridge.terminate()
        output, _ = bridge.communicate(timeout=20)
        listener.close()
    assert bridge.returncode == 0 and "stopped" in output
