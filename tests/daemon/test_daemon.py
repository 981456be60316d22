"""End to end: ``liveimpro run`` on a private JACK server, between independent peers."""

from __future__ import annotations

import random
import re
import signal
import threading
import time
from collections import Counter, deque
from pathlib import Path

import jack
import mido
import pytest

from liveimpro.harness.benchsoak import sounding_at_end
from liveimpro.harness.jackserver import JackServer
from liveimpro.midi.jackmidi import JackOutput
from liveimpro.midi.wire import ALL_NOTES_OFF
from tests.daemonrig import (
    BPM,
    DAEMON_INPUT,
    DAEMON_OUTPUT,
    RESPONSE_CHANNEL,
    daemon_settings,
    play_phrase,
    receiver_port,
    response_notes,
    start_daemon,
)
from tests.jackpeers import MidiDump, unique_client_name
from tests.midicheck import stuck_notes

TICK_FRAMES = 48000 * 60 // (BPM * 24)
BARGE_PITCH = 50


def run_session(
    server,
    model,
    response_beats,
    listen_s,
    perform=play_phrase,
    thru=False,
    stop_signal=signal.SIGTERM,
) -> tuple[int, str, list]:
    """Start the daemon, ``perform()``, listen, ``stop_signal``; (status, output, dumped events)."""
    dump = MidiDump(server)
    settings = daemon_settings(model, dump.port_name, response_beats, thru=thru)
    try:
        with start_daemon(settings) as daemon:
            perform()
            time.sleep(listen_s)
            status = daemon.stop(stop_signal)
    finally:
        events = dump.stop()
    messages = [mido.Message.from_bytes(data, time=frame) for frame, data in events]
    return status, daemon.output, messages


@pytest.mark.jack
@pytest.mark.slow
def test_the_answer_arrives_on_the_tick_grid_and_every_note_ends(
    jack_server: JackServer, random_model_dir: Path
) -> None:
    beat_s = 60 / BPM
    listen_s = 1.5 * beat_s + 8 * beat_s + 1.0  # silence, quantise, the answer, slack
    xruns_before = jack_server.log().count("XRun")
    status, output, messages = run_session(
        jack_server, random_model_dir, response_beats=8.0, listen_s=listen_s
    )
    xruns = jack_server.log().count("XRun") - xruns_before
    assert status == 0, output
    assert "liveimpro: stopped" in output
    notes = response_notes(messages)
    note_ons = [m for m in notes if m.type == "note_on" and m.velocity > 0]
    assert note_ons, f"no answer; received {messages[:20]}; jackd: {jack_server.log()[-1500:]}"
    assert stuck_notes(notes) == set(), [m for m in messages if m.type != "clock"][-40:]
    # Frame accuracy is promised for the cycles JACK runs on time: a cycle that misses its
    # deadline (an xrun, under overload) may deliver late or not at all.
    if xruns:
        return
    assert next(m.type for m in messages if m.type in ("start", "clock")) == "start"
    # The grid: the clock pulses' phase (frame-exact); every answer note sits on it
    # within one JACK period. The shutdown panic's note-offs (just before its CC123s) go
    # out whenever SIGTERM comes, so they are left out (the CC123s sent on connecting come
    # before the answer).
    pulses = [m.time for m in messages if m.type == "clock"]
    phase = Counter(frame % TICK_FRAMES for frame in pulses).most_common(1)[0][0]
    answer = messages.index(note_ons[0])
    shutdown = next(i for i, m in enumerate(messages) if i > answer and m.type == "control_change")
    while messages[shutdown - 1].type == "note_off":
        shutdown -= 1
    for note in response_notes(messages[:shutdown]):
        off_grid = (note.time - phase) % TICK_FRAMES
        assert min(off_grid, TICK_FRAMES - off_grid) <= jack_server.period, note


@pytest.mark.jack
@pytest.mark.slow
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT])
def test_a_stop_signal_during_an_answer_leaves_no_note_sounding(
    jack_server: JackServer, random_model_dir: Path, stop_signal: int
) -> None:
    beat_s = 60 / BPM
    listen_s = 1.5 * beat_s + 12 * beat_s  # well inside a 64-beat answer
    status, output, messages = run_session(
        jack_server,
        random_model_dir,
        response_beats=64.0,
        listen_s=listen_s,
        stop_signal=stop_signal,
    )
    assert status == 0, output
    notes = response_notes(messages)
    assert any(m.type == "note_on" and m.velocity > 0 for m in notes), "no answer before SIGTERM"
    assert stuck_notes(notes) == set(), [m for m in messages if m.type != "clock"][-40:]
    last_note_on = max(i for i, m in enumerate(messages) if m.type == "note_on")
    silenced = {
        m.channel
        for m in messages[last_note_on:]
        if m.type == "control_change" and m.control == ALL_NOTES_OFF
    }
    assert silenced == set(range(16))
    assert any(m.type == "stop" for m in messages[last_note_on:])


