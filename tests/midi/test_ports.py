"""Tests for liveimpro.midi (ports, wire, memory, rtmidi): names, parsing, panic, rtmidi on JACK."""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time

import mido
import pytest
from hypothesis import given
from hypothesis import strategies as st

from liveimpro.harness.jackserver import JackServer
from liveimpro.midi.ports import AmbiguousPortName, PortNameError, PortNotFound, resolve_port_name
from liveimpro.midi.rtmidi import RtMidiInput, RtMidiOutput, list_ports
from liveimpro.midi.wire import ALL_NOTES_OFF, WireNotes, reset_messages
from tests.jackpeers import MidiDump, MidiSeq
from tests.memoryports import MemoryInputPort, MemoryOutputPort

NOTE_ON_60 = bytes([0x90, 60, 100])
RECEIVE_TIMEOUT_S = 2.0


class FakeClock:
    def __init__(self) -> None:
        self.time = 0.0

    def __call__(self) -> float:
        return self.time


def memory_input() -> tuple[MemoryInputPort, FakeClock]:
    clock = FakeClock()
    return MemoryInputPort(now=clock), clock


def received(port: MemoryInputPort) -> list[mido.Message]:
    return list(port.iter_pending())


# --- names --------------------------------------------------------------------------------


PORTS = ["synth:midi_in", "synth:midi_in 2", "dump:input"]


def test_exact_name_wins_over_substring_matches() -> None:
    assert resolve_port_name("synth:midi_in", PORTS) == "synth:midi_in"


def test_unique_substring_selects_the_port() -> None:
    assert resolve_port_name("dump", PORTS) == "dump:input"


def test_unknown_name_lists_the_available_ports() -> None:
    with pytest.raises(PortNotFound) as raised:
        resolve_port_name("fluidsynth", PORTS)
    assert isinstance(raised.value, ValueError)
    assert raised.value.available == PORTS
    assert all(repr(name) in str(raised.value) for name in PORTS)


def test_ambiguous_name_lists_the_matching_ports() -> None:
    with pytest.raises(AmbiguousPortName) as raised:
        resolve_port_name("synth", PORTS)
    assert isinstance(raised.value, PortNameError)
    assert isinstance(raised.value, ValueError)
    assert raised.value.available == ["synth:midi_in", "synth:midi_in 2"]
    assert "'synth:midi_in 2'" in str(raised.value)


def test_unknown_name_with_no_ports_says_none() -> None:
    with pytest.raises(PortNotFound, match="available ports: none"):
        resolve_port_name("x", [])


def test_port_name_must_be_a_string() -> None:
    with pytest.raises(TypeError):
        resolve_port_name(3, PORTS)


def test_unknown_api_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"alsa.*coremidi.*jack.*winmm"):
        list_ports("oss")


# --- parsing --------------------------------------------------------------------------------


def test_message_carries_its_arrival_time() -> None:
    port, clock = memory_input()
    clock.time = 12.5
    port.inject(NOTE_ON_60)
    assert received(port) == [mido.Message("note_on", note=60, velocity=100, time=12.5)]
    assert port.dropped_bytes == 0


def test_running_status_repeats_the_last_status() -> None:
    port, _ = memory_input()
    port.inject(bytes([0x91, 60, 100, 62, 90, 60, 0]))
    assert [(m.type, m.channel, m.note, m.velocity) for m in received(port)] == [
        ("note_on", 1, 60, 100),
        ("note_on", 1, 62, 90),
        ("note_on", 1, 60, 0),
    ]


def test_clock_bytes_may_interleave_inside_a_message() -> None:
    port, _ = memory_input()
    port.inject(bytes([0x90, 0xF8, 60, 0xFA, 100]))
    assert [m.type for m in received(port)] == ["clock", "start", "note_on"]
    assert port.dropped_bytes == 0


def test_sysex_is_assembled_across_deliveries() -> None:
    port, _ = memory_input()
    port.inject(bytes([0xF0, 0x7E, 0x01]))
    port.inject(bytes([0xF8, 0x02, 0xF7]))
    messages = received(port)
    assert [m.type for m in messages] == ["clock", "sysex"]
    assert messages[1].data == (0x7E, 0x01, 0x02)


