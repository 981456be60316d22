"""Benchmarks of the live daemon on real ports: latency, output jitter, start-up, idle CPU
(the soak, an hour of call and response, is in liveimpro.harness.benchsoak).

Each starts a private JACK server (dummy driver at 48 kHz, ``period`` frames a cycle) and
the real daemon, ``liveimpro run``, as a child process with a shipped model. Performer and
receiver are JACK clients of this process, independent of the daemon
(liveimpro.harness.callresponse). Both stamp in JACK frame time, the server's one clock: what the
performer sends and what the receiver hears compare frame for frame, and the daemon's
tick grid is known to the frame from the MIDI clock it sends. Results are dicts for JSON:
figures, never pass/fail, as these machines are shared and noisy.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections import Counter

import numpy as np

from liveimpro.config.settings import Settings
from liveimpro.harness.bench import latency_summary
from liveimpro.harness.callresponse import LiveSession, clock_from_pulses, grid_offsets, play_notes
from liveimpro.harness.daemonprocess import DaemonProcess
from liveimpro.harness.demo import DEMO_PHRASE
from liveimpro.harness.midisystem import MidiSystem
from liveimpro.midi.midifile import read_phrase
from liveimpro.midi.ports import DEFAULT_INPUT_NAME
from liveimpro.music.vocabulary import TICKS_PER_BEAT, Note, bar_ticks

LATENCY_BPM = 300.0  # fast, so that 512-note phrases take seconds: a tick is 400 frames
SILENCE_BEATS = 1.0
ANSWER_BEATS = 1.0  # only the first answer note counts; a short answer keeps the run short
PHRASE_LEAD_S = 0.15  # each phrase starts on the first bar line at least this far ahead
SCALE_STEPS = (0, 2, 4, 5, 7, 9, 11, 12, 11, 9, 7, 5, 4, 2)  # C major, up and down
ML_PACKAGES = ("tensorflow", "keras", "jax", "jaxlib", "torch")
IDLE_SETTLE_S = 1.0  # after the ready line, before idle CPU is counted
PERFORMER_CHANNEL = 1  # 0-based; apart from the answer's (response.channel 1)


def daemon_base(model: str) -> Settings:
    """The default settings with ``model``, on JACK with the daemon's own ports."""
    settings = Settings()
    return dataclasses.replace(
        settings,
        model=dataclasses.replace(settings.model, name=model),
        daemon=dataclasses.replace(settings.daemon, api="jack"),
    )


def jack_figures(system: MidiSystem) -> dict:
    return {
        "rate": int(system.units_per_second),
        "period_frames": system.period,
        "period_ms": round(system.period * 1000 / system.units_per_second, 3),
    }


def xruns(system: MidiSystem) -> int:
    return system.server.log().count("XRun")


def scale_run(count: int) -> list[Note]:
    """``count`` one-tick notes up and down a scale, each ending as the next begins."""
    return [
        Note(60 + SCALE_STEPS[index % len(SCALE_STEPS)], 80, index, index + 1)
        for index in range(count)
    ]


def latency_settings(model: str, longest: int) -> Settings:
    """Answer at once (quantize immediate) and the same way each time (top_k 1)."""
    base = daemon_base(model)
    phrase_beats = longest / TICKS_PER_BEAT + 4 * SILENCE_BEATS
    return dataclasses.replace(
        base,
        sampling=dataclasses.replace(base.sampling, top_k=1, seed=1),
        continuation=dataclasses.replace(base.continuation, beats=ANSWER_BEATS),
        phrase=dataclasses.replace(
            base.phrase,
            silence_beats=SILENCE_BEATS,
            max_beats=max(base.phrase.max_beats, phrase_beats),
            min_notes=2,
        ),
        response=dataclasses.replace(
            base.response, quantize="immediate", length="fixed", on_new_phrase="barge_in"
        ),
        clock=dataclasses.replace(base.clock, bpm=LATENCY_BPM),
    )


