"""A check on recorded MIDI shared by the scheduler, improviser and daemon tests."""

from __future__ import annotations

from collections.abc import Iterable

import mido


def stuck_notes(messages: Iterable[mido.Message]) -> set[tuple[int, int]]:
    """(channel, pitch) of the notes turned on and never off, in time-ordered messages."""
    sounding: set[tuple[int, int]] = set()
    for message in messages:
        if message.type not in ("note_on", "note_off"):
            continue
        key = (message.channel, message.note)
        if message.type == "note_on" and message.velocity > 0:
            sounding.add(key)
        else:
            sounding.discard(key)
    return sounding
