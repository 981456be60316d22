"""Which MIDI system there is to play on: a running JACK server, ALSA's sequencer, CoreMIDI.

A running JACK server comes first (frame-accurate timing), then the desktop's own MIDI
system, whose virtual ports need nothing more: ALSA's sequencer on Linux, CoreMIDI on
macOS. ``liveimpro.harness.midisystem`` starts a private JACK server where there is none.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from liveimpro.errors import UserError

ALSA_SEQUENCER = Path("/dev/snd/seq")


class MidiSystemError(UserError, RuntimeError):
    """No MIDI system to play on, and none could be started."""


def choose_api(*, jack_running: bool, alsa_sequencer: bool, platform: str) -> str | None:
    """The MIDI API to play on; None when a private JACK server must be started."""
    if jack_running:
        return "jack"
    if platform.startswith("linux") and alsa_sequencer:
        return "alsa"
    if platform == "darwin":
        return "coremidi"
    return None  # Windows' MIDI has no virtual ports either


def jack_facts() -> tuple[int, int] | None:
    """(sample rate, period) of the JACK server we would connect to; None if none runs."""
    try:
        import jack
    except OSError:  # no libjack at all
        return None
    jack.set_error_function(lambda _message: None)  # "cannot connect" is an answer here
    try:
        client = jack.Client("liveimpro-probe", no_start_server=True)
    except jack.JackOpenError:
        return None
    finally:
        jack.set_error_function(None)
    try:
        return client.samplerate, client.blocksize
    finally:
        client.close()


def check_midi_system(api: str) -> None:
    """MidiSystemError, naming what is missing and what to do, if ``api`` has nothing to run on.

    Checked before any port is opened: libjack and alsa-lib would print complaints of their
    own, and the port would fail with a traceback.
    """
    if api == "jack" and jack_facts() is None:
        server = os.environ.get("JACK_DEFAULT_SERVER", "default")
        raise MidiSystemError(
            f"no JACK server is running (server name {server!r}): start one (jackd -d alsa; "
            "jackd -d dummy where there is no sound hardware) or choose another MIDI API (--api)"
        )
    if api == "alsa" and sys.platform.startswith("linux") and not ALSA_SEQUENCER.exists():
        raise MidiSystemError(
            f"no ALSA sequencer ({ALSA_SEQUENCER} is missing): load it (modprobe snd-seq) "
            "or run a JACK server and use --api jack"
        )