@pytest.mark.jack
@pytest.mark.slow
def test_playing_during_an_answer_silences_it_at_once(
    jack_server: JackServer, random_model_dir: Path
) -> None:
    beat_s = 60 / BPM

    def phrase_then_barge_in() -> None:
        play_phrase()
        time.sleep(1.5 * beat_s + 4 * beat_s)  # into the 64-beat answer
        with JackOutput(DAEMON_INPUT, client_name=unique_client_name("barge")) as performer:
            performer.send(mido.Message("note_on", note=BARGE_PITCH, velocity=100))
            time.sleep(0.1)
            performer.send(mido.Message("note_off", note=BARGE_PITCH))
            time.sleep(0.05)

    status, output, messages = run_session(
        jack_server,
        random_model_dir,
        response_beats=64.0,
        listen_s=1.0,
        perform=phrase_then_barge_in,
        thru=True,  # the barge-in note shows at the receiver
    )
    assert status == 0, output
    barge = next(
        i
        for i, m in enumerate(messages)
        if m.type == "note_on" and m.note == BARGE_PITCH and m.channel == 0
    )
    before = response_notes(messages[:barge])
    assert any(m.type == "note_on" and m.velocity > 0 for m in before), "no answer to barge in on"
    assert stuck_notes(before) == set()  # every answer note was ended before the new note
    panic = messages[barge - 16 : barge]
    assert [(m.type, m.control, m.channel) for m in panic] == [
        ("control_change", ALL_NOTES_OFF, channel) for channel in range(16)
    ]
    assert panic[0].time == messages[barge].time  # in the very cycle the note was echoed
    after = response_notes(messages[barge:])
    assert not any(m.type == "note_on" and m.velocity > 0 for m in after)  # one note: no phrase


def flood_and_garbage() -> list[bytes]:
    """Bytes that form no message, 3000 notes on channels 4-16, orphan note-offs, and the
    garbage again: an xrun on a loaded machine can lose one cycle's events, not both."""
    rng = random.Random(7)
    events = []
    for _ in range(1500):
        channel, pitch = rng.randrange(3, 16), rng.randrange(128)
        events.append(bytes([0x90 | channel, pitch, rng.randrange(1, 128)]))
        events.append(bytes([0x80 | channel, pitch, 0]))
    events += [bytes([0x80 | rng.randrange(3, 16), rng.randrange(128), 0]) for _ in range(200)]
    garbage = [
        bytes([0x3C, 0x64]),  # data bytes with no status
        bytes([0xF4]),  # undefined status bytes
        bytes([0xF5, 0x10]),
        bytes([0x9F, 0x3C]),  # a note-on cut short
        bytes([0xF0, *range(100)]),  # a sysex that never ends
        bytes([0xF7]),  # an end of sysex with no start
        bytes(rng.randrange(128) for _ in range(300)),
    ]
    return [*garbage, *events, *garbage]


def send_raw(events: list[bytes], per_cycle: int = 200) -> None:
    """Write ``events`` into the daemon's input from a raw JACK client, ``per_cycle`` a cycle."""
    pending = deque(events)
    connected = threading.Event()  # events written before the connection would be lost
    raw = jack.Client(unique_client_name("flood"), no_start_server=True)
    port = raw.midi_outports.register("out")

    def write(frames: int) -> None:
        port.clear_buffer()
        if not connected.is_set():
            return
        for offset in range(min(per_cycle, len(pending), frames)):
            port.write_midi_event(offset, pending.popleft())

    raw.set_process_callback(write)
    raw.activate()
    try:
        raw.connect(port, DAEMON_INPUT)
        connected.set()
        deadline = time.monotonic() + 10
        while pending and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)
    finally:
        raw.deactivate()
        raw.close()


@pytest.mark.jack
@pytest.mark.slow
def test_a_flood_of_notes_and_garbage_leaves_the_daemon_answering(
    jack_server: JackServer, random_model_dir: Path
) -> None:
    beat_s = 60 / BPM
    # The receiver's JACK frame times tell the answer to the phrase from the flood's.
    with receiver_port() as receiver:
        settings = daemon_settings(random_model_dir, receiver.port_name, response_beats=4.0)
        with start_daemon(settings) as daemon:
            send_raw(flood_and_garbage())
            time.sleep(2 * beat_s)  # the flood was a phrase too; let its answer begin
            phrase_end = play_phrase()
            time.sleep(1.5 * beat_s + 4 * beat_s + 0.5)
            status = daemon.stop()
        messages = list(receiver.iter_pending())
    output = daemon.output
    assert status == 0, output
    dropped = int(re.search(r"(\d+) bytes of malformed MIDI dropped", output)[1])
    assert dropped >= 100  # at least one sysex that never ended
    notes = response_notes(messages)
    answer = [m for m in notes if m.type == "note_on" and m.velocity > 0 and m.time > phrase_end]
    assert answer, output
    assert stuck_notes(notes) == set()


def first_answer_after(messages: list[mido.Message], time_: int) -> int | None:
    return next(
        (
            m.time
            for m in response_notes(messages)
            if m.type == "note_on" and m.velocity > 0 and m.time > time_
        ),
        None,
    )


