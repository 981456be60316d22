"""MIDI plumbing: ports and their backends (rtmidi, JACK, in memory), MIDI files, and
which MIDI system there is.
"""