def bench_latency(
    model: str = "folk",
    lengths: tuple[int, ...] = (8, 64, 512),
    phrases: int = 20,
    period: int = 256,
) -> dict:
    """Phrase end to the first answer note at the receiver, per phrase length.

    The phrase ends when its silence window closes: the last note-off plus
    phrase.silence_beats, on the daemon's tick grid. Every phrase starts on a bar line and
    top_k = 1 makes the answer to one phrase the same each time, so the figures vary with
    the daemon's timing alone; ``first_note_ticks`` counts the grid ticks the first note
    came after the phrase end (any rest the model chose is in them).
    """
    settings = latency_settings(model, max(lengths))
    silence_ticks = math.ceil(SILENCE_BEATS * TICKS_PER_BEAT)
    bar = bar_ticks(settings.continuation.beats_per_bar)
    answer_ticks = round(ANSWER_BEATS * TICKS_PER_BEAT)
    trials = []  # (phrase length, last note-off time, phrase end time)
    missed: dict[int, int] = {}  # phrase length -> xruns while its phrases played
    with MidiSystem(private_jack=True, period=period) as system:
        with LiveSession(system, settings) as session:
            for length in lengths:
                notes = scale_run(length)
                xruns_before = xruns(system)
                for _ in range(phrases):
                    first = session.next_tick(bar, PHRASE_LEAD_S)
                    last_off = play_notes(
                        session.performer, session.clock, notes, first, PERFORMER_CHANNEL
                    )
                    end_tick = first + length + silence_ticks
                    trials.append((length, last_off, session.clock.time_of(end_tick)))
                    session.sleep_until(
                        session.clock.time_of(end_tick + answer_ticks + TICKS_PER_BEAT)
                    )
                missed[length] = xruns(system) - xruns_before
        figures = jack_figures(system)
    rate = system.units_per_second
    answer_channel = session.settings.response.channel - 1
    note_ons = sorted(
        m.time
        for m in session.listener.messages
        if m.type == "note_on" and m.velocity and m.channel == answer_channel
    )
    tick_frames = session.clock.period
    by_length: dict[int, list[float]] = {length: [] for length in lengths}
    for length, last_off, phrase_end in trials:
        window_end = phrase_end + (answer_ticks + 1) * tick_frames
        first_note = next((t for t in note_ons if last_off < t < window_end), None)
        if first_note is not None:
            by_length[length].append(first_note - phrase_end)
    results = []
    for length, delays in by_length.items():
        ticks = Counter(round(delay / tick_frames) for delay in delays)
        results.append(
            {
                "notes": length,
                "phrases": phrases,
                "answered": len(delays),
                **(latency_summary([d / rate for d in delays]) if delays else {}),
                "first_note_ticks": {str(tick): count for tick, count in sorted(ticks.items())},
                "xruns": missed[length],
            }
        )
    return {
        "benchmark": "daemon latency: phrase end -> first answer note at an independent receiver",
        "phrase_end": "the silence window closing: last note-off + phrase.silence_beats, "
        "on the daemon's tick grid",
        "clock": "JACK frame time (performer, receiver and the daemon's MIDI clock)",
        "jack": figures,
        "transport_latency_ms": figures["period_ms"],
        "transport_latency": "one JACK period, the most an event handed over late waits; "
        "an event queued in time arrives on its exact frame",
        "settings": {
            "model": model,
            "bpm": LATENCY_BPM,
            "tick_ms": round(tick_frames * 1000 / rate, 3),
            "quantize": "immediate",
            "silence_beats": SILENCE_BEATS,
            "sampling": "top_k = 1",
            "phrase": "one-tick notes up and down a scale, starting on a bar line",
        },
        "results": results,
    }


def answer_settings(model: str, beats: float, bpm: float) -> Settings:
    """Seeded answers ``beats`` long at ``bpm``, to phrases that end after SILENCE_BEATS."""
    base = daemon_base(model)
    return dataclasses.replace(
        base,
        sampling=dataclasses.replace(base.sampling, seed=1),
        continuation=dataclasses.replace(base.continuation, beats=beats),
        phrase=dataclasses.replace(base.phrase, silence_beats=SILENCE_BEATS),
        clock=dataclasses.replace(base.clock, bpm=bpm),
    )


def bench_jitter(
    model: str = "folk", beats: float = 32.0, bpm: float = 120.0, period: int = 256
) -> dict:
    """Timing of a whole answer at the receiver against the daemon's ideal tick grid.

    The grid is the one the daemon's MIDI clock pulses fit best (median); the demo phrase
    is the call. Every note-on and note-off of the answer counts, up to its planned end
    (the shutdown's note-offs go whenever SIGTERM comes, so they are left out).
    """
    settings = answer_settings(model, beats, bpm)
    _, call = read_phrase(DEMO_PHRASE)
    bar = bar_ticks(settings.continuation.beats_per_bar)
    with MidiSystem(private_jack=True, period=period) as system:
        xruns_before = xruns(system)
        with LiveSession(system, settings) as session:
            first = session.next_tick(bar, PHRASE_LEAD_S)
            play_notes(session.performer, session.clock, call, first, PERFORMER_CHANNEL)
            silence_ticks = math.ceil(SILENCE_BEATS * TICKS_PER_BEAT)
            end_tick = first + max(note.end for note in call) + silence_ticks
            answer_end = end_tick + bar + round(beats * TICKS_PER_BEAT)  # a quantise wait at most
            end = session.clock.time_of(answer_end)
            session.sleep_until(end + 0.1 * system.units_per_second)
        missed = xruns(system) - xruns_before
        figures = jack_figures(system)
    rate = system.units_per_second
    clock = clock_from_pulses(session.listener.pulses(), settings.clock.bpm, rate)
    answer_channel = settings.response.channel - 1
    notes = [
        m.time
        for m in session.listener.messages
        if m.type in ("note_on", "note_off") and m.channel == answer_channel and m.time <= end
    ]
    return {
        "benchmark": "daemon output jitter against the ideal tick grid at an independent receiver",
        "clock": "JACK frame time; the grid fitted to the daemon's MIDI clock pulses",
        "jack": figures,
        "settings": {"model": model, "bpm": settings.clock.bpm, "answer_beats": beats},
        "note_events": offset_summary(grid_offsets(notes, clock), rate),
        "clock_pulses": offset_summary(grid_offsets(session.listener.pulses(), clock), rate),
        "xruns": missed,
    }