def test_system_common_messages_parse_and_cancel_running_status() -> None:
    port, _ = memory_input()
    port.inject(bytes([0xF2, 0x10, 0x20, 0x30]))  # song position, then a stray data byte
    port.inject(bytes([0xF6]))  # tune request
    messages = received(port)
    assert [m.type for m in messages] == ["songpos", "tune_request"]
    assert messages[0].pos == 0x10 | 0x20 << 7
    assert port.dropped_bytes == 1


@pytest.mark.parametrize(
    ("garbage", "dropped"),
    [
        (bytes([60, 100]), 2),  # data bytes with no status
        (bytes([0xF4, 0xF5, 0xF9, 0xFD]), 4),  # undefined status bytes
        (bytes([0x90, 60]), 2),  # a note-on cut short by the next status
        (bytes([0xF7]), 1),  # a sysex end with no sysex
        (bytes([0xF0, 1, 2]), 3),  # a sysex cut short by the next status
    ],
)
def test_garbage_is_dropped_and_counted(garbage: bytes, dropped: int) -> None:
    port, _ = memory_input()
    port.inject(garbage)
    port.inject(NOTE_ON_60)
    assert [m.bytes() for m in received(port)] == [list(NOTE_ON_60)]
    assert port.dropped_bytes == dropped


@given(st.binary(max_size=64))
def test_any_bytes_are_survived_and_a_later_message_still_parses(garbage: bytes) -> None:
    port, _ = memory_input()
    port.inject(garbage + bytes([0xF7]))  # the sysex end closes any sysex left open
    before = received(port)
    port.inject(NOTE_ON_60)
    assert received(port) == [mido.Message.from_bytes(NOTE_ON_60)]
    assert port.dropped_bytes <= len(garbage) + 1
    assert all(isinstance(message, mido.Message) for message in before)


def test_receive_poll_and_iter_pending() -> None:
    port, _ = memory_input()
    assert port.poll() is None
    assert port.receive(timeout=0) is None
    port.inject(NOTE_ON_60 + bytes([0x80, 60, 0]))
    assert port.receive(timeout=0).type == "note_on"
    assert port.poll().type == "note_off"
    assert list(port.iter_pending()) == []


def test_closed_input_refuses_to_receive() -> None:
    port, _ = memory_input()
    with port:
        pass
    assert port.closed
    with pytest.raises(ValueError, match="closed"):
        port.poll()


# --- output and panic -----------------------------------------------------------------------


def all_notes_off() -> list[mido.Message]:
    return [
        mido.Message("control_change", channel=channel, control=ALL_NOTES_OFF)
        for channel in range(16)
    ]


def test_send_and_send_at_are_stamped_with_their_times() -> None:
    clock = FakeClock()
    port = MemoryOutputPort(now=clock)
    clock.time = 3.0
    port.send(mido.Message("note_on", note=60))
    port.send_at(mido.Message("note_off", note=60), 4.5)
    assert [(m.type, m.time) for m in port.sent] == [("note_on", 3.0)]
    assert [(m.type, m.time) for m in port.scheduled] == [("note_off", 4.5)]


def test_panic_turns_off_sounding_notes_then_sends_all_notes_off() -> None:
    port = MemoryOutputPort(now=FakeClock())
    port.send(mido.Message("note_on", channel=2, note=64))
    port.send(mido.Message("note_on", note=60))
    port.send(mido.Message("note_on", note=62))
    port.send(mido.Message("note_off", note=62))
    port.send(mido.Message("note_on", note=67, velocity=0))  # a note-off too
    port.sent.clear()
    port.panic()
    expected = [
        mido.Message("note_off", channel=0, note=60),
        mido.Message("note_off", channel=2, note=64),
        *all_notes_off(),
    ]
    assert [m.copy(time=0) for m in port.sent] == expected


