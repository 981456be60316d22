"""End to end: ``liveimpro run`` on a private JACK server, between independent peers."""

from __future__ import annotations

import os
import random
import re
import select
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from pathlib import Path
from types import SimpleNamespace

import jack
import mido
import pytest
from midicheck import stuck_notes

from liveimpro.control.ready import parse_ready
from liveimpro.daemon import MESSAGES_PER_TURN, TERMINATING_SIGNALS, StopSignals, serve
from liveimpro.harness.benchdaemon import sounding_at_end
from liveimpro.harness.jackpeers import MidiClock, MidiDump, unique_client_name
from liveimpro.harness.jackserver import JackServer
from liveimpro.midi.jackmidi import JackInput, JackOutput
from liveimpro.midi.memory import MemoryInputPort, MemoryOutputPort
from liveimpro.midi.wire import ALL_NOTES_OFF

DAEMON_INPUT = "liveimpro-in:liveimpro in"
DAEMON_OUTPUT = "liveimpro-out:liveimpro out"
BPM = 200  # a beat is 14400 frames at 48 kHz, a tick 600
TICK_FRAMES = 48000 * 60 // (BPM * 24)
RESPONSE_CHANNEL = 2  # as configured (1-based); mido's channel 1
STARTUP_TIMEOUT_S = 30.0  # generous: imports and model loading on a loaded machine
NOTE_FRAMES = 4800  # the performer's notes: 0.1 s long, 0.15 s apart
NOTE_SPACING = 7200
PHRASE = [60, 64, 67, 72]
BARGE_PITCH = 50


def write_config(
    path: Path, response_beats: float, daemon: str = "", control: tuple[str, str] | None = None
) -> Path:
    """The test configuration; ``daemon`` holds extra lines for its [daemon] section.

    The control plane listens on ``control`` (address, events), by default on ipc endpoints
    beside the file: a daemon already serving the default port must not stop the test's.
    """
    address, events = control or (f"ipc://{path.parent}/control", f"ipc://{path.parent}/events")
    path.write_text(
        f"[sampling]\nseed = 1\n"
        f"[continuation]\nbeats = {response_beats}\n"
        f"[phrase]\nsilence_beats = 1.0\nmin_notes = 2\n"
        f'[response]\nquantize = "beat"\nchannel = {RESPONSE_CHANNEL}\nlookahead_beats = 1.0\n'
        f"[clock]\nbpm = {BPM}.0\nsend_clock = true\n"
        f"[daemon]\n{daemon}\n"
        f'[control]\naddress = "{address}"\nevents = "{events}"\n'
    )
    return path


class Daemon:
    """``liveimpro run`` as a subprocess playing into ``output`` (None: its own port)."""

    def __init__(self, config: Path, model: Path, output: str | None) -> None:
        self.printed: list[str] = []  # what it printed before it was ready
        command = [sys.executable, "-m", "liveimpro", "--config", str(config), "run"]
        command += ["--model", str(model), "--api", "jack"]
        command += [] if output is None else ["--out", output]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONFAULTHANDLER": "1"},
        )
        try:
            self._wait_until_listening()
        except BaseException:
            self.process.kill()
            self.process.communicate()
            raise

    def _wait_until_listening(self) -> None:
        """Until its ready line: by then both ports are active and can be connected."""
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not self.printed or parse_ready(self.printed[-1]) is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.process.stdout], [], [], remaining)[0]:
                raise AssertionError(f"not listening after {STARTUP_TIMEOUT_S} s: {self.printed}")
            line = self.process.stdout.readline()
            if not line:
                raise AssertionError(f"exited at start: {''.join(self.printed)}")
            self.printed.append(line)

    def terminate(self, number: int = signal.SIGTERM) -> tuple[int, str]:
        """Signal ``number`` (SIGTERM); the exit status and everything it printed."""
        self.process.send_signal(number)
        try:
            output, _ = self.process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            # SIGABRT makes faulthandler print where every thread hangs
            self.process.send_signal(signal.SIGABRT)
            output, _ = self.process.communicate(timeout=20)
            raise AssertionError(f"no exit 20 s after SIGTERM:\n{output}") from None
        return self.process.returncode, "".join(self.printed) + output

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


def play_phrase() -> int:
    """Play PHRASE into the daemon from an independent client; its last note-off's frame."""
    with JackOutput(DAEMON_INPUT, client_name=unique_client_name("performer")) as performer:
        first = performer.now() + 4800
        for index, pitch in enumerate(PHRASE):
            on = first + index * NOTE_SPACING
            performer.send_at(mido.Message("note_on", note=pitch, velocity=90), on)
            performer.send_at(mido.Message("note_off", note=pitch), on + NOTE_FRAMES)
        last_off = first + (len(PHRASE) - 1) * NOTE_SPACING + NOTE_FRAMES
        time.sleep((last_off - performer.now()) / performer.samplerate + 0.05)
    return last_off