@pytest.mark.jack
@pytest.mark.slow
def test_a_pedal_left_down_by_an_unplugged_keyboard_delays_no_later_phrase(
    jack_server: JackServer, random_model_dir: Path
) -> None:
    beat = 60 / BPM
    with receiver_port() as receiver:
        settings = daemon_settings(random_model_dir, receiver.port_name, response_beats=8.0)
        with start_daemon(settings) as daemon:  # phrase.max_beats: 32 beats
            send_raw([bytes([0xB0, 64, 127])])  # pedal down, then the keyboard is unplugged
            time.sleep(0.2)
            last_off = play_phrase()  # a new performer's four notes
            time.sleep(12 * beat)
            messages = list(receiver.iter_pending())
            status = daemon.stop()
    output = daemon.output
    assert status == 0, output
    # Answered on the silence after the phrase, not when phrase.max_beats (32 beats) runs out.
    answer = first_answer_after(messages, last_off)
    assert answer is not None, output
    assert answer - last_off < 10 * beat * jack_server.rate


@pytest.mark.jack
@pytest.mark.slow
def test_with_thru_the_echoed_notes_of_a_vanished_performer_end(
    jack_server: JackServer, random_model_dir: Path
) -> None:
    with receiver_port() as receiver:
        settings = daemon_settings(random_model_dir, receiver.port_name, 4.0, thru=True)
        with start_daemon(settings) as daemon:
            send_raw([bytes([0x90, 60, 90]), bytes([0x90, 64, 90])])  # two keys held; gone
            time.sleep(1.0)
            messages = list(receiver.iter_pending())  # before the shutdown's panic
            status = daemon.stop()
    output = daemon.output
    assert status == 0, output
    echoed = [m for m in messages if m.type in ("note_on", "note_off") and m.channel == 0]
    assert {m.note for m in echoed if m.type == "note_on" and m.velocity} == {60, 64}
    assert stuck_notes(echoed) == set()


@pytest.mark.jack
@pytest.mark.slow
@pytest.mark.parametrize("reconnected", ["by hand", "by the daemon"])
def test_a_receiver_unplugged_and_plugged_back_hears_the_hanging_notes_end(
    jack_server: JackServer, random_model_dir: Path, reconnected: str
) -> None:
    by_hand = reconnected == "by hand"
    with receiver_port() as receiver:
        output = None if by_hand else receiver.port_name
        daemon = start_daemon(daemon_settings(random_model_dir, output, 4.0, thru=True))
        patchbay = jack.Client(unique_client_name("patchbay"), no_start_server=True)
        try:
            if by_hand:
                patchbay.connect(DAEMON_OUTPUT, receiver.port_name)
            with JackOutput(DAEMON_INPUT, client_name=unique_client_name("keys")) as keys:
                keys.send(mido.Message("note_on", note=60, velocity=90))  # echoed: it sounds
                time.sleep(0.3)
                patchbay.disconnect(DAEMON_OUTPUT, receiver.port_name)  # unplugged
                time.sleep(0.1)
                keys.send(mido.Message("note_off", note=60))  # lost on the way
                time.sleep(1.0)
                if by_hand:
                    patchbay.connect(DAEMON_OUTPUT, receiver.port_name)  # plugged back
                time.sleep(1.5)  # the daemon reconnects an --out port once a second
                # Read before the keyboard closes: its own panic would be echoed.
                messages = list(receiver.iter_pending())
            status = daemon.stop()
        finally:
            patchbay.close()
            daemon.kill()
    output = daemon.output
    assert status == 0, output
    echoed = [m for m in messages if m.type in ("note_on", "note_off") and m.channel == 0]
    assert [m.type for m in echoed][:1] == ["note_on"], messages[:20]
    assert sounding_at_end(messages, channel=0) == 0, [m for m in messages if m.type != "clock"]
    resets = {
        (m.channel, m.control) for m in messages if m.type == "control_change" and m.value == 0
    }
    assert {(RESPONSE_CHANNEL - 1, ALL_NOTES_OFF), (RESPONSE_CHANNEL - 1, 64)} <= resets


@pytest.mark.jack
@pytest.mark.slow
def test_a_restart_after_a_crash_ends_what_the_dead_daemon_left_sounding(
    jack_server: JackServer, random_model_dir: Path
) -> None:
    beat = 60 / BPM
    answer_channel = RESPONSE_CHANNEL - 1
    with receiver_port() as receiver:
        settings = daemon_settings(random_model_dir, receiver.port_name, response_beats=64.0)
        crashed = start_daemon(settings)
        try:
            play_phrase()
            time.sleep(1.5 * beat + 6 * beat)  # inside the answer
        finally:
            crashed.kill()  # SIGKILL: no note-off, no CC123
        before = list(receiver.iter_pending())
        with start_daemon(settings) as restarted:
            time.sleep(0.3)
            after = list(receiver.iter_pending())
            status = restarted.stop()
    output = restarted.output
    assert status == 0, output
    assert first_answer_after(before, 0) is not None, "no answer before the crash"
    resets = [
        (m.control, m.value)
        for m in after
        if m.type == "control_change" and m.channel == answer_channel
    ]
    assert (ALL_NOTES_OFF, 0) in resets and (64, 0) in resets, after[:20]
    assert sounding_at_end(before + after, answer_channel) == 0
