"""The daemon's ports, from its settings: the backend ``daemon.api`` names, opened as a pair."""

from __future__ import annotations

from functools import partial

from liveimpro.config.settings import DaemonSettings
from liveimpro.midi.ports import InputPort, OutputPort
from liveimpro.midi.rtmidi import RtMidiInput, RtMidiOutput


def open_ports(settings: DaemonSettings) -> tuple[InputPort, OutputPort, float]:
    """The input and output ports, and the ports' clock units per second."""
    if settings.api == "jack":
        from liveimpro.midi.jackmidi import JackInput, JackOutput

        open_input = partial(JackInput, client_name="liveimpro-in")
        open_output = partial(JackOutput, client_name="liveimpro-out")
    else:
        open_input = partial(RtMidiInput, api=settings.api)
        open_output = partial(RtMidiOutput, api=settings.api)
    midi_in = open_input(settings.input or None)
    try:
        midi_out = open_output(settings.output or None)
    except BaseException:
        midi_in.close()
        raise
    # JACK ports count frames; rtmidi ports count time.monotonic() seconds
    units_per_second = float(midi_out.samplerate) if settings.api == "jack" else 1.0
    return midi_in, midi_out, units_per_second
