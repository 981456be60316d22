"""Tests for liveimpro.midi.jackmidi over a private JACK server, against independent peers."""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque

import jack
import mido
import pytest

from liveimpro.harness.jackserver import JackServer
from liveimpro.midi.jackmidi import FRAME_COUNTER_WRAP, FrameCounter, JackInput, JackOutput
from liveimpro.midi.ports import AmbiguousPortName, PortNotFound
from liveimpro.midi.rtmidi import RtMidiOutput
from liveimpro.midi.wire import ALL_NOTES_OFF
from tests.jackpeers import MidiDump, MidiSeq, unique_client_name
from tests.jitter import measure_grid_jitter

pytestmark = pytest.mark.jack

RECEIVE_TIMEOUT_S = 2.0
LEAD_FRAMES = 4800  # 0.1 s at 48 kHz: far enough ahead to be queued before its cycle


def all_notes_off() -> list[bytes]:
    return [bytes([0xB0 | channel, ALL_NOTES_OFF, 0]) for channel in range(16)]


def wait_frames(port: JackOutput, until: int) -> None:
    time.sleep(max(0, until - port.now()) / port.samplerate)


def test_frame_times_keep_counting_past_jacks_32_bit_wrap() -> None:
    period = 256
    counter = FrameCounter(FRAME_COUNTER_WRAP - 300)  # a server up for 24.8 hours
    cycle_starts = [
        counter.start_cycle((FRAME_COUNTER_WRAP - 300 + n * period) % FRAME_COUNTER_WRAP)
        for n in range(1, 5)
    ]
    assert cycle_starts == [FRAME_COUNTER_WRAP - 300 + n * period for n in range(1, 5)]
    assert counter.cycle_start > FRAME_COUNTER_WRAP  # past the wrap, still rising
    assert counter.extend(10) == FRAME_COUNTER_WRAP + 10 < counter.cycle_start
    assert counter.extend(FRAME_COUNTER_WRAP - 5) == FRAME_COUNTER_WRAP - 5  # just before it


def test_a_counter_started_near_the_wrap_reads_its_own_frames_back() -> None:
    counter = FrameCounter(4_000_000_000)
    assert counter.extend(4_000_000_100) == 4_000_000_100
    assert counter.extend(3_999_999_000) == 3_999_999_000


def test_output_lands_on_the_exact_frames(jack_server: JackServer) -> None:
    dump = MidiDump(jack_server)
    schedule = [
        (0, mido.Message("note_on", note=60, velocity=100)),
        (1000, mido.Message("note_off", note=60)),
        (1001, mido.Message("sysex", data=[1, 2, 3])),
        (2500, mido.Message("clock")),
        (2501, mido.Message("note_on", channel=9, note=36, velocity=127)),
    ]
    with JackOutput(dump.port_name) as port:
        first = port.now() + LEAD_FRAMES
        for offset, message in reversed(schedule):  # out of order on purpose
            port.send_at(message, first + offset)
        wait_frames(port, first + 3000)
    events = dump.stop()[: len(schedule)]
    assert [data for _, data in events] == [bytes(message.bytes()) for _, message in schedule]
    assert [frame - events[0][0] for frame, _ in events] == [offset for offset, _ in schedule]


def test_a_past_time_goes_out_at_once(jack_server: JackServer) -> None:
    dump = MidiDump(jack_server)
    with JackOutput(dump.port_name) as port:
        now = port.now()
        port.send_at(mido.Message("note_on", note=70), now + LEAD_FRAMES)
        port.send_at(mido.Message("note_on", note=50), now - 100_000)
        wait_frames(port, now + 2 * LEAD_FRAMES)
    notes = [data[1] for _, data in dump.stop() if data[0] == 0x90]
    assert notes == [50, 70]


def test_panic_and_close_silence_every_sounding_note(jack_server: JackServer) -> None:
    dump = MidiDump(jack_server)
    port = JackOutput(dump.port_name)
    port.send(mido.Message("note_on", note=60))
    port.send(mido.Message("note_on", note=64))
    cancelled_at = port.now() + LEAD_FRAMES
    port.send_at(mido.Message("note_off", note=60, velocity=1), cancelled_at)
    port.panic()
    wait_frames(port, cancelled_at + LEAD_FRAMES)
    port.close()
    assert [data for _, data in dump.stop()] == [
        bytes([0x90, 60, 64]),
        bytes([0x90, 64, 64]),
        bytes([0x80, 60, 64]),
        bytes([0x80, 64, 64]),
        *all_notes_off(),  # from panic()
        *all_notes_off(),  # from close(): no notes left to turn off
    ]