def test_panic_cancels_scheduled_messages_and_keeps_their_notes_silenced() -> None:
    port = MemoryOutputPort(now=FakeClock())
    port.send_at(mido.Message("note_on", note=60), 1.0)
    port.send_at(mido.Message("note_off", note=60), 2.0)  # may be cancelled: 60 still counts
    port.panic()
    assert port.scheduled == []
    assert [m.copy(time=0) for m in port.sent] == [
        mido.Message("note_off", note=60),
        *all_notes_off(),
    ]


def test_a_second_panic_has_no_notes_left_to_turn_off() -> None:
    port = MemoryOutputPort(now=FakeClock())
    port.send(mido.Message("note_on", note=60))
    port.panic()
    port.sent.clear()
    port.panic()
    assert [m.copy(time=0) for m in port.sent] == all_notes_off()


def test_leaving_the_context_panics_and_closes_once() -> None:
    port = MemoryOutputPort(now=FakeClock())
    with pytest.raises(RuntimeError), port:
        port.send(mido.Message("note_on", note=72))
        raise RuntimeError("the daemon died")
    assert port.closed
    assert port.sent[1].copy(time=0) == mido.Message("note_off", note=72)
    port.close()
    assert len(port.sent) == 1 + 1 + 16


def test_closed_output_refuses_to_send() -> None:
    port = MemoryOutputPort(now=FakeClock())
    port.close()
    with pytest.raises(ValueError, match="closed"):
        port.send(mido.Message("note_on"))


def test_wrong_types_are_refused() -> None:
    port = MemoryOutputPort(now=FakeClock())
    with pytest.raises(TypeError, match=r"mido\.Message"):
        port.send(NOTE_ON_60)
    with pytest.raises(TypeError, match="real number"):
        port.send_at(mido.Message("note_on"), "soon")


# --- rtmidi over a real JACK server -----------------------------------------------------------


@pytest.mark.jack
def test_rtmidi_output_reaches_an_independent_receiver(jack_server: JackServer) -> None:
    dump = MidiDump(jack_server)
    with RtMidiOutput(dump.port_name, name="rt out") as port:
        start = port.now() + 0.05
        for index, note in enumerate([60, 64, 67]):
            port.send_at(mido.Message("note_on", note=note, velocity=90), start + 0.02 * index)
        port.send(mido.Message("note_on", note=48, velocity=80))
        time.sleep(start + 0.1 - port.now())
    events = [data for _, data in dump.stop()]
    assert events[:4] == [bytes([0x90, 48, 80]), *(bytes([0x90, n, 90]) for n in (60, 64, 67))]
    assert events[4:] == [bytes([0x80, n, 64]) for n in (48, 60, 64, 67)] + [
        bytes([0xB0 | channel, ALL_NOTES_OFF, 0]) for channel in range(16)
    ]


@pytest.mark.jack
def test_rtmidi_input_receives_an_independent_sender(jack_server: JackServer) -> None:
    sequencer = MidiSeq(jack_server, 4800, [(0, 60, 1000), (2400, 63, 1000)])
    try:
        with RtMidiInput(sequencer.port_name, name="rt in") as port:
            messages = [port.receive(timeout=RECEIVE_TIMEOUT_S) for _ in range(8)]
    finally:
        sequencer.stop()
    notes = [(m.type, m.note) for m in messages]
    assert set(notes) == {("note_on", 60), ("note_off", 60), ("note_on", 63), ("note_off", 63)}
    assert all(a.time <= b.time for a, b in itertools.pairwise(messages))


@pytest.mark.jack
def test_list_ports_shows_our_virtual_ports(jack_server: JackServer) -> None:
    with RtMidiInput(name="listed in", client_name="lister"), RtMidiOutput(name="listed out"):
        ports = list_ports("jack")
    assert any(name.endswith(":listed in") for name in ports["outputs"])
    assert any(name.endswith(":listed out") for name in ports["inputs"])


@pytest.mark.jack
def test_rtmidi_unknown_peer_lists_the_available_ports(jack_server: JackServer) -> None:
    dump = MidiDump(jack_server)
    try:
        with pytest.raises(PortNotFound) as raised:
            RtMidiOutput("no such synth")
    finally:
        dump.stop()
    assert dump.port_name in raised.value.available


