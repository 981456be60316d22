"""MIDI's number ranges, written once for every layer that checks them."""

MIDI_CHANNELS = 16  # settings and users number them 1..16; on the wire they are 0..15
MAX_DATA_BYTE = 127  # the largest pitch, velocity, controller number or value, and program