def run_session(
    server,
    tmp_path,
    model,
    response_beats,
    listen_s,
    perform=play_phrase,
    daemon_config="",
    stop_signal=signal.SIGTERM,
) -> tuple[int, str, list]:
    """Start the daemon, ``perform()``, listen, ``stop_signal``; (status, output, dumped events)."""
    dump = MidiDump(server)
    config = write_config(tmp_path / "config.toml", response_beats, daemon_config)
    try:
        daemon = Daemon(config, model, dump.port_name)
        try:
            perform()
            time.sleep(listen_s)
            status, output = daemon.terminate(stop_signal)
        finally:
            daemon.kill()
    finally:
        events = dump.stop()
    messages = [mido.Message.from_bytes(data, time=frame) for frame, data in events]
    return status, output, messages


def response_notes(messages: list[mido.Message]) -> list[mido.Message]:
    return [
        m
        for m in messages
        if m.type in ("note_on", "note_off") and m.channel == RESPONSE_CHANNEL - 1
    ]


@pytest.mark.jack
@pytest.mark.slow
def test_the_answer_arrives_on_the_tick_grid_and_every_note_ends(
    jack_server: JackServer, random_model_dir: Path, tmp_path: Path
) -> None:
    beat_s = 60 / BPM
    listen_s = 1.5 * beat_s + 8 * beat_s + 1.0  # silence, quantise, the answer, slack
    xruns_before = jack_server.log().count("XRun")
    status, output, messages = run_session(
        jack_server, tmp_path, random_model_dir, response_beats=8.0, listen_s=listen_s
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
    jack_server: JackServer, random_model_dir: Path, tmp_path: Path, stop_signal: int
) -> None:
    beat_s = 60 / BPM
    listen_s = 1.5 * beat_s + 12 * beat_s  # well inside a 64-beat answer
    status, output, messages = run_session(
        jack_server,
        tmp_path,
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
    jack_server: JackServer, random_model_dir: Path, tmp_path: Path
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
        tmp_path,
        random_model_dir,
        response_beats=64.0,
        listen_s=1.0,
        perform=phrase_then_barge_in,
        daemon_config="thru = true",  # the barge-in note shows at the receiver
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


def receiver_port() -> JackInput:
    """An independent receiver that stamps in JACK frame time, the performer's clock."""
    return JackInput(name="receiver", client_name=unique_client_name("receiver"))


@pytest.mark.jack
@pytest.mark.slow
def test_a_flood_of_notes_and_garbage_leaves_the_daemon_answering(
    jack_server: JackServer, random_model_dir: Path, tmp_path: Path
) -> None:
    beat_s = 60 / BPM
    config = write_config(tmp_path / "config.toml", response_beats=4.0)
    # The receiver's JACK frame times tell the answer to the phrase from the flood's.
    with receiver_port() as receiver:
        daemon = Daemon(config, random_model_dir, receiver.port_name)
        try:
            send_raw(flood_and_garbage())
            time.sleep(2 * beat_s)  # the flood was a phrase too; let its answer begin
            phrase_end = play_phrase()
            time.sleep(1.5 * beat_s + 4 * beat_s + 0.5)
            status, output = daemon.terminate()
        finally:
            daemon.kill()
        messages = list(receiver.iter_pending())
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
    jack_server: JackServer, random_model_dir: Path, tmp_path: Path
) -> None:
    beat = 60 / BPM
    config = write_config(tmp_path / "config.toml", response_beats=8.0)  # max_beats: 32 beats
    with receiver_port() as receiver:
        daemon = Daemon(config, random_model_dir, receiver.port_name)
        try:
            send_raw([bytes([0xB0, 64, 127])])  # pedal down, then the keyboard is unplugged
            time.sleep(0.2)
            last_off = play_phrase()  # a new performer's four notes
            time.sleep(12 * beat)
            messages = list(receiver.iter_pending())
            status, output = daemon.terminate()
        finally:
            daemon.kill()
    assert status == 0, output
    # Answered on the silence after the phrase, not when phrase.max_beats (32 beats) runs out.
    answer = first_answer_after(messages, last_off)
    assert answer is not None, output
    assert answer - last_off < 10 * beat * jack_server.rate


