"""MIDI plumbing: ports and their backends (rtmidi, JACK, in memory), the bytes on the wire,
the daemon's ports opened from its settings, MIDI files, and which MIDI system there is.
"""
