"""Tests for liveimpro.harness.demo: ``liveimpro demo`` end to end, with the bundled model."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import mido
import pytest

from liveimpro.config.settings import Settings, load_settings
from liveimpro.harness.demo import response_ticks, run_demo
from liveimpro.harness.jackserver import SHM_DIR, JackServer
from tests.midicheck import stuck_notes
from tests.processes import running_commands

CALL_NOTES = 11  # in liveimpro/harness/demo.mid
# Fast enough for a test: the 8-beat call takes 2 s, the answer 1 s.
FAST_CONFIG = (
    "[sampling]\nseed = 1\n[continuation]\nbeats = 4.0\n"
    "[phrase]\nsilence_beats = 1.0\n[clock]\nbpm = 240.0\n"
)


def test_response_ticks_follow_the_response_length_setting() -> None:
    settings = Settings()
    assert response_ticks(settings, 100) == 16 * 24
    proportional = dataclasses.replace(settings.response, length="proportional", proportion=0.5)
    assert response_ticks(dataclasses.replace(settings, response=proportional), 100) == 50


def check_saved_take(path: Path) -> None:
    """Track 1 the whole call, track 2 a non-empty answer; every note-on has its note-off."""
    tracks = [
        [m for m in track if m.type in ("note_on", "note_off")]
        for track in mido.MidiFile(path).tracks
    ]
    notes = [track for track in tracks if track]
    assert len(notes) == 2, [len(track) for track in tracks]
    call, response = notes
    assert sum(m.type == "note_on" and m.velocity > 0 for m in call) == CALL_NOTES
    assert any(m.type == "note_on" and m.velocity > 0 for m in response)
    for track in notes:
        assert stuck_notes(track) == set()
        ons = sum(m.type == "note_on" and m.velocity > 0 for m in track)
        assert ons * 2 == len(track)  # as many note-offs as note-ons


@pytest.mark.jack
@pytest.mark.slow
def test_demo_on_a_machine_without_midi_starts_and_stops_its_own_jack_server(
    jack_server: JackServer, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(FAST_CONFIG)
    output = tmp_path / "take.mid"
    environment = {key: value for key, value in os.environ.items() if key != "JACK_DEFAULT_SERVER"}
    result = subprocess.run(
        [sys.executable, "-m", "liveimpro", "--config", str(config), "demo", "-o", str(output)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**environment, "JACK_NO_START_SERVER": "1"},
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    server = re.search(r"a private JACK server \((\S+), period 256 frames\)", result.stdout)
    assert server, result.stdout
    assert "#" in result.stdout and "o" in result.stdout  # the piano roll
    assert "answer notes left sounding: 0" in result.stdout
    assert re.search(r"to the first answer note: -?\d+\.\d ms", result.stdout)
    check_saved_take(output)
    name = server[1]
    assert not list(SHM_DIR.glob(f"jack*{name}*"))  # stopped cleanly, not killed
    assert not any(name in command for command in running_commands())


@pytest.mark.jack
@pytest.mark.slow
def test_demo_uses_a_running_jack_server(jack_server: JackServer, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(FAST_CONFIG)
    said: list[str] = []
    output = tmp_path / "take.mid"
    status = run_demo(load_settings(config), output=output, say=said.append)
    assert status == 0, "\n".join(said)
    assert "running JACK server (period 256 frames)" in said[0]
    check_saved_take(output)
    assert not [port for port in jack_server.ports() if port.startswith("liveimpro")]