@pytest.mark.jack
@pytest.mark.slow
def test_with_thru_the_echoed_notes_of_a_vanished_performer_end(
    jack_server: JackServer, random_model_dir: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "config.toml", response_beats=4.0, daemon="thru = true")
    with receiver_port() as receiver:
        daemon = Daemon(config, random_model_dir, receiver.port_name)
        try:
            send_raw([bytes([0x90, 60, 90]), bytes([0x90, 64, 90])])  # two keys held; gone
            time.sleep(1.0)
            messages = list(receiver.iter_pending())  # before the shutdown's panic
            status, output = daemon.terminate()
        finally:
            daemon.kill()
    assert status == 0, output
    echoed = [m for m in messages if m.type in ("note_on", "note_off") and m.channel == 0]
    assert {m.note for m in echoed if m.type == "note_on" and m.velocity} == {60, 64}
    assert stuck_notes(echoed) == set()


@pytest.mark.jack
@pytest.mark.slow
@pytest.mark.parametrize("reconnected", ["by hand", "by the daemon"])
def test_a_receiver_unplugged_and_plugged_back_hears_the_hanging_notes_end(
    jack_server: JackServer, random_model_dir: Path, tmp_path: Path, reconnected: str
) -> None:
    config = write_config(tmp_path / "config.toml", response_beats=4.0, daemon="thru = true")
    by_hand = reconnected == "by hand"
    with receiver_port() as receiver:
        daemon = Daemon(config, random_model_dir, None if by_hand else receiver.port_name)
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
            status, output = daemon.terminate()
        finally:
            patchbay.close()
            daemon.kill()
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
    jack_server: JackServer, random_model_dir: Path, tmp_path: Path
) -> None:
    beat = 60 / BPM
    config = write_config(tmp_path / "config.toml", response_beats=64.0)
    answer_channel = RESPONSE_CHANNEL - 1
    with receiver_port() as receiver:
        crashed = Daemon(config, random_model_dir, receiver.port_name)
        try:
            play_phrase()
            time.sleep(1.5 * beat + 6 * beat)  # inside the answer
        finally:
            crashed.kill()  # SIGKILL: no note-off, no CC123
        before = list(receiver.iter_pending())
        restarted = Daemon(config, random_model_dir, receiver.port_name)
        try:
            time.sleep(0.3)
            after = list(receiver.iter_pending())
            status, output = restarted.terminate()
        finally:
            restarted.kill()
    assert status == 0, output
    assert first_answer_after(before, 0) is not None, "no answer before the crash"
    resets = [
        (m.control, m.value)
        for m in after
        if m.type == "control_change" and m.channel == answer_channel
    ]
    assert (ALL_NOTES_OFF, 0) in resets and (64, 0) in resets, after[:20]
    assert sounding_at_end(before + after, answer_channel) == 0


class EndlessFlood(MemoryInputPort):
    """An input whose sender never pauses."""

    def poll(self) -> mido.Message:
        return mido.Message("note_on", channel=5, note=60, velocity=10)

    def receive(self, timeout: float | None = None) -> mido.Message:
        return self.poll()


class CountingPlayer:
    def __init__(self) -> None:
        self.handled = 0
        self.updates = 0

    def handle(self, _message: mido.Message) -> None:
        self.handled += 1

    def update(self, _now: float) -> None:
        self.updates += 1


def test_an_endless_flood_still_lets_the_loop_update_the_answer_and_stop() -> None:
    player = CountingPlayer()
    improviser = SimpleNamespace(output=MemoryOutputPort(now=lambda: 0.0))
    serve(improviser, EndlessFlood(now=lambda: 0.0), lambda: player.updates == 3, player)
    assert (player.updates, player.handled) == (3, 3 * MESSAGES_PER_TURN)


@pytest.mark.parametrize("number", TERMINATING_SIGNALS)
def test_every_terminating_signal_becomes_the_stop_flag(number: int) -> None:
    before = signal.getsignal(number)
    with StopSignals() as stop:
        signal.raise_signal(number)
        assert stop() and stop.received == number
    assert signal.getsignal(number) == before


def test_the_stop_signals_include_the_terminal_and_quit_ones() -> None:
    wanted = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT}
    assert wanted <= set(StopSignals.SIGNALS)


