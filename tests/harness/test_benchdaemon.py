"""Tests for liveimpro.harness.benchdaemon: each benchmark, tiny, gives sane figures.

The benchmarks run the real daemon with the bundled model on a private JACK server of their own;
the ``jack_server`` fixture only makes sure jackd is there (and fails under CI if not).
"""

from __future__ import annotations

import json

import mido
import pytest

from liveimpro.harness.benchdaemon import (
    bench_idle,
    bench_jitter,
    bench_latency,
    bench_startup,
    imported_modules,
    scale_run,
)
from liveimpro.harness.benchsoak import bench_soak, sounding_at_end
from liveimpro.harness.jackserver import JackServer
from liveimpro.music.vocabulary import Note

PERIOD_MS = round(256 * 1000 / 48000, 3)


def check_jack(result: dict) -> None:
    assert result["jack"] == {"rate": 48000, "period_frames": 256, "period_ms": PERIOD_MS}
    json.dumps(result)  # printable as it is


def test_scale_run_is_one_tick_notes_each_ending_as_the_next_begins() -> None:
    notes = scale_run(16)
    assert notes[:3] == [Note(60, 80, 0, 1), Note(62, 80, 1, 2), Note(64, 80, 2, 3)]
    assert [note.start for note in notes] == list(range(16))
    assert max(note.pitch for note in notes) == 72


def test_imported_modules_reads_python_importtime_lines() -> None:
    report = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:       120 |        120 |   _io\n"
        "import time:        80 |        300 | numpy.linalg\n"
        "liveimpro: listening on 'x'\n"
    )
    assert imported_modules(report) == {"_io", "numpy.linalg"}


@pytest.mark.jack
@pytest.mark.slow
def test_latency(jack_server: JackServer) -> None:
    result = bench_latency(lengths=(8, 64), phrases=2)
    check_jack(result)
    assert result["transport_latency_ms"] == PERIOD_MS
    assert result["settings"]["quantize"] == "immediate"
    assert [row["notes"] for row in result["results"]] == [8, 64]
    for row in result["results"]:
        assert row["phrases"] == 2
        if row["xruns"] == 0:  # a missed cycle may lose an answer, under overload
            assert row["answered"] == 2
        if row["answered"]:
            # never before the phrase end, and within the one-beat answer (200 ms at 300 bpm)
            assert 0 <= row["p50_ms"] <= row["p99_ms"] <= row["max_ms"] <= 200
            assert sum(row["first_note_ticks"].values()) == row["answered"]


@pytest.mark.jack
@pytest.mark.slow
def test_jitter(jack_server: JackServer) -> None:
    result = bench_jitter(beats=4.0, bpm=300.0)
    check_jack(result)
    notes, pulses = result["note_events"], result["clock_pulses"]
    assert notes["n"] >= 2 and pulses["n"] > 4 * 24  # the call and the answer, at least
    assert 0 <= notes["p50_ms"] <= notes["p99_ms"] <= notes["max_ms"]
    if result["xruns"] == 0:  # frame-exact output: on the grid to the frame
        assert notes["max_ms"] == 0 and pulses["max_ms"] == 0


@pytest.mark.jack
@pytest.mark.slow
def test_startup(jack_server: JackServer) -> None:
    result = bench_startup(runs=1)
    check_jack(result)
    port, ready = result["input_port_s"], result["ready_line_s"]
    assert 0 < port["min"] <= port["p50"] <= port["max"] < 30
    assert 0 < ready["min"] <= ready["max"] < 30
    assert port["min"] <= ready["max"]  # the port opens before the daemon says it listens
    assert 20 < result["rss_mb"] <= result["peak_rss_mb"] < 2000
    assert result["modules_imported"] > 50
    assert result["ml_modules_imported"] == []


@pytest.mark.jack
@pytest.mark.slow
def test_idle(jack_server: JackServer) -> None:
    result = bench_idle(seconds=1.0)
    check_jack(result)
    assert 0.9 < result["wall_s"] < 5
    assert 0 <= result["cpu_percent"] <= 100 * 2  # two cores at most here
    assert result["cpu_s"] == pytest.approx(
        result["cpu_percent"] * result["wall_s"] / 100, abs=0.01
    )


def test_sounding_at_end_counts_notes_no_note_off_or_cc123_ended() -> None:
    on = [mido.Message("note_on", channel=1, note=pitch, velocity=90) for pitch in (60, 62, 64)]
    off = mido.Message("note_off", channel=1, note=60)
    other_channel = mido.Message("note_on", channel=2, note=70, velocity=90)
    all_off = mido.Message("control_change", channel=1, control=123)
    assert sounding_at_end([*on, off, other_channel], channel=1) == 2
    assert sounding_at_end([*on, all_off], channel=1) == 0


@pytest.mark.jack
@pytest.mark.slow
def test_soak(jack_server: JackServer) -> None:
    result = bench_soak(minutes=1.0)
    check_jack(result)
    assert result["phrases"] == 20
    assert result["phrases_heard"] == result["answered"] == 20
    assert 0 < result["answers_with_notes"] <= 20
    assert result["notes_left_sounding"] == 0
    rss = result["rss_mb"]
    assert 20 < rss["start"] < 2000 and rss["growth_percent"] < 5
    onsets = result["onset_error"]
    assert onsets["n"] > 0
    if result["xruns"] == 0:  # frame-exact output: on the grid within one period
        assert onsets["max_ms"] <= result["jack"]["period_ms"]
