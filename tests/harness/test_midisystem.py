"""Tests for liveimpro.midi.system: which MIDI system is used, and the private JACK server."""

from __future__ import annotations

import os

import mido
import pytest

from liveimpro.harness.jackserver import JackServer
from liveimpro.harness.midisystem import MidiSystem
from liveimpro.midi.system import MidiSystemError, choose_api
from tests.processes import running_commands


@pytest.mark.parametrize(
    ("jack_running", "alsa_sequencer", "platform", "api"),
    [
        (True, True, "linux", "jack"),  # a running JACK server comes first
        (True, False, "darwin", "jack"),
        (False, True, "linux", "alsa"),
        (False, False, "linux", None),  # a container: start a private server
        (False, False, "darwin", "coremidi"),
        (False, True, "darwin", "coremidi"),
        (False, False, "win32", None),  # no virtual ports on Windows' MIDI
    ],
)
def test_choose_api(jack_running: bool, alsa_sequencer: bool, platform: str, api: str | None):
    chosen = choose_api(jack_running=jack_running, alsa_sequencer=alsa_sequencer, platform=platform)
    assert chosen == api


def test_without_jackd_a_private_server_is_an_error_that_says_what_to_install(monkeypatch):
    monkeypatch.setattr("liveimpro.harness.midisystem.shutil.which", lambda _name: None)
    with pytest.raises(MidiSystemError, match="apt-get install --no-install-recommends jackd2"):
        MidiSystem(private_jack=True).__enter__()


@pytest.mark.jack
def test_a_running_server_is_used_as_it_is(jack_server: JackServer) -> None:
    with MidiSystem() as system:
        assert system.api == "jack" and system.server is None
        assert system.period == jack_server.period
        assert system.units_per_second == jack_server.rate
        assert "running JACK server" in system.describe()


@pytest.mark.jack
def test_a_private_server_carries_midi_and_is_gone_afterwards(jack_server: JackServer) -> None:
    with MidiSystem(private_jack=True, period=128) as system:
        name = system.server.name
        assert os.environ["JACK_DEFAULT_SERVER"] == name
        assert system.period == 128 and system.api == "jack"
        listener, address = system.open_listener("listener")
        try:
            with system.open_performer("performer", address) as performer:
                performer.send(mido.Message("note_on", note=61, velocity=33))
                heard = listener.receive(timeout=5.0)
        finally:
            listener.close()
    assert heard is not None and (heard.type, heard.note, heard.velocity) == ("note_on", 61, 33)
    assert os.environ["JACK_DEFAULT_SERVER"] == jack_server.name
    assert not any(name in command for command in running_commands())