def test_the_daemon_never_imports_tensorflow_or_keras() -> None:
    probe = (
        "import sys, liveimpro.cli.commands, liveimpro.daemon; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("api", "problem"), [("jack", "no JACK server is running"), ("alsa", "no ALSA sequencer")]
)
def test_no_midi_system_stops_run_and_ports_with_one_line_and_status_2(
    api: str, problem: str, tmp_path: Path
) -> None:
    if api == "alsa" and Path("/dev/snd/seq").exists():
        pytest.skip("this machine has an ALSA sequencer")
    nowhere = {"JACK_DEFAULT_SERVER": unique_client_name("none"), "JACK_NO_START_SERVER": "1"}
    env = {**os.environ, **nowhere}
    for command in ("run", "ports"):
        result = subprocess.run(
            [sys.executable, "-m", "liveimpro", command, "--api", api],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            cwd=tmp_path,
        )
        assert result.returncode == 2, result.stderr
        (line,) = result.stderr.splitlines()
        assert line.startswith(f"liveimpro: error: {problem}")


@pytest.mark.jack
def test_ports_lists_the_servers_midi_ports(jack_server: JackServer) -> None:
    dump = MidiDump(jack_server)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "liveimpro", "ports", "--api", "jack"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    finally:
        dump.stop()
    inputs, outputs = result.stdout.split("outputs (play to):")
    assert dump.port_name in outputs and dump.port_name not in inputs


SOURCE_BPM = 137  # 875.9 frames a pulse at 48 kHz: jack_midi_clock rounds each to a frame
# The source's pulses are up to half a frame off their ideal times (measured), and so is
# our rounding of a note's time to a frame; the tempo fit a beat ahead adds under a frame.
GRID_TOLERANCE_FRAMES = 2
STOP_LATENCY_S = 0.2  # the source's Stop to the daemon's panic; measured: one JACK cycle


def write_follow_config(path: Path) -> Path:
    path.write_text(
        "[sampling]\nseed = 1\n"
        "[notes]\nmax_note_beats = 0.5\n"  # short notes: many of them to check
        "[continuation]\nbeats = 64.0\n"  # still playing when the transport stops
        "[phrase]\nsilence_beats = 1.0\nmin_notes = 2\n"
        f'[response]\nquantize = "beat"\nchannel = {RESPONSE_CHANNEL}\nlookahead_beats = 1.0\n'
        '[clock]\nsource = "external"\nbpm = 100.0\n'  # a wrong guess: the pulses must tell
    )
    return path


@pytest.mark.jack
@pytest.mark.slow
def test_following_jack_midi_clock_the_answer_is_on_its_pulses_and_stop_silences_it(
    jack_server: JackServer, random_model_dir: Path, tmp_path: Path
) -> None:
    beat_s = 60 / SOURCE_BPM
    dump = MidiDump(jack_server)
    config = write_follow_config(tmp_path / "config.toml")
    try:
        daemon = Daemon(config, random_model_dir, dump.port_name)
        try:
            source = MidiClock(jack_server, SOURCE_BPM, [DAEMON_INPUT, dump.port_name])
            try:
                xruns_before = jack_server.log().count("XRun")
                source.start()
                time.sleep(2 * beat_s)
                play_phrase()
                time.sleep(1.5 * beat_s + 8 * beat_s)  # silence, quantise, 8 beats of answer
                source.stop()
                xruns = jack_server.log().count("XRun") - xruns_before
                time.sleep(1.0)  # the silence after the stop
            finally:
                source.close()
            status, output = daemon.terminate()
        finally:
            daemon.kill()
    finally:
        events = dump.stop()
    assert status == 0, output
    messages = [mido.Message.from_bytes(data, time=frame) for frame, data in events]
    start = next(m.time for m in messages if m.type == "start")
    stop = next(m.time for m in messages if m.type == "stop")
    note_ons = [m for m in response_notes(messages) if m.type == "note_on" and m.velocity > 0]
    assert any(m.time < stop for m in note_ons), f"no answer before the stop: {output}"
    # Stop: note-offs and CC123 (a panic) follow at once, and nothing sounds after them.
    panic = next(
        i
        for i, m in enumerate(messages)
        if m.time >= stop and m.type == "control_change" and m.control == ALL_NOTES_OFF
    )
    assert messages[panic].time - stop <= STOP_LATENCY_S * jack_server.rate
    assert stuck_notes(response_notes(messages[: panic + 1])) == set()
    assert not any(m.time > messages[panic].time for m in note_ons)
    # The grid: every note-on of the answer lies on a pulse of the source, as received.
    # A cycle that misses its deadline (an xrun) may move the source's pulses.
    if xruns:
        return
    pulses = [m.time for m in messages if m.type == "clock" and start < m.time < stop]
    for note in note_ons:
        if note.time < stop:
            off_grid = min(abs(note.time - pulse) for pulse in pulses)
            assert off_grid <= GRID_TOLERANCE_FRAMES, note