def wait_for_line(port, timeout: float = RECEIVE_TIMEOUT_S) -> str | None:
    """keep_connected() until it reports a change (the JACK server updates asynchronously)."""
    deadline = time.monotonic() + timeout
    while (line := port.keep_connected()) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    return line


@pytest.mark.jack
@pytest.mark.parametrize("backend", ["jack", "rtmidi"])
def test_a_peer_that_goes_away_is_reported_once_and_reconnected(
    jack_server: JackServer, backend: str
) -> None:
    from liveimpro.midi.jackmidi import JackInput, JackOutput

    open_output = JackOutput if backend == "jack" else RtMidiOutput
    synth_client = f"synth-{backend}"
    synth = JackInput(name="in", client_name=synth_client)
    with open_output(f"{synth_client}:in", client_name=f"player-{backend}") as player:
        assert player.keep_connected() is None
        player.send(mido.Message("note_on", channel=2, note=60, velocity=70))
        assert synth.receive(timeout=RECEIVE_TIMEOUT_S).note == 60  # sounding when unplugged
        synth.close()
        assert "went away" in wait_for_line(player)
        assert player.keep_connected() is None  # said once, not every second
        player.send(mido.Message("note_off", channel=2, note=60))  # lost on the way
        with JackInput(name="in", client_name=synth_client) as synth:
            assert "connected again" in wait_for_line(player)
            player.send(mido.Message("note_on", note=64, velocity=70))
            received = []
            while not received or received[-1].type != "note_on":
                received.append(synth.receive(timeout=RECEIVE_TIMEOUT_S))
            # What sounded when the connection was lost ends, and the channel resets, before
            # anything new is played (rtmidi may also deliver the note-off it held back).
            assert received[-1].note == 64
            firsts = {tuple(m.bytes()[:2]) for m in received[:-1]}
            assert {(0x82, 60), (0xB2, ALL_NOTES_OFF), (0xB2, 64)} <= firsts


def test_a_virtual_port_has_no_peer_to_lose() -> None:
    port = MemoryOutputPort(now=lambda: 0.0)
    assert port.peer is None and port.keep_connected() is None


def test_receive_returns_when_a_signal_handler_outlasts_its_timeout() -> None:
    """A SIGTERM under load must reach the daemon's loop (CPython 3.11's SimpleQueue hangs)."""
    port = MemoryInputPort(now=lambda: 0.0)
    handled = threading.Event()
    returned = threading.Event()
    rescued = []

    def slow_handler(_number, _frame) -> None:
        handled.set()
        end = time.perf_counter() + 0.005  # longer than the receive timeout
        while time.perf_counter() < end:
            pass

    def rescue() -> None:  # a regression would wait forever: unblock it, then fail
        if not returned.wait(5.0):
            rescued.append(True)
            port.inject(bytes([0x90, 60, 1]))

    previous = signal.signal(signal.SIGUSR1, slow_handler)
    try:
        threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGUSR1)).start()
        threading.Thread(target=rescue, daemon=True).start()
        while not handled.is_set():
            port.receive(timeout=0.002)
        returned.set()
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert rescued == []


def test_wire_notes_end_what_a_lost_receiver_held_once_a_connection_is_back() -> None:
    wire = WireNotes()
    for data in ([0x91, 60, 90], [0x91, 64, 90], [0x81, 60, 0], [0x92, 70, 80], [0xB2, 123, 0]):
        wire.written(bytes(data))
    assert wire.sounding == {(1, 64)}
    wire.connection_lost()
    wire.written(bytes([0x81, 64, 0]))  # sent while unplugged: never heard
    assert wire.connection_gained() == [
        bytes([0x81, 64, 0]),
        *(bytes([0xB0 | channel, control, 0]) for channel in (1, 2) for control in (123, 64)),
    ]
    assert wire.connection_gained() == reset_messages([1, 2])  # nothing hangs any more


def test_reset_receivers_sends_all_notes_off_and_sustain_off_and_remembers_the_channels() -> None:
    port = MemoryOutputPort(now=FakeClock())
    port.reset_receivers([1])
    assert [m.bytes() for m in port.sent] == [[0xB1, 123, 0], [0xB1, 64, 0]]
    assert port.wire.channels == {1}