def offset_summary(offsets: list[float], rate: float) -> dict:
    """latency_summary of the offsets' sizes; ``offsets`` are in clock units, ``rate`` a second."""
    if not offsets:
        return {"n": 0}
    return latency_summary(list(np.abs(offsets) / rate))


def imported_modules(importtime_output: str) -> set[str]:
    """The modules a ``python -X importtime`` run imported, from its report lines."""
    prefix = "import time:"
    return {
        line.rsplit("|", 1)[1].strip()
        for line in importtime_output.splitlines()
        if line.startswith(prefix) and not line.rstrip().endswith("imported package")
    }


def wait_for_port(daemon: DaemonProcess, port: str, timeout: float = 30.0) -> float:
    """Seconds from the daemon's start until JACK lists ``port``."""
    import jack

    client = jack.Client("liveimpro-bench-probe", no_start_server=True)
    try:
        deadline = time.monotonic() + timeout
        while not client.get_ports(port):
            if not daemon.running() or time.monotonic() > deadline:
                raise TimeoutError(f"no port {port!r}:\n{daemon.output}")
            time.sleep(0.001)
        return time.monotonic() - daemon.started_at
    finally:
        client.close()


def bench_startup(model: str = "folk", runs: int = 5, period: int = 256) -> dict:
    """Process start to the input port existing and to its ready line; memory; imports."""
    settings = daemon_base(model)
    input_port = f"liveimpro-in:{DEFAULT_INPUT_NAME}"  # the daemon's own JACK input
    port_s, ready_s, rss_mb, peak_mb = [], [], [], []
    with MidiSystem(private_jack=True, period=period) as system:
        for _ in range(runs):
            with DaemonProcess(settings) as daemon:
                port_s.append(wait_for_port(daemon, input_port))
                ready_s.append(daemon.wait_ready())
                rss_mb.append(daemon.memory_mb("VmRSS"))
                peak_mb.append(daemon.memory_mb("VmHWM"))
        with DaemonProcess(settings, python_options=("-X", "importtime")) as daemon:
            daemon.wait_ready()
        modules = imported_modules(daemon.output)
        figures = jack_figures(system)
    return {
        "benchmark": "daemon start-up: process start to ready, memory after load",
        "jack": figures,
        "model": model,
        "runs": runs,
        "input_port_s": _seconds_summary(port_s),
        "ready_line_s": _seconds_summary(ready_s),
        "rss_mb": round(max(rss_mb), 1),
        "peak_rss_mb": round(max(peak_mb), 1),
        "modules_imported": len(modules),
        "ml_modules_imported": sorted(m for m in modules if m.split(".")[0] in ML_PACKAGES),
    }


def _seconds_summary(seconds: list[float]) -> dict:
    return {
        "p50": round(float(np.median(seconds)), 3),
        "max": round(max(seconds), 3),
        "min": round(min(seconds), 3),
    }


def bench_idle(model: str = "folk", seconds: float = 10.0, period: int = 256) -> dict:
    """The daemon's CPU use while it waits for a phrase (default settings, its own ports)."""
    with MidiSystem(private_jack=True, period=period) as system:
        with DaemonProcess(daemon_base(model)) as daemon:
            daemon.wait_ready()
            time.sleep(IDLE_SETTLE_S)
            cpu_before, wall_before = daemon.cpu_seconds(), time.monotonic()
            time.sleep(seconds)
            cpu = daemon.cpu_seconds() - cpu_before
            wall = time.monotonic() - wall_before
        figures = jack_figures(system)
    return {
        "benchmark": "daemon idle CPU: CPU time over wall time while no one plays",
        "jack": figures,
        "model": model,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 3),
        "cpu_percent": round(100 * cpu / wall, 2),
    }