def test_input_stamps_an_independent_senders_notes_with_exact_frames(
    jack_server: JackServer,
) -> None:
    sequencer = MidiSeq(jack_server, 4800, [(0, 60, 1000), (2400, 63, 1000)])
    try:
        with JackInput(sequencer.port_name, name="seq in") as port:
            messages = [port.receive(timeout=RECEIVE_TIMEOUT_S) for _ in range(9)]
    finally:
        sequencer.stop()
    # The loop: on 60 at 0, off 60 at 1000, on 63 at 2400, off 63 at 3400, loop at 4800.
    gap_after = {("note_on", 60): 1000, ("note_off", 60): 1400, ("note_on", 63): 1000}
    gap_after[("note_off", 63)] = 1400
    for before, after in itertools.pairwise(messages):
        assert after.time - before.time == gap_after[(before.type, before.note)]
    assert {(m.type, m.note) for m in messages} == set(gap_after)


def test_output_to_input_keeps_the_frame_time(jack_server: JackServer) -> None:
    with JackInput(name="loop in", client_name="loop-in") as listener:
        with JackOutput(listener.port_name, client_name="loop-out") as sender:
            when = sender.now() + LEAD_FRAMES
            sender.send_at(mido.Message("note_on", note=61, velocity=33), when)
            message = listener.receive(timeout=RECEIVE_TIMEOUT_S)
        assert message == mido.Message("note_on", note=61, velocity=33, time=when)


def test_garbage_events_are_dropped_and_counted(jack_server: JackServer) -> None:
    pending = deque([bytes([60, 100]), bytes([0xF4]), bytes([0x90, 60]), bytes([0x91, 62, 90])])
    raw = jack.Client(unique_client_name("garbage"), no_start_server=True)
    raw_port = raw.midi_outports.register("out")
    connected = threading.Event()  # events written before the connection would be lost

    def write_everything(frames: int) -> None:
        raw_port.clear_buffer()
        if not connected.is_set():
            return
        for offset in range(len(pending)):
            raw_port.write_midi_event(offset, pending.popleft())

    raw.set_process_callback(write_everything)
    try:
        with JackInput(name="garbage in") as port:
            raw.activate()
            raw.connect(raw_port, port.port_name)
            connected.set()
            message = port.receive(timeout=RECEIVE_TIMEOUT_S)
            assert (message.type, message.channel, message.note) == ("note_on", 1, 62)
            assert port.dropped_bytes == 2 + 1 + 2
            assert port.poll() is None
    finally:
        raw.deactivate()
        raw.close()


def test_unknown_peer_lists_the_available_ports(jack_server: JackServer) -> None:
    dump = MidiDump(jack_server)
    try:
        with pytest.raises(PortNotFound) as raised:
            JackOutput("no such synth")
    finally:
        dump.stop()
    assert dump.port_name in raised.value.available
    assert dump.port_name in str(raised.value)


def test_ambiguous_peer_lists_the_matching_ports_and_leaves_no_client(
    jack_server: JackServer,
) -> None:
    dumps = [MidiDump(jack_server), MidiDump(jack_server)]
    try:
        with pytest.raises(AmbiguousPortName) as raised:
            JackOutput("dump-", client_name="ambiguous")
    finally:
        for dump in dumps:
            dump.stop()
    assert sorted(raised.value.available) == sorted(dump.port_name for dump in dumps)
    assert not any(port.startswith("ambiguous") for port in jack_server.ports())


@pytest.mark.slow
def test_output_jitter_at_an_independent_receiver(jack_server: JackServer) -> None:
    native = measure_grid_jitter(jack_server, JackOutput, clock_rate=jack_server.rate)
    rtmidi = measure_grid_jitter(jack_server, RtMidiOutput, clock_rate=1.0)
    print(f"\nperiod {jack_server.period}, 500 notes on a 10 ms grid, |deviation| in ms:")
    for label, figures in (("JackOutput", native), ("RtMidiOutput", rtmidi)):
        print(
            f"{label:>12}: p50 {figures['p50']:.3f}  p99 {figures['p99']:.3f}"
            f"  max {figures['max']:.3f}  received {figures['received']}"
            f"  xruns {figures['xruns']}"
        )
    assert native["received"] >= 475 and rtmidi["received"] >= 475
    # Frame accuracy is a promise for the cycles JACK runs on time; an overloaded machine
    # makes every client miss deadlines (xruns), which no port can undo.
    if native["xruns"] == 0:
        assert native["received"] == 500
        assert native["p99"] <= 0.25  # rtmidi's figures are reported, not held to a bound
